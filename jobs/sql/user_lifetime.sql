-- name: user_lifetime
-- kind: cached
-- summary: One row per (domain, user) with activity on or before as_of: first and last activity, lifetime totals, window and previous-window totals, and the last active date before the window (user_month folded).
SELECT
    customer_domain,
    user_id,
    MIN(first_activity_at) AS first_activity_at,
    MAX(last_activity_at) AS last_activity_at,
    MIN(first_active_date) AS first_active_date,
    MAX(last_active_date) AS last_active_date,
    SUM(total_events) AS total_events,
    SUM(active_days) AS active_days,
    SUM(events_30d) AS events_30d,
    SUM(active_days_30d) AS active_days_30d,
    SUM(events_prev_window) AS events_prev_window,
    SUM(active_days_prev_window) AS active_days_prev_window,
    MAX(last_active_before_window) AS last_active_before_window
FROM user_month
GROUP BY customer_domain, user_id
