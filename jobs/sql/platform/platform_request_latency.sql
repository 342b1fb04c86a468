-- name: platform_request_latency
-- kind: metric
-- family: platform
-- summary: HTTP requests (http-request events) over the window per route: requests, errors (status ≥ 400) and exact latency percentiles from the `ms` parameter.
-- columns: route STRING, requests BIGINT, errors BIGINT, p50_ms DOUBLE, p95_ms DOUBLE, p99_ms DOUBLE
WITH requests AS (
    SELECT
        json_text(parameters, 'route') AS route,
        TRY_CAST(json_text(parameters, 'status') AS BIGINT) AS status,
        duration_ms
    FROM platform_window_events
    WHERE in_window AND event_type = 'http-request'
)
SELECT
    route,
    COUNT(*) AS requests,
    CAST(SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END) AS BIGINT) AS errors,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms) AS p50_ms,
    percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) AS p95_ms,
    percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_ms) AS p99_ms
FROM requests
GROUP BY route
ORDER BY requests DESC, route
