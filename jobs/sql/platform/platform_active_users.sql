-- name: platform_active_users
-- kind: metric
-- family: platform
-- summary: Unique users over time: distinct users with any event on each UTC day of the window (a day without events has 0).
-- columns: day DATE, users BIGINT
SELECT d.day, COUNT(DISTINCT e.user_login) AS users
FROM platform_window_days d
LEFT JOIN platform_window_events e ON e.day = d.day
GROUP BY d.day
ORDER BY d.day
