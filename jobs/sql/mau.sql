-- name: mau
-- kind: metric
-- family: active_users
-- summary: Monthly active users: distinct users in the window, the previous window, and the change.
-- columns: customer_domain STRING, mau BIGINT, prev_mau BIGINT, mau_delta BIGINT, mau_change_rate DOUBLE
WITH counts AS (
    SELECT
        k.customer_domain,
        COUNT(DISTINCT CASE WHEN u."date" >= $window_start::DATE THEN u.user_id END) AS mau,
        COUNT(DISTINCT CASE WHEN u."date" <= $prev_window_end::DATE THEN u.user_id END) AS prev_mau
    FROM known_domains k
    LEFT JOIN user_day u
        ON u.customer_domain = k.customer_domain
       AND u."date" >= $prev_window_start::DATE
       AND u."date" <= $as_of::DATE
    GROUP BY k.customer_domain
)
SELECT
    customer_domain,
    mau,
    prev_mau,
    mau - prev_mau AS mau_delta,
    CAST(mau - prev_mau AS DOUBLE) / CAST(NULLIF(prev_mau, 0) AS DOUBLE) AS mau_change_rate
FROM counts
