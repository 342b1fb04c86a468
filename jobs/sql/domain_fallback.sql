-- name: domain_fallback
-- kind: cached
-- scope: daily
-- summary: Per (user, local date), the smallest non-empty customer_domain among that day's activity: the domain of the user's events that carry none.
SELECT user_id, local_date, MIN(raw_domain) AS domain
FROM event_groups
WHERE raw_domain <> ''
GROUP BY user_id, local_date
