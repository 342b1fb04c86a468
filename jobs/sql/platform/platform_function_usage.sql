-- name: platform_function_usage
-- kind: metric
-- family: platform
-- summary: Function calls (event source function or function-package) over the window per function and package: calls, distinct users, and exact percentiles of the duration (finish − start) in ms.
-- columns: function STRING, package STRING, calls BIGINT, users BIGINT, p50_ms DOUBLE, p95_ms DOUBLE, max_ms DOUBLE
SELECT
    event_type AS "function",
    package,
    COUNT(*) AS calls,
    COUNT(DISTINCT user_login) AS users,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms) AS p50_ms,
    percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) AS p95_ms,
    MAX(duration_ms) AS max_ms
FROM platform_window_events
WHERE in_window AND source IN ('function', 'function-package')
GROUP BY event_type, package
ORDER BY calls DESC, "function", package
