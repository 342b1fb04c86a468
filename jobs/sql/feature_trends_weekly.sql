-- name: feature_trends_weekly
-- kind: metric
-- family: feature_adoption
-- summary: Per domain and area: users and events in the last 7 local days against the 7 before, and the change in users.
-- columns: customer_domain STRING, feature_area STRING, users_7d BIGINT, events_7d BIGINT, users_prev_7d BIGINT, events_prev_7d BIGINT, users_change_rate DOUBLE
WITH weeks AS (
    SELECT
        customer_domain,
        feature_area,
        COUNT(DISTINCT CASE WHEN "date" > $as_of::DATE - 7 THEN user_id END) AS users_7d,
        SUM(CASE WHEN "date" > $as_of::DATE - 7 THEN events ELSE 0 END) AS events_7d,
        COUNT(DISTINCT CASE WHEN "date" <= $as_of::DATE - 7 THEN user_id END) AS users_prev_7d,
        SUM(CASE WHEN "date" <= $as_of::DATE - 7 THEN events ELSE 0 END) AS events_prev_7d
    FROM user_day_feature
    WHERE "date" > $as_of::DATE - 14 AND "date" <= $as_of::DATE
    GROUP BY customer_domain, feature_area
),
grid AS (
    SELECT
        k.customer_domain,
        a.area AS feature_area,
        COALESCE(w.users_7d, 0) AS users_7d,
        CAST(COALESCE(w.events_7d, 0) AS BIGINT) AS events_7d,
        COALESCE(w.users_prev_7d, 0) AS users_prev_7d,
        CAST(COALESCE(w.events_prev_7d, 0) AS BIGINT) AS events_prev_7d
    FROM known_domains k
    CROSS JOIN feature_areas a
    LEFT JOIN weeks w ON w.customer_domain = k.customer_domain AND w.feature_area = a.area
)
SELECT
    *,
    CAST(users_7d - users_prev_7d AS DOUBLE) / CAST(NULLIF(users_prev_7d, 0) AS DOUBLE) AS users_change_rate
FROM grid
