-- name: user_month
-- kind: cached
-- summary: user_day folded per (domain, user, local calendar month) up to as_of: first and last activity, totals, window and previous-window totals. The input of user_lifetime and the active months of monthly_cohort_retention.
-- The one pass over the whole history of user_day: every scan of it opens
-- one file per day of history, and DataFusion computes a CTE once per
-- reference, so the whole-history metrics read this small table (and
-- user_lifetime) instead of aggregating user_day again each.
SELECT
    customer_domain,
    user_id,
    CAST(date_part('year', "date") AS BIGINT) * 12 + CAST(date_part('month', "date") AS BIGINT) - 1 AS month_index,
    MIN(first_event_at) AS first_activity_at,
    MAX(last_event_at) AS last_activity_at,
    MIN("date") AS first_active_date,
    MAX("date") AS last_active_date,
    SUM(events) AS total_events,
    COUNT(*) AS active_days,
    SUM(CASE WHEN "date" >= $window_start::DATE THEN events ELSE 0 END) AS events_30d,
    SUM(CASE WHEN "date" >= $window_start::DATE THEN 1 ELSE 0 END) AS active_days_30d,
    SUM(CASE WHEN "date" >= $prev_window_start::DATE AND "date" <= $prev_window_end::DATE THEN events ELSE 0 END) AS events_prev_window,
    SUM(CASE WHEN "date" >= $prev_window_start::DATE AND "date" <= $prev_window_end::DATE THEN 1 ELSE 0 END) AS active_days_prev_window,
    MAX(CASE WHEN "date" < $window_start::DATE THEN "date" END) AS last_active_before_window
FROM user_day
GROUP BY 1, 2, 3
