-- name: usage_rows
-- kind: cached
-- summary: What the window counts: executions with the weight left after the BI/warehouse double-count rule, and the definitions of each connector's latest snapshot in the window (weight 1).
WITH executions AS (
    SELECT
        id, "date", connector_id, resource_type, query_fingerprint, referenced_tables,
        referenced_columns, database, executed_by, executed_at, execution_count
    FROM bi_queries
    -- A day beyond each end: a run at 00:00:10 may match a log line of 23:59:50.
    WHERE "date" >= $scan_start::DATE AND "date" <= $scan_end::DATE
      AND resource_type IN ('dashboard_view', 'chart_view', 'query_log')
),
bi_runs AS (
    SELECT a.warehouse_user, e.connector_id, e.query_fingerprint, e.executed_at, e.execution_count
    FROM executions e
    JOIN bi_service_accounts a ON a.connector_id = e.connector_id
    WHERE e.query_fingerprint IS NOT NULL AND e.executed_at IS NOT NULL
),
-- A warehouse log row by a BI tool's service account with the fingerprint
-- of one of that tool's executions, close enough in time, is that execution.
matched AS (
    SELECT w.id, w."date", SUM(b.execution_count) AS bi_executions
    FROM executions w
    JOIN bi_runs b
      ON lower(w.executed_by) = lower(b.warehouse_user)
     AND w.query_fingerprint = b.query_fingerprint
    WHERE w.resource_type = 'query_log'
      AND w.connector_id <> b.connector_id
      AND abs(CAST(w.executed_at AS BIGINT) - CAST(b.executed_at AS BIGINT)) <= $dedup_us::BIGINT
    GROUP BY w.id, w."date"
),
counted AS (
    SELECT
        e.id, e."date", e.connector_id, e.resource_type, e.query_fingerprint, e.referenced_tables,
        e.referenced_columns, e.database, e.executed_by, e.executed_at,
        e.execution_count - COALESCE(m.bi_executions, 0) AS weight
    FROM executions e
    LEFT JOIN matched m ON m.id = e.id AND m."date" = e."date"
    WHERE e."date" >= $window_start::DATE AND e."date" <= $as_of::DATE
),
-- A connector's latest snapshot: its latest succeeded bi_sync in the
-- window (an empty snapshot is still the latest), else its latest day of
-- definitions (rows written without sync jobs).
snapshot_days AS (
    SELECT connector_id, "date" AS day
    FROM sync_jobs
    WHERE "date" >= $window_start::DATE AND "date" <= $as_of::DATE
      AND kind = 'bi_sync' AND status = 'succeeded'
    UNION ALL
    SELECT connector_id, "date" AS day
    FROM bi_queries
    WHERE "date" >= $window_start::DATE AND "date" <= $as_of::DATE
      AND resource_type IN ('saved_query', 'chart', 'dashboard_chart')
),
snapshots AS (
    SELECT connector_id, MAX(day) AS day FROM snapshot_days GROUP BY connector_id
),
definitions AS (
    SELECT
        q.id, q."date", q.connector_id, q.resource_type, q.query_fingerprint, q.referenced_tables,
        q.referenced_columns, q.database, q.executed_by, q.executed_at
    FROM bi_queries q
    JOIN snapshots s ON s.connector_id = q.connector_id AND s.day = q."date"
    WHERE q."date" >= $window_start::DATE AND q."date" <= $as_of::DATE
      AND q.resource_type IN ('saved_query', 'chart', 'dashboard_chart')
)
SELECT
    concat(id, '@', CAST("date" AS VARCHAR)) AS row_key, id, "date", 'execution' AS role,
    connector_id, query_fingerprint, referenced_tables, referenced_columns, database,
    executed_by, executed_at, weight
FROM counted
WHERE weight > 0
UNION ALL
SELECT
    concat(id, '@', CAST("date" AS VARCHAR)) AS row_key, id, "date", 'definition' AS role,
    connector_id, query_fingerprint, referenced_tables, referenced_columns, database,
    executed_by, executed_at, CAST(1 AS BIGINT) AS weight
FROM definitions
