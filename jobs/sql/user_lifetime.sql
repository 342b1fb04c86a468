-- name: user_lifetime
-- kind: cached
-- summary: One row per (domain, user) with activity on or before as_of: first and last activity, lifetime totals, window and previous-window totals, and the last active date before the window (user_month folded).
-- The window columns come from the user_day partitions of the previous
-- window and the window only (the same number of days at any history),
-- read from the first of the window's month if that is earlier: the last
-- active date before the window is the latest of the months before the
-- window's month (user_month) and of the days read here before the window.
WITH lifetime AS (
    SELECT
        customer_domain,
        user_id,
        MIN(first_activity_at) AS first_activity_at,
        MAX(last_activity_at) AS last_activity_at,
        MIN(first_active_date) AS first_active_date,
        MAX(last_active_date) AS last_active_date,
        SUM(total_events) AS total_events,
        SUM(active_days) AS active_days,
        MAX(CASE
            WHEN month_index < CAST(date_part('year', $window_start::DATE) AS BIGINT) * 12 + CAST(date_part('month', $window_start::DATE) AS BIGINT) - 1
            THEN last_active_date
        END) AS last_active_before_window_month
    FROM user_month
    GROUP BY customer_domain, user_id
),
windows AS (
    SELECT
        customer_domain,
        user_id,
        SUM(CASE WHEN "date" >= $window_start::DATE THEN events ELSE 0 END) AS events_30d,
        SUM(CASE WHEN "date" >= $window_start::DATE THEN 1 ELSE 0 END) AS active_days_30d,
        SUM(CASE WHEN "date" >= $prev_window_start::DATE AND "date" <= $prev_window_end::DATE THEN events ELSE 0 END) AS events_prev_window,
        SUM(CASE WHEN "date" >= $prev_window_start::DATE AND "date" <= $prev_window_end::DATE THEN 1 ELSE 0 END) AS active_days_prev_window,
        MAX(CASE WHEN "date" < $window_start::DATE THEN "date" END) AS last_active_before_window
    FROM user_day
    WHERE "date" >= least($prev_window_start::DATE, CAST(date_trunc('month', $window_start::DATE) AS DATE))
      AND "date" <= $as_of::DATE
    GROUP BY customer_domain, user_id
)
SELECT
    l.customer_domain,
    l.user_id,
    l.first_activity_at,
    l.last_activity_at,
    l.first_active_date,
    l.last_active_date,
    l.total_events,
    l.active_days,
    COALESCE(w.events_30d, 0) AS events_30d,
    COALESCE(w.active_days_30d, 0) AS active_days_30d,
    COALESCE(w.events_prev_window, 0) AS events_prev_window,
    COALESCE(w.active_days_prev_window, 0) AS active_days_prev_window,
    greatest(l.last_active_before_window_month, w.last_active_before_window) AS last_active_before_window
FROM lifetime l
LEFT JOIN windows w ON w.customer_domain = l.customer_domain AND w.user_id = l.user_id
