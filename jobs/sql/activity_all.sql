-- name: activity_all
-- kind: view
-- summary: Activity events (pages, and tracks that are not noise) with a user id and a timestamp, local date <= as_of; domain not yet resolved.
-- Raw `date=` folders are UTC days: local day d lives in UTC days d-1 .. d+1,
-- so the scan is pruned to UTC days <= as_of + 1.
SELECT *
FROM (
    SELECT
        p.customer_domain AS raw_domain,
        p.user_id,
        p."timestamp" AS ts,
        to_local_date(p."timestamp", $timezone::VARCHAR) AS local_date,
        p."date" AS utc_date,
        'page' AS source,
        p.page_name AS name,
        p.tab,
        p.asset_guid,
        p.connector_name,
        p.asset_type,
        feature_area('page', p.page_name) AS feature_area,
        FALSE AS is_search
    FROM pages p
    WHERE p."date" <= $as_of::DATE + 1
      AND p.user_id <> ''
      AND p."timestamp" IS NOT NULL
    UNION ALL
    SELECT
        t.customer_domain,
        t.user_id,
        t."timestamp",
        to_local_date(t."timestamp", $timezone::VARCHAR),
        t."date",
        'track',
        t.event_name,
        CAST(NULL AS VARCHAR),
        CAST(NULL AS VARCHAR),
        CAST(NULL AS VARCHAR),
        CAST(NULL AS VARCHAR),
        feature_area('track', t.event_name),
        is_search(t.event_name)
    FROM tracks t
    WHERE t."date" <= $as_of::DATE + 1
      AND t.user_id <> ''
      AND t."timestamp" IS NOT NULL
      AND NOT is_noise(t.event_name)
) a
WHERE a.local_date <= $as_of::DATE
