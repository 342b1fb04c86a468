-- name: activity
-- kind: view
-- summary: activity_resolved limited to the local days the window metrics read: [as_of - window_days - funnel_conversion_days + 1, as_of].
SELECT *
FROM activity_resolved
WHERE utc_date >= $activity_start::DATE - 1
  AND local_date >= $activity_start::DATE
