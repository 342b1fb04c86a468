-- name: platform_event_sources
-- kind: metric
-- family: platform
-- summary: Events per UTC day of the window and event source (audit, usage, error, info, debug, warning, function, function-package).
-- columns: day DATE, source STRING, events BIGINT
SELECT day, source, COUNT(*) AS events
FROM platform_window_events
WHERE in_window
GROUP BY day, source
ORDER BY day, source
