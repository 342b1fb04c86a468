-- name: platform_selected_users
-- kind: cached
-- family: platform
-- summary: Users the group filter keeps: members of a named group, directly or through a group nested in it (used only when `groups` is set).
SELECT DISTINCT u.login
FROM (SELECT login, unnest(groups) AS group_name FROM platform_latest_users) u
JOIN platform_filter_groups g ON g.name = u.group_name
