-- name: stickiness
-- kind: metric
-- family: active_users
-- summary: Stickiness: user-days in the window over (days the domain existed in the window x MAU), with a band.
-- columns: customer_domain STRING, mau BIGINT, user_days BIGINT, days_in_window BIGINT, avg_dau DOUBLE, stickiness DOUBLE, band STRING
WITH window_days AS (
    SELECT customer_domain, COUNT(*) AS user_days, COUNT(DISTINCT user_id) AS mau
    FROM user_day
    WHERE "date" >= $window_start::DATE AND "date" <= $as_of::DATE
    GROUP BY customer_domain
),
figures AS (
    SELECT
        k.customer_domain,
        COALESCE(w.mau, 0) AS mau,
        COALESCE(w.user_days, 0) AS user_days,
        $as_of::DATE - CASE
            WHEN k.first_active_date > $window_start::DATE THEN k.first_active_date
            ELSE $window_start::DATE
        END + 1 AS days_in_window
    FROM known_domains k
    LEFT JOIN window_days w ON w.customer_domain = k.customer_domain
),
ratios AS (
    SELECT
        *,
        CAST(user_days AS DOUBLE) / CAST(days_in_window AS DOUBLE) AS avg_dau,
        CAST(user_days AS DOUBLE) / CAST(NULLIF(days_in_window * mau, 0) AS DOUBLE) AS stickiness
    FROM figures
)
SELECT
    customer_domain,
    mau,
    user_days,
    CAST(days_in_window AS BIGINT) AS days_in_window,
    avg_dau,
    stickiness,
    CASE
        WHEN stickiness IS NULL THEN NULL
        WHEN stickiness >= $stickiness_strong::DOUBLE THEN 'Strong'
        WHEN stickiness >= $stickiness_moderate::DOUBLE THEN 'Moderate'
        ELSE 'Episodic'
    END AS band
FROM ratios
