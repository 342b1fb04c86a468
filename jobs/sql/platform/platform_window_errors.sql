-- name: platform_window_errors
-- kind: view
-- family: platform
-- summary: Errors of the window and of the window before it that pass the group and package filters; `in_window` tells which.
SELECT
    e."date" AS day,
    e."date" >= $window_start::DATE AS in_window,
    e.event_id,
    e.user_login,
    e.session_id,
    e.package,
    e.error_message,
    e.signature,
    e.event_time,
    e.preceding_event_type
FROM platform_errors e
LEFT JOIN platform_selected_users su ON su.login = e.user_login
LEFT JOIN platform_filter_packages fp ON fp.name = e.package
WHERE e."date" >= $prev_window_start::DATE AND e."date" <= $as_of::DATE
    AND ($all_groups::BOOLEAN OR su.login IS NOT NULL)
    AND ($all_packages::BOOLEAN OR fp.name IS NOT NULL)
