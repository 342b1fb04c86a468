-- name: known_domains
-- kind: cached
-- summary: Domains with at least one activity event on or before as_of, with their first active local date.
SELECT customer_domain, MIN(first_active_date) AS first_active_date
FROM user_lifetime
GROUP BY customer_domain
