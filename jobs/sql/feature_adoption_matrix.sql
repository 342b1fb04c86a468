-- name: feature_adoption_matrix
-- kind: metric
-- family: feature_adoption
-- summary: Every user active in the window x every feature area: used, events, active days.
-- columns: customer_domain STRING, user_id STRING, feature_area STRING, used BOOLEAN, events BIGINT, active_days BIGINT
WITH window_users AS (
    SELECT DISTINCT customer_domain, user_id
    FROM user_day
    WHERE "date" >= $window_start::DATE AND "date" <= $as_of::DATE
),
usage AS (
    SELECT customer_domain, user_id, feature_area, SUM(events) AS events, COUNT(*) AS active_days
    FROM user_day_feature
    WHERE "date" >= $window_start::DATE AND "date" <= $as_of::DATE
    GROUP BY customer_domain, user_id, feature_area
)
SELECT
    w.customer_domain,
    w.user_id,
    a.area AS feature_area,
    COALESCE(u.events, 0) > 0 AS used,
    CAST(COALESCE(u.events, 0) AS BIGINT) AS events,
    COALESCE(u.active_days, 0) AS active_days
FROM window_users w
CROSS JOIN feature_areas a
LEFT JOIN usage u
    ON u.customer_domain = w.customer_domain AND u.user_id = w.user_id AND u.feature_area = a.area
