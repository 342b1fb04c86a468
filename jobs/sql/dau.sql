-- name: dau
-- kind: metric
-- family: active_users
-- summary: Daily active users: users with activity on the as-of date, per known domain.
-- columns: customer_domain STRING, dau BIGINT
SELECT k.customer_domain, COUNT(u.user_id) AS dau
FROM known_domains k
LEFT JOIN user_day u
    ON u.customer_domain = k.customer_domain AND u."date" = $as_of::DATE
GROUP BY k.customer_domain
