-- name: day_n_retention
-- kind: metric
-- family: retention
-- summary: For the cohort of as_of - retention_days (first-time and recurring users), the share back on each day 0..N, by any activity, a page view or a search.
-- columns: customer_domain STRING, cohort_date DATE, retention_type STRING, return_signal STRING, day_n BIGINT, cohort_size BIGINT, retained_users BIGINT, retention_rate DOUBLE
WITH cohorts AS (
    SELECT customer_domain, user_id, 'first_time' AS retention_type
    FROM user_lifetime
    WHERE first_active_date = $cohort_date::DATE
    UNION ALL
    SELECT customer_domain, user_id, 'recurring' AS retention_type
    FROM user_day
    WHERE "date" = $cohort_date::DATE
),
sizes AS (
    SELECT customer_domain, retention_type, COUNT(*) AS cohort_size
    FROM cohorts
    GROUP BY customer_domain, retention_type
),
returns AS (
    SELECT
        c.customer_domain,
        c.retention_type,
        u."date" - $cohort_date::DATE AS day_n,
        COUNT(*) AS any_users,
        SUM(CASE WHEN u.pageviews > 0 THEN 1 ELSE 0 END) AS pageview_users,
        SUM(CASE WHEN u.searches > 0 THEN 1 ELSE 0 END) AS search_users
    FROM cohorts c
    JOIN (
        SELECT * FROM user_day WHERE "date" >= $cohort_date::DATE AND "date" <= $as_of::DATE
    ) u
        ON u.customer_domain = c.customer_domain
       AND u.user_id = c.user_id
    GROUP BY c.customer_domain, c.retention_type, u."date"
),
offsets AS (
    SELECT CAST(unnest(range(0, $retention_days::BIGINT + 1)) AS BIGINT) AS day_n
),
signals AS (
    SELECT * FROM (VALUES ('any'), ('pageview'), ('search')) AS s(return_signal)
),
cells AS (
    SELECT
        s.customer_domain,
        s.retention_type,
        g.return_signal,
        o.day_n,
        s.cohort_size,
        CAST(COALESCE(CASE g.return_signal
            WHEN 'any' THEN r.any_users
            WHEN 'pageview' THEN r.pageview_users
            ELSE r.search_users
        END, 0) AS BIGINT) AS retained_users
    FROM sizes s
    CROSS JOIN offsets o
    CROSS JOIN signals g
    LEFT JOIN returns r
        ON r.customer_domain = s.customer_domain
       AND r.retention_type = s.retention_type
       AND r.day_n = o.day_n
)
SELECT
    customer_domain,
    $cohort_date::DATE AS cohort_date,
    retention_type,
    return_signal,
    day_n,
    cohort_size,
    retained_users,
    CAST(retained_users AS DOUBLE) / CAST(cohort_size AS DOUBLE) AS retention_rate
FROM cells
