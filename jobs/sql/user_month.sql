-- name: user_month
-- kind: cached
-- summary: user_day folded per (domain, user, local calendar month) up to as_of: first and last activity, totals. The input of user_lifetime and the active months of monthly_cohort_retention.
-- A fold, so a daily run does not read every day of history: a month's
-- rows change only when one of its days' user_day partitions does, so
-- user_month_kept holds the months an earlier run computed from the
-- partitions the lake still holds, and user_month_days the user_day rows
-- of the other months up to as_of (src/metrics/user_month.rs). Their
-- months do not overlap: one row per (domain, user, month).
SELECT
    customer_domain,
    user_id,
    month_index,
    first_activity_at,
    last_activity_at,
    first_active_date,
    last_active_date,
    total_events,
    active_days
FROM user_month_kept
UNION ALL
SELECT
    customer_domain,
    user_id,
    CAST(date_part('year', "date") AS BIGINT) * 12 + CAST(date_part('month', "date") AS BIGINT) - 1 AS month_index,
    MIN(first_event_at) AS first_activity_at,
    MAX(last_event_at) AS last_activity_at,
    MIN("date") AS first_active_date,
    MAX("date") AS last_active_date,
    SUM(events) AS total_events,
    COUNT(*) AS active_days
FROM user_month_days
GROUP BY 1, 2, 3
