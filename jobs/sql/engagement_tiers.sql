-- name: engagement_tiers
-- kind: metric
-- family: engagement_depth
-- summary: Users seen by the as-of date split into Power, Heavy, Light (by window events among active users) and Dormant.
-- columns: customer_domain STRING, tier STRING, user_count BIGINT, user_share DOUBLE, events BIGINT
WITH population AS (
    SELECT customer_domain, user_id, events_30d AS e
    FROM user_lifetime
),
ranked AS (
    SELECT
        customer_domain,
        user_id,
        e,
        PERCENT_RANK() OVER (PARTITION BY customer_domain ORDER BY e) AS pr
    FROM population
    WHERE e > 0
),
medians AS (
    SELECT customer_domain, percentile_cont(0.5) WITHIN GROUP (ORDER BY CAST(e AS DOUBLE)) AS m
    FROM population
    WHERE e > 0
    GROUP BY customer_domain
),
tiered AS (
    SELECT
        p.customer_domain,
        p.e,
        CASE
            WHEN p.e = 0 THEN 'Dormant'
            WHEN r.pr >= $tier_power_percent_rank::DOUBLE THEN 'Power'
            WHEN CAST(p.e AS DOUBLE) >= m.m THEN 'Heavy'
            ELSE 'Light'
        END AS tier
    FROM population p
    LEFT JOIN ranked r ON r.customer_domain = p.customer_domain AND r.user_id = p.user_id
    LEFT JOIN medians m ON m.customer_domain = p.customer_domain
),
sizes AS (
    SELECT customer_domain, COUNT(*) AS population FROM population GROUP BY customer_domain
),
counts AS (
    SELECT customer_domain, tier, COUNT(*) AS user_count, SUM(e) AS events
    FROM tiered
    GROUP BY customer_domain, tier
),
tiers AS (
    SELECT * FROM (VALUES ('Power', 1), ('Heavy', 2), ('Light', 3), ('Dormant', 4)) AS t(tier, tier_order)
)
SELECT
    k.customer_domain,
    t.tier,
    COALESCE(c.user_count, 0) AS user_count,
    CAST(COALESCE(c.user_count, 0) AS DOUBLE) / CAST(NULLIF(s.population, 0) AS DOUBLE) AS user_share,
    CAST(COALESCE(c.events, 0) AS BIGINT) AS events
FROM known_domains k
CROSS JOIN tiers t
LEFT JOIN counts c ON c.customer_domain = k.customer_domain AND c.tier = t.tier
LEFT JOIN sizes s ON s.customer_domain = k.customer_domain
