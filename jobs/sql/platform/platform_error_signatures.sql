-- name: platform_error_signatures
-- kind: metric
-- family: platform
-- summary: Errors over the window grouped by signature (the event type's stack-trace hash): the latest message, errors, distinct users, first and last time seen in the window.
-- columns: signature STRING, message STRING, errors BIGINT, users BIGINT, first_seen TIMESTAMP, last_seen TIMESTAMP
SELECT
    signature,
    first_value(error_message ORDER BY event_time DESC, event_id DESC) AS message,
    COUNT(*) AS errors,
    COUNT(DISTINCT user_login) AS users,
    MIN(event_time) AS first_seen,
    MAX(event_time) AS last_seen
FROM platform_window_errors
WHERE in_window
GROUP BY signature
ORDER BY errors DESC, signature
