-- name: table_stats
-- kind: cached
-- summary: The same counts per table, schema and database for everything the window references, with the products of the space each belongs to.
WITH named AS (
    SELECT
        row_key, weight, executed_by, executed_at,
        lower(table_name) AS table_name,
        length(table_name) - length(replace(table_name, '.', '')) AS dots,
        usage_products(connector_id, table_name) AS products
    FROM usage_refs
),
levels AS (
    SELECT 'table' AS level, table_name AS name, row_key, weight, executed_by, executed_at, products
    FROM named
    UNION ALL
    SELECT 'schema' AS level, regexp_replace(table_name, '[.][^.]*$', '') AS name,
        row_key, weight, executed_by, executed_at, products
    FROM named
    WHERE dots >= 1
    UNION ALL
    SELECT 'database' AS level, split_part(table_name, '.', 1) AS name,
        row_key, weight, executed_by, executed_at, products
    FROM named
    WHERE dots >= 2
),
rows_once AS (
    SELECT DISTINCT level, name, row_key, weight, executed_by, executed_at FROM levels
),
counts AS (
    SELECT
        level, name,
        CAST(SUM(weight) AS BIGINT) AS query_count_30d,
        COUNT(DISTINCT executed_by) AS unique_users_30d,
        MAX(executed_at) AS last_queried_at
    FROM rows_once
    GROUP BY level, name
),
owners AS (
    SELECT level, name, array_sort(array_agg(DISTINCT product_id)) AS product_ids
    FROM (SELECT level, name, unnest(products) AS product_id FROM levels) o
    GROUP BY level, name
)
SELECT
    c.level, c.name, c.query_count_30d, c.unique_users_30d, c.last_queried_at, o.product_ids,
    to_timestamp_micros($updated_at_us::BIGINT) AS updated_at
FROM counts c
LEFT JOIN owners o ON o.level = c.level AND o.name = c.name
