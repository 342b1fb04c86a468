-- name: user_day_feature
-- kind: intermediate
-- scope: daily
-- family: intermediate
-- summary: One row per (domain, user, feature area) with mapped events on a local date.
-- columns: customer_domain STRING, user_id STRING, feature_area STRING, events BIGINT
SELECT
    local_date AS "date",
    customer_domain,
    user_id,
    feature_area,
    CAST(SUM(events) AS BIGINT) AS events
FROM day_groups
WHERE feature_area IS NOT NULL
GROUP BY local_date, customer_domain, user_id, feature_area
