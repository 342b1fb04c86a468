-- name: platform_cards
-- kind: metric
-- family: platform
-- summary: Summary cards, the window against the W days before it: active_users, new_users (joined in the window), sessions, errors.
-- columns: metric STRING, current BIGINT, previous BIGINT
WITH activity AS (
    SELECT
        COUNT(DISTINCT CASE WHEN in_window THEN user_login END) AS users_now,
        COUNT(DISTINCT CASE WHEN NOT in_window THEN user_login END) AS users_before,
        COUNT(DISTINCT CASE WHEN in_window THEN session_id END) AS sessions_now,
        COUNT(DISTINCT CASE WHEN NOT in_window THEN session_id END) AS sessions_before
    FROM platform_window_events
),
errors AS (
    SELECT
        CAST(COALESCE(SUM(CASE WHEN in_window THEN 1 ELSE 0 END), 0) AS BIGINT) AS in_current,
        CAST(COALESCE(SUM(CASE WHEN in_window THEN 0 ELSE 1 END), 0) AS BIGINT) AS in_previous
    FROM platform_window_errors
),
joined AS (
    SELECT
        CAST(COALESCE(SUM(CASE WHEN CAST(u.joined AS DATE) BETWEEN $window_start::DATE AND $as_of::DATE THEN 1 ELSE 0 END), 0) AS BIGINT) AS in_current,
        CAST(COALESCE(SUM(CASE WHEN CAST(u.joined AS DATE) BETWEEN $prev_window_start::DATE AND $prev_window_end::DATE THEN 1 ELSE 0 END), 0) AS BIGINT) AS in_previous
    FROM platform_latest_users u
    LEFT JOIN platform_selected_users su ON su.login = u.login
    WHERE $all_groups::BOOLEAN OR su.login IS NOT NULL
)
SELECT 'active_users' AS metric, users_now AS "current", users_before AS previous FROM activity
UNION ALL
SELECT 'errors', in_current, in_previous FROM errors
UNION ALL
SELECT 'new_users', in_current, in_previous FROM joined
UNION ALL
SELECT 'sessions', sessions_now, sessions_before FROM activity
