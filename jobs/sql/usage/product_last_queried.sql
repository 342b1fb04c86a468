-- name: product_last_queried
-- kind: cached
-- summary: Per product of the space, the latest query any aggregate up to the as-of date saw.
SELECT product_id, MAX(last_queried_at) AS last_queried_at
FROM product_usage_stats
WHERE space_id = $space_id AND as_of <= $as_of::DATE
GROUP BY product_id
