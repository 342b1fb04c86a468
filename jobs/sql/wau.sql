-- name: wau
-- kind: metric
-- family: active_users
-- summary: Weekly active users: distinct users active in the last wau_days local days (rolling).
-- columns: customer_domain STRING, wau BIGINT
SELECT k.customer_domain, COUNT(DISTINCT u.user_id) AS wau
FROM known_domains k
LEFT JOIN user_day u
    ON u.customer_domain = k.customer_domain
   AND u."date" > $as_of::DATE - $wau_days::BIGINT
   AND u."date" <= $as_of::DATE
GROUP BY k.customer_domain
