-- name: identity
-- kind: cached
-- summary: One identity per user_id as of the as-of date: columns from the latest snapshot(s), created_at the earliest known, signup_at = COALESCE(created_at, first identify).
-- One pass over the snapshots (a window per user, not a self-join): every
-- scan of `users` opens one file per day of history.
WITH snapshots AS (
    SELECT
        user_id,
        email,
        username,
        role,
        license_type,
        job_role,
        customer_domain,
        received_at,
        MAX(received_at) OVER (PARTITION BY user_id) AS latest_at,
        MIN(created_at) OVER (PARTITION BY user_id) AS created_at,
        MIN(received_at) OVER (PARTITION BY user_id) AS first_identified_at
    FROM users
    WHERE "date" <= $as_of::DATE + 1
      AND user_id <> ''
      AND received_at IS NOT NULL
      AND to_local_date(received_at, $timezone::VARCHAR) <= $as_of::DATE
)
SELECT
    user_id,
    MAX(email) AS email,
    MAX(username) AS username,
    MAX(role) AS role,
    MAX(license_type) AS license_type,
    MAX(job_role) AS job_role,
    MAX(customer_domain) AS customer_domain,
    created_at,
    first_identified_at,
    COALESCE(created_at, first_identified_at) AS signup_at
FROM snapshots
WHERE received_at = latest_at
GROUP BY user_id, created_at, first_identified_at
