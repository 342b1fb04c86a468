-- name: day_groups
-- kind: cached
-- scope: daily
-- summary: event_groups with every event's domain resolved (own domain, else the same-day fallback, else '(unknown)').
SELECT
    COALESCE(NULLIF(g.raw_domain, ''), f.domain, '(unknown)') AS customer_domain,
    g.user_id,
    g.local_date,
    g.feature_area,
    g.source,
    g.is_search,
    SUM(g.events) AS events,
    MIN(g.first_ts) AS first_ts,
    MAX(g.last_ts) AS last_ts
-- The fallback is the join's left (build) side: it has one row per
-- user-day, the right side one per event (group).
FROM domain_fallback f
RIGHT JOIN event_groups g
    ON f.user_id = g.user_id AND f.local_date = g.local_date
GROUP BY 1, 2, 3, 4, 5, 6
