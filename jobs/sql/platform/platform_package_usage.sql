-- name: platform_package_usage
-- kind: metric
-- family: platform
-- summary: Usage by package over the window: distinct users and events (an event's package: its `package` parameter, an `entity_id` parameter's package, its function's package, else Core).
-- columns: package STRING, users BIGINT, events BIGINT
SELECT package, COUNT(DISTINCT user_login) AS users, COUNT(*) AS events
FROM platform_window_events
WHERE in_window
GROUP BY package
ORDER BY events DESC, package
