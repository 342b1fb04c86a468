-- name: activation_funnel
-- kind: metric
-- family: retention
-- summary: New users per (domain, signup month) and how many were first active within 1, 7, 14 and 30 days of signup.
-- columns: customer_domain STRING, signup_month DATE, new_users BIGINT, created_at_known BIGINT, activated_1d BIGINT, activated_7d BIGINT, activated_14d BIGINT, activated_30d BIGINT, never_activated BIGINT, activation_rate_1d DOUBLE, activation_rate_7d DOUBLE, activation_rate_14d DOUBLE, activation_rate_30d DOUBLE, median_days_to_first_action DOUBLE
WITH first_day AS (
    SELECT user_id, MIN(first_active_date) AS first_active_date
    FROM user_lifetime
    GROUP BY user_id
),
-- The domains with a user_day row on the user's first day are those whose
-- own first day it is.
first_domain AS (
    SELECT l.user_id, MIN(l.customer_domain) AS customer_domain
    FROM user_lifetime l
    JOIN first_day f ON f.user_id = l.user_id AND f.first_active_date = l.first_active_date
    GROUP BY l.user_id
),
signups AS (
    SELECT
        COALESCE(NULLIF(i.customer_domain, ''), d.customer_domain, '(unknown)') AS customer_domain,
        i.user_id,
        i.created_at IS NOT NULL AS created_at_known,
        to_local_date(i.signup_at, $timezone::VARCHAR) AS signup_date,
        f.first_active_date
    FROM identity i
    LEFT JOIN first_day f ON f.user_id = i.user_id
    LEFT JOIN first_domain d ON d.user_id = i.user_id
    WHERE to_local_date(i.signup_at, $timezone::VARCHAR) <= $as_of::DATE
),
measured AS (
    SELECT
        customer_domain,
        CAST(date_trunc('month', signup_date) AS DATE) AS signup_month,
        created_at_known,
        CASE
            WHEN first_active_date IS NULL THEN NULL
            WHEN first_active_date < signup_date THEN 0
            ELSE first_active_date - signup_date
        END AS days_to_first_action
    FROM signups
),
counted AS (
    SELECT
        customer_domain,
        signup_month,
        COUNT(*) AS new_users,
        SUM(CASE WHEN created_at_known THEN 1 ELSE 0 END) AS created_at_known,
        SUM(CASE WHEN days_to_first_action <= 1 THEN 1 ELSE 0 END) AS activated_1d,
        SUM(CASE WHEN days_to_first_action <= 7 THEN 1 ELSE 0 END) AS activated_7d,
        SUM(CASE WHEN days_to_first_action <= 14 THEN 1 ELSE 0 END) AS activated_14d,
        SUM(CASE WHEN days_to_first_action <= 30 THEN 1 ELSE 0 END) AS activated_30d,
        SUM(CASE WHEN days_to_first_action IS NULL THEN 1 ELSE 0 END) AS never_activated,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY CAST(days_to_first_action AS DOUBLE)) AS median_days_to_first_action
    FROM measured
    GROUP BY customer_domain, signup_month
)
SELECT
    customer_domain,
    signup_month,
    new_users,
    CAST(created_at_known AS BIGINT) AS created_at_known,
    CAST(activated_1d AS BIGINT) AS activated_1d,
    CAST(activated_7d AS BIGINT) AS activated_7d,
    CAST(activated_14d AS BIGINT) AS activated_14d,
    CAST(activated_30d AS BIGINT) AS activated_30d,
    CAST(never_activated AS BIGINT) AS never_activated,
    CAST(activated_1d AS DOUBLE) / CAST(new_users AS DOUBLE) AS activation_rate_1d,
    CAST(activated_7d AS DOUBLE) / CAST(new_users AS DOUBLE) AS activation_rate_7d,
    CAST(activated_14d AS DOUBLE) / CAST(new_users AS DOUBLE) AS activation_rate_14d,
    CAST(activated_30d AS DOUBLE) / CAST(new_users AS DOUBLE) AS activation_rate_30d,
    median_days_to_first_action
FROM counted
