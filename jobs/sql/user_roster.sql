-- name: user_roster
-- kind: metric
-- family: active_users
-- summary: Every user with activity (per domain) or an identity, with first_activity, lifetime and window totals and a status.
-- columns: customer_domain STRING, user_id STRING, email STRING, username STRING, role STRING, license_type STRING, job_role STRING, created_at TIMESTAMP, first_identified_at TIMESTAMP, first_activity_at TIMESTAMP, last_activity_at TIMESTAMP, first_active_date DATE, last_active_date DATE, days_since_last_activity BIGINT, total_events BIGINT, active_days BIGINT, events_30d BIGINT, active_days_30d BIGINT, status STRING
WITH never_active AS (
    SELECT COALESCE(NULLIF(i.customer_domain, ''), '(unknown)') AS customer_domain, i.user_id
    FROM identity i
    WHERE i.user_id NOT IN (SELECT user_id FROM user_lifetime)
),
population AS (
    SELECT customer_domain, user_id FROM user_lifetime
    UNION ALL
    SELECT customer_domain, user_id FROM never_active
)
SELECT
    p.customer_domain,
    p.user_id,
    i.email,
    i.username,
    i.role,
    i.license_type,
    i.job_role,
    i.created_at,
    i.first_identified_at,
    l.first_activity_at,
    l.last_activity_at,
    l.first_active_date,
    l.last_active_date,
    CAST($as_of::DATE - l.last_active_date AS BIGINT) AS days_since_last_activity,
    CAST(l.total_events AS BIGINT) AS total_events,
    l.active_days,
    CAST(l.events_30d AS BIGINT) AS events_30d,
    CAST(l.active_days_30d AS BIGINT) AS active_days_30d,
    CASE
        WHEN l.user_id IS NULL THEN 'Never Active'
        WHEN $as_of::DATE - l.last_active_date < $window_days::BIGINT THEN 'Active'
        WHEN $as_of::DATE - l.last_active_date < $roster_churned_days::BIGINT THEN 'Inactive'
        ELSE 'Churned'
    END AS status
FROM population p
LEFT JOIN user_lifetime l ON l.customer_domain = p.customer_domain AND l.user_id = p.user_id
LEFT JOIN identity i ON i.user_id = p.user_id
