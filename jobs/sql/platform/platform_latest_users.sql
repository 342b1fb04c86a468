-- name: platform_latest_users
-- kind: cached
-- family: platform
-- summary: The latest platform_users snapshot: every user with when it joined and every group it is in.
SELECT login, joined, groups
FROM platform_users
WHERE "date" = (SELECT MAX("date") FROM platform_users)
