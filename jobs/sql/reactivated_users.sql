-- name: reactivated_users
-- kind: metric
-- family: retention
-- summary: Users who came back in the window after at least reactivation_gap_days whole idle days (the latest return per user).
-- columns: customer_domain STRING, user_id STRING, reactivation_date DATE, previous_active_date DATE, inactive_days BIGINT, events_on_reactivation_day BIGINT, email STRING, username STRING, role STRING
-- Only the window's user_day rows are read: a row's previous active date
-- is the window row before it, or for the first one the user's last
-- active date before the window.
WITH days AS (
    SELECT
        u.customer_domain,
        u.user_id,
        u."date",
        u.events,
        COALESCE(
            LAG(u."date") OVER (PARTITION BY u.customer_domain, u.user_id ORDER BY u."date"),
            l.last_active_before_window
        ) AS previous_active_date
    FROM user_day u
    JOIN user_lifetime l ON l.customer_domain = u.customer_domain AND l.user_id = u.user_id
    WHERE u."date" >= $window_start::DATE
      AND u."date" <= $as_of::DATE
),
returns AS (
    SELECT
        *,
        "date" - previous_active_date - 1 AS inactive_days,
        ROW_NUMBER() OVER (PARTITION BY customer_domain, user_id ORDER BY "date" DESC) AS latest
    FROM days
    WHERE "date" >= $window_start::DATE
      AND "date" <= $as_of::DATE
      AND previous_active_date IS NOT NULL
      AND "date" - previous_active_date - 1 >= $reactivation_gap_days::BIGINT
)
SELECT
    r.customer_domain,
    r.user_id,
    r."date" AS reactivation_date,
    r.previous_active_date,
    CAST(r.inactive_days AS BIGINT) AS inactive_days,
    r.events AS events_on_reactivation_day,
    i.email,
    i.username,
    i.role
FROM returns r
LEFT JOIN identity i ON i.user_id = r.user_id
WHERE r.latest = 1
