-- name: session_duration
-- kind: metric
-- family: engagement_depth
-- summary: Session length in seconds over the window's sessions (one-event sessions last 0 s): mean, median, p90, max.
-- columns: customer_domain STRING, sessions BIGINT, single_event_sessions BIGINT, session_users BIGINT, avg_duration_s DOUBLE, median_duration_s DOUBLE, p90_duration_s DOUBLE, max_duration_s DOUBLE
WITH stats AS (
    SELECT
        customer_domain,
        COUNT(*) AS sessions,
        SUM(CASE WHEN events = 1 THEN 1 ELSE 0 END) AS single_event_sessions,
        COUNT(DISTINCT user_id) AS session_users,
        SUM(duration_s) AS total_duration_s,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_s) AS median_duration_s,
        percentile_cont(0.9) WITHIN GROUP (ORDER BY duration_s) AS p90_duration_s,
        MAX(duration_s) AS max_duration_s
    FROM user_sessions
    WHERE "date" >= $window_start::DATE AND "date" <= $as_of::DATE
    GROUP BY customer_domain
)
SELECT
    k.customer_domain,
    COALESCE(s.sessions, 0) AS sessions,
    CAST(COALESCE(s.single_event_sessions, 0) AS BIGINT) AS single_event_sessions,
    COALESCE(s.session_users, 0) AS session_users,
    s.total_duration_s / CAST(s.sessions AS DOUBLE) AS avg_duration_s,
    s.median_duration_s,
    s.p90_duration_s,
    s.max_duration_s
FROM known_domains k
LEFT JOIN stats s ON s.customer_domain = k.customer_domain
