-- name: usage_column_refs
-- kind: cached
-- summary: One row per counted row, product and column of the product's tables it references (as table.column, lower-case); bare columns name no table and are left out.
WITH columns AS (
    SELECT row_key, weight, connector_id, database, unnest(referenced_columns) AS col
    FROM usage_rows
),
resolved AS (
    SELECT
        row_key, weight, connector_id,
        usage_table(connector_id, database, regexp_replace(col, '[.][^.]*$', '')) AS table_name,
        regexp_replace(col, '^.*[.]', '') AS column_part
    FROM columns
    WHERE strpos(col, '.') > 0
)
SELECT DISTINCT row_key, weight, product_id, column_name
FROM (
    SELECT
        row_key, weight,
        lower(concat(regexp_replace(table_name, '^.*[.]', ''), '.', column_part)) AS column_name,
        unnest(usage_products(connector_id, table_name)) AS product_id
    FROM resolved
) c
