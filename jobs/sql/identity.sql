-- name: identity
-- kind: cached
-- summary: One identity per user_id as of the as-of date: columns from the latest snapshot(s), created_at the earliest known, signup_at = COALESCE(created_at, first identify).
WITH snapshots AS (
    SELECT *
    FROM users
    WHERE "date" <= $as_of::DATE + 1
      AND user_id <> ''
      AND received_at IS NOT NULL
      AND to_local_date(received_at, $timezone::VARCHAR) <= $as_of::DATE
),
per_user AS (
    SELECT
        user_id,
        MAX(received_at) AS latest_at,
        MIN(created_at) AS created_at,
        MIN(received_at) AS first_identified_at
    FROM snapshots
    GROUP BY user_id
)
SELECT
    s.user_id,
    MAX(s.email) AS email,
    MAX(s.username) AS username,
    MAX(s.role) AS role,
    MAX(s.license_type) AS license_type,
    MAX(s.job_role) AS job_role,
    MAX(s.customer_domain) AS customer_domain,
    p.created_at,
    p.first_identified_at,
    COALESCE(p.created_at, p.first_identified_at) AS signup_at
FROM snapshots s
JOIN per_user p
    ON p.user_id = s.user_id AND s.received_at = p.latest_at
GROUP BY s.user_id, p.created_at, p.first_identified_at
