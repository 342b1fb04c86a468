-- name: churned_users
-- kind: metric
-- family: retention
-- summary: Users active in the previous window but not in the current one.
-- columns: customer_domain STRING, user_id STRING, last_active_date DATE, days_since_last_activity BIGINT, events_prev_window BIGINT, active_days_prev_window BIGINT, email STRING, username STRING, role STRING, job_role STRING
SELECT
    l.customer_domain,
    l.user_id,
    l.last_active_date,
    CAST($as_of::DATE - l.last_active_date AS BIGINT) AS days_since_last_activity,
    CAST(l.events_prev_window AS BIGINT) AS events_prev_window,
    CAST(l.active_days_prev_window AS BIGINT) AS active_days_prev_window,
    i.email,
    i.username,
    i.role,
    i.job_role
FROM user_lifetime l
LEFT JOIN identity i ON i.user_id = l.user_id
WHERE l.last_active_date >= $prev_window_start::DATE
  AND l.last_active_date <= $prev_window_end::DATE
