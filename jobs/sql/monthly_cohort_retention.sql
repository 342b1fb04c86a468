-- name: monthly_cohort_retention
-- kind: metric
-- family: retention
-- summary: Users by month of first activity in the domain, and the share active in each later month up to the as-of month (full triangle).
-- columns: customer_domain STRING, cohort_month DATE, months_since BIGINT, activity_month DATE, cohort_size BIGINT, active_users BIGINT, retention_rate DOUBLE, month_complete BOOLEAN
WITH firsts AS (
    SELECT
        customer_domain,
        user_id,
        CAST(date_part('year', first_active_date) AS BIGINT) * 12 + CAST(date_part('month', first_active_date) AS BIGINT) - 1 AS cohort_index
    FROM user_lifetime
),
sizes AS (
    SELECT customer_domain, cohort_index, COUNT(*) AS cohort_size
    FROM firsts
    GROUP BY customer_domain, cohort_index
),
as_of_month AS (
    SELECT
        CAST(date_part('year', $as_of::DATE) AS BIGINT) * 12 + CAST(date_part('month', $as_of::DATE) AS BIGINT) - 1 AS as_of_index,
        CAST(date_part('year', $as_of::DATE + 1) AS BIGINT) * 12 + CAST(date_part('month', $as_of::DATE + 1) AS BIGINT) - 1 AS next_day_index
),
-- user_month has one row per (domain, user, month), so COUNT(*) counts
-- distinct users.
activity_months AS (
    SELECT
        f.customer_domain,
        f.cohort_index,
        m.month_index,
        COUNT(*) AS active_users
    FROM firsts f
    JOIN user_month m ON m.customer_domain = f.customer_domain AND m.user_id = f.user_id
    GROUP BY 1, 2, 3
),
cells AS (
    SELECT
        s.customer_domain,
        s.cohort_index,
        s.cohort_size,
        CAST(unnest(range(0, a.as_of_index - s.cohort_index + 1)) AS BIGINT) AS months_since,
        a.next_day_index
    FROM sizes s
    CROSS JOIN as_of_month a
)
SELECT
    c.customer_domain,
    make_date(CAST(c.cohort_index / 12 AS INT), CAST(c.cohort_index % 12 + 1 AS INT), 1) AS cohort_month,
    c.months_since,
    make_date(
        CAST((c.cohort_index + c.months_since) / 12 AS INT),
        CAST((c.cohort_index + c.months_since) % 12 + 1 AS INT),
        1
    ) AS activity_month,
    c.cohort_size,
    COALESCE(m.active_users, 0) AS active_users,
    CAST(COALESCE(m.active_users, 0) AS DOUBLE) / CAST(c.cohort_size AS DOUBLE) AS retention_rate,
    c.next_day_index > c.cohort_index + c.months_since AS month_complete
FROM cells c
LEFT JOIN activity_months m
    ON m.customer_domain = c.customer_domain
   AND m.cohort_index = c.cohort_index
   AND m.month_index = c.cohort_index + c.months_since
