-- name: engagement_quadrant
-- kind: metric
-- family: feature_adoption
-- summary: Per domain and area: reach (users / MAU) and depth (events per user) against the domain's medians: Core, Broad, Niche, Gap or Unused.
-- columns: customer_domain STRING, feature_area STRING, unique_users BIGINT, total_events BIGINT, avg_events_per_user DOUBLE, median_events_per_user DOUBLE, reach_rate DOUBLE, quadrant STRING
WITH per_user AS (
    SELECT customer_domain, user_id, feature_area, SUM(events) AS events
    FROM user_day_feature
    WHERE "date" >= $window_start::DATE AND "date" <= $as_of::DATE
    GROUP BY customer_domain, user_id, feature_area
),
area_stats AS (
    SELECT
        customer_domain,
        feature_area,
        COUNT(*) AS unique_users,
        SUM(events) AS total_events,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY CAST(events AS DOUBLE)) AS median_events_per_user
    FROM per_user
    GROUP BY customer_domain, feature_area
),
mau AS (
    SELECT customer_domain, COUNT(DISTINCT user_id) AS mau
    FROM user_day
    WHERE "date" >= $window_start::DATE AND "date" <= $as_of::DATE
    GROUP BY customer_domain
),
grid AS (
    SELECT
        k.customer_domain,
        a.area AS feature_area,
        COALESCE(s.unique_users, 0) AS unique_users,
        CAST(COALESCE(s.total_events, 0) AS BIGINT) AS total_events,
        CAST(s.total_events AS DOUBLE) / CAST(NULLIF(s.unique_users, 0) AS DOUBLE) AS avg_events_per_user,
        s.median_events_per_user,
        CAST(COALESCE(s.unique_users, 0) AS DOUBLE) / CAST(NULLIF(m.mau, 0) AS DOUBLE) AS reach_rate
    FROM known_domains k
    CROSS JOIN feature_areas a
    LEFT JOIN area_stats s ON s.customer_domain = k.customer_domain AND s.feature_area = a.area
    LEFT JOIN mau m ON m.customer_domain = k.customer_domain
),
medians AS (
    SELECT
        customer_domain,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY CAST(unique_users AS DOUBLE)) AS median_reach,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY avg_events_per_user) AS median_depth
    FROM grid
    WHERE unique_users > 0
    GROUP BY customer_domain
)
SELECT
    g.customer_domain,
    g.feature_area,
    g.unique_users,
    g.total_events,
    g.avg_events_per_user,
    g.median_events_per_user,
    g.reach_rate,
    CASE
        WHEN g.unique_users = 0 THEN 'Unused'
        WHEN g.unique_users >= m.median_reach AND g.avg_events_per_user >= m.median_depth THEN 'Core'
        WHEN g.unique_users >= m.median_reach THEN 'Broad'
        WHEN g.avg_events_per_user >= m.median_depth THEN 'Niche'
        ELSE 'Gap'
    END AS quadrant
FROM grid g
LEFT JOIN medians m ON m.customer_domain = g.customer_domain
