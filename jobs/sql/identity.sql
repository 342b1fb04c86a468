-- name: identity
-- kind: cached
-- summary: One identity per user_id as of the as-of date: columns from the latest snapshot(s), created_at the earliest known, signup_at = COALESCE(created_at, first identify).
-- A fold: identity_base is the snapshot an earlier run kept (as of a day
-- before, or empty) and $identity_from the first users partition it has
-- not folded (see src/metrics/identity.rs). Folding a snapshot twice
-- changes nothing. One pass (a window per user, not a self-join).
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
        created_at,
        received_at AS identified_at
    FROM users
    WHERE "date" >= $identity_from::DATE
      AND "date" <= $as_of::DATE + 1
      AND user_id <> ''
      AND received_at IS NOT NULL
      AND to_local_date(received_at, $timezone::VARCHAR) <= $as_of::DATE
    UNION ALL
    SELECT
        user_id,
        email,
        username,
        role,
        license_type,
        job_role,
        customer_domain,
        latest_at,
        created_at,
        first_identified_at
    FROM identity_base
),
folded AS (
    SELECT
        *,
        MAX(received_at) OVER (PARTITION BY user_id) AS latest_at,
        MIN(created_at) OVER (PARTITION BY user_id) AS earliest_created_at,
        MIN(identified_at) OVER (PARTITION BY user_id) AS first_identified_at
    FROM snapshots
)
SELECT
    user_id,
    MAX(email) AS email,
    MAX(username) AS username,
    MAX(role) AS role,
    MAX(license_type) AS license_type,
    MAX(job_role) AS job_role,
    MAX(customer_domain) AS customer_domain,
    earliest_created_at AS created_at,
    first_identified_at,
    COALESCE(earliest_created_at, first_identified_at) AS signup_at,
    latest_at
FROM folded
WHERE received_at = latest_at
GROUP BY user_id, earliest_created_at, first_identified_at, latest_at
