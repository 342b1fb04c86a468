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
FROM activity_all a
LEFT JOIN domain_fallback f
    ON f.user_id = a.user_id AND f.local_date = a.local_date
