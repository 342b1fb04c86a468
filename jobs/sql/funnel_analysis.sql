-- name: funnel_analysis
-- kind: metric
-- family: retention
-- summary: Ordered funnel over funnel_steps: users entering in the entry window and reaching each step within funnel_conversion_days, with conversion and time between steps.
-- columns: customer_domain STRING, step_index BIGINT, step_name STRING, users BIGINT, conversion_rate_from_first DOUBLE, conversion_rate_from_prev DOUBLE, median_seconds_from_prev DOUBLE
WITH step_events AS (
    SELECT
        a.customer_domain,
        a.user_id,
        s.step_index,
        CAST(a.ts AS BIGINT) AS ts_us,
        s.step_index = 1
            AND a.local_date >= $funnel_entry_start::DATE
            AND a.local_date <= $funnel_entry_end::DATE AS is_entry
    FROM activity a
    JOIN funnel_step_events s ON s.source = a.source AND s.name = a.name
),
journeys AS (
    SELECT customer_domain, user_id, funnel_times(step_index, ts_us, is_entry) AS times
    FROM step_events
    GROUP BY customer_domain, user_id
),
reached AS (
    SELECT
        j.customer_domain,
        s.step_index,
        CASE WHEN s.step_index > 1
             THEN CAST(j.times[s.step_index] - j.times[s.step_index - 1] AS DOUBLE) / 1000000.0
        END AS seconds_from_prev
    FROM journeys j
    JOIN funnel_steps s ON s.step_index <= cardinality(j.times)
),
per_step AS (
    SELECT
        customer_domain,
        step_index,
        COUNT(*) AS users,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds_from_prev) AS median_seconds_from_prev
    FROM reached
    GROUP BY customer_domain, step_index
),
grid AS (
    SELECT
        k.customer_domain,
        s.step_index,
        s.step_name,
        COALESCE(p.users, 0) AS users,
        p.median_seconds_from_prev
    FROM known_domains k
    CROSS JOIN funnel_steps s
    LEFT JOIN per_step p ON p.customer_domain = k.customer_domain AND p.step_index = s.step_index
),
-- One reference to grid: a CTE used twice is computed twice.
neighbours AS (
    SELECT
        *,
        FIRST_VALUE(users) OVER (PARTITION BY customer_domain ORDER BY step_index) AS first_users,
        LAG(users) OVER (PARTITION BY customer_domain ORDER BY step_index) AS prev_users
    FROM grid
)
SELECT
    customer_domain,
    step_index,
    step_name,
    users,
    CAST(users AS DOUBLE) / CAST(NULLIF(first_users, 0) AS DOUBLE) AS conversion_rate_from_first,
    CAST(users AS DOUBLE) / CAST(NULLIF(COALESCE(prev_users, users), 0) AS DOUBLE) AS conversion_rate_from_prev,
    median_seconds_from_prev
FROM neighbours
