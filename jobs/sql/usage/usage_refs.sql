-- name: usage_refs
-- kind: cached
-- summary: One row per counted row and full table name it reads: a table read twice by one statement counts once.
SELECT DISTINCT
    row_key, role, weight, executed_by, executed_at, connector_id,
    usage_table(connector_id, database, raw_table) AS table_name
FROM (
    SELECT
        row_key, role, weight, executed_by, executed_at, connector_id, database,
        unnest(referenced_tables) AS raw_table
    FROM usage_rows
) r
