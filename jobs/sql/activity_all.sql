-- name: activity_all
-- kind: view
-- summary: Activity events (pages, and tracks that are not noise) with a user id and a timestamp, local date in [day_start, day_end]; domain not yet resolved.
-- [day_start, day_end] is the chunk of local days being computed (daily
-- tables) or the window the metrics read. Raw `date=` folders are UTC days;
-- utc_start/utc_end are the UTC days those local days touch in the run's
-- timezone, so the scan is pruned to them.
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
    WHERE p."date" BETWEEN $utc_start::DATE AND $utc_end::DATE
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
    WHERE t."date" BETWEEN $utc_start::DATE AND $utc_end::DATE
      AND t.user_id <> ''
      AND t."timestamp" IS NOT NULL
      AND NOT is_noise(t.event_name)
) a
WHERE a.local_date BETWEEN $day_start::DATE AND $day_end::DATE
