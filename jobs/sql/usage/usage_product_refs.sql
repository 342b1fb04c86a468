-- name: usage_product_refs
-- kind: cached
-- summary: One row per counted row and product of the space it reads: a statement reading two tables of a product counts once for it.
SELECT DISTINCT row_key, role, weight, executed_by, executed_at, product_id
FROM (
    SELECT
        row_key, role, weight, executed_by, executed_at,
        unnest(usage_products(connector_id, table_name)) AS product_id
    FROM usage_refs
) p
