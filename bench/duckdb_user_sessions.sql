-- name: user_sessions
-- kind: intermediate
-- DuckDB form of jobs/sql/user_sessions.sql for bench/metrics.py: the
-- `sessionize` aggregate (a usagelake SQL function) written with window
-- functions; same rule: a gap strictly longer than the session gap, or
-- local midnight, starts a new session.
WITH events AS (
    SELECT customer_domain, user_id, local_date, ts, CAST(ts AS BIGINT) AS ts_us, source
    FROM activity_resolved
),
marked AS (
    SELECT
        *,
        CASE
            WHEN ts_us - LAG(ts_us) OVER (PARTITION BY customer_domain, user_id, local_date ORDER BY ts_us)
                 <= $session_gap_us::BIGINT THEN 0
            ELSE 1
        END AS opens
    FROM events
),
numbered AS (
    SELECT
        *,
        SUM(opens) OVER (
            PARTITION BY customer_domain, user_id, local_date ORDER BY ts_us
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS session_index
    FROM marked
)
SELECT
    local_date AS "date",
    customer_domain,
    user_id,
    CAST(session_index AS BIGINT) AS session_index,
    MIN(ts) AS session_start,
    MAX(ts) AS session_end,
    COUNT(*) AS events,
    SUM(CASE WHEN source = 'page' THEN 1 ELSE 0 END) AS pageviews,
    SUM(CASE WHEN source = 'track' THEN 1 ELSE 0 END) AS actions,
    CAST(MAX(ts_us) - MIN(ts_us) AS DOUBLE) / 1000000.0 AS duration_s
FROM numbered
GROUP BY local_date, customer_domain, user_id, session_index
