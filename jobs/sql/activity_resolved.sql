-- name: activity_resolved
-- kind: view
-- summary: Every activity event with its domain resolved (METRICS.md "Domain of an event").
SELECT
    COALESCE(NULLIF(a.raw_domain, ''), f.domain, '(unknown)') AS customer_domain,
    a.user_id,
    a.ts,
    a.local_date,
    a.utc_date,
    a.source,
    a.name,
    a.tab,
    a.asset_guid,
    a.connector_name,
    a.asset_type,
    a.feature_area,
    a.is_search
-- The fallback is the join's left (build) side: it has one row per
-- user-day, the right side one per event (group).
FROM (
    SELECT * FROM domain_fallback
    WHERE local_date BETWEEN $day_start::DATE AND $day_end::DATE
) f
RIGHT JOIN activity_all a
    ON f.user_id = a.user_id AND f.local_date = a.local_date
