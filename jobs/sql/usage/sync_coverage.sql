-- name: sync_coverage
-- kind: cached
-- summary: Per connector and logical date up to the as-of date, whether an attempt succeeded (for unused-product coverage).
SELECT
    connector_id, "date",
    MAX(CASE WHEN status = 'succeeded' THEN 1 ELSE 0 END) AS succeeded
FROM sync_jobs
WHERE "date" <= $as_of::DATE
GROUP BY connector_id, "date"
