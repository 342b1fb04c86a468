-- name: actions_per_session
-- kind: metric
-- family: engagement_depth
-- summary: Events per session over the window's sessions: mean, median, p90.
-- columns: customer_domain STRING, sessions BIGINT, avg_events_per_session DOUBLE, median_events_per_session DOUBLE, p90_events_per_session DOUBLE
WITH stats AS (
    SELECT
        customer_domain,
        COUNT(*) AS sessions,
        SUM(events) AS events,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY CAST(events AS DOUBLE)) AS median_events_per_session,
        percentile_cont(0.9) WITHIN GROUP (ORDER BY CAST(events AS DOUBLE)) AS p90_events_per_session
    FROM user_sessions
    WHERE "date" >= $window_start::DATE AND "date" <= $as_of::DATE
    GROUP BY customer_domain
)
SELECT
    k.customer_domain,
    COALESCE(s.sessions, 0) AS sessions,
    CAST(s.events AS DOUBLE) / CAST(s.sessions AS DOUBLE) AS avg_events_per_session,
    s.median_events_per_session,
    s.p90_events_per_session
FROM known_domains k
LEFT JOIN stats s ON s.customer_domain = k.customer_domain
