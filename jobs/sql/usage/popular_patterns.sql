-- name: popular_patterns
-- kind: cached
-- summary: Per product, the most run query fingerprints in the window: executions, distinct users, last run and the latest run's anonymized text.
WITH runs AS (
    SELECT DISTINCT p.product_id, r.row_key, r.id, r."date", r.weight, r.executed_by, r.executed_at, r.query_fingerprint
    FROM usage_product_refs p
    JOIN usage_rows r ON r.row_key = p.row_key
    WHERE p.role = 'execution' AND r.query_fingerprint IS NOT NULL
),
patterns AS (
    SELECT
        product_id, query_fingerprint,
        CAST(SUM(weight) AS BIGINT) AS executions,
        COUNT(DISTINCT executed_by) AS users,
        MAX(executed_at) AS last_run_at,
        first_value(id ORDER BY executed_at DESC NULLS LAST, row_key ASC) AS example_id,
        first_value("date" ORDER BY executed_at DESC NULLS LAST, row_key ASC) AS example_date
    FROM runs
    GROUP BY product_id, query_fingerprint
),
ranked AS (
    SELECT
        *,
        ROW_NUMBER() OVER (
            PARTITION BY product_id
            ORDER BY executions DESC, last_run_at DESC NULLS LAST, query_fingerprint ASC
        ) AS pattern_rank
    FROM patterns
)
SELECT
    r.product_id, CAST(r.pattern_rank AS BIGINT) AS rank, r.query_fingerprint, r.executions, r.users,
    r.last_run_at, q.sql_text AS example_sql
FROM ranked r
LEFT JOIN bi_queries q
  ON q.id = r.example_id AND q."date" = r.example_date
 AND q."date" >= $window_start::DATE AND q."date" <= $as_of::DATE
WHERE r.pattern_rank <= $top_patterns::BIGINT
ORDER BY r.product_id, r.pattern_rank
