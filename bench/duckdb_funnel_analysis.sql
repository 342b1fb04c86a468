-- name: funnel_analysis
-- kind: metric
-- DuckDB form of jobs/sql/funnel_analysis.sql for bench/metrics.py: the
-- `funnel_times` aggregate (a usagelake SQL function) unrolled for the
-- default three steps, same greedy rule: each step the earliest event
-- strictly after the previous one and within the conversion window of t1.
WITH step_events AS (
    SELECT a.customer_domain, a.user_id, s.step_index, epoch_us(a.ts) AS ts_us, a.local_date
    FROM activity a
    JOIN funnel_step_events s ON s.source = a.source AND s.name = a.name
),
t1 AS (
    SELECT customer_domain, user_id, MIN(ts_us) AS t1
    FROM step_events
    WHERE step_index = 1
      AND local_date >= $funnel_entry_start::DATE
      AND local_date <= $funnel_entry_end::DATE
    GROUP BY customer_domain, user_id
),
t2 AS (
    SELECT t.customer_domain, t.user_id, t.t1, MIN(e.ts_us) AS t2
    FROM t1 t
    JOIN step_events e
        ON e.customer_domain = t.customer_domain AND e.user_id = t.user_id AND e.step_index = 2
       AND e.ts_us > t.t1 AND e.ts_us - t.t1 <= $funnel_conversion_us::BIGINT
    GROUP BY t.customer_domain, t.user_id, t.t1
),
t3 AS (
    SELECT t.customer_domain, t.user_id, t.t2, MIN(e.ts_us) AS t3
    FROM t2 t
    JOIN step_events e
        ON e.customer_domain = t.customer_domain AND e.user_id = t.user_id AND e.step_index = 3
       AND e.ts_us > t.t2 AND e.ts_us - t.t1 <= $funnel_conversion_us::BIGINT
    GROUP BY t.customer_domain, t.user_id, t.t2
),
reached AS (
    SELECT customer_domain, 1 AS step_index, CAST(NULL AS DOUBLE) AS seconds_from_prev FROM t1
    UNION ALL
    SELECT customer_domain, 2, CAST(t2 - t1 AS DOUBLE) / 1000000.0 FROM t2
    UNION ALL
    SELECT customer_domain, 3, CAST(t3 - t2 AS DOUBLE) / 1000000.0 FROM t3
)
