-- name: event_groups
-- kind: cached
-- scope: daily
-- summary: Activity counted per (raw domain, user, local date, area, source, search): the one full pass over raw events that user_day and user_day_feature share.
SELECT
    raw_domain,
    user_id,
    local_date,
    feature_area,
    source,
    is_search,
    COUNT(*) AS events,
    MIN(ts) AS first_ts,
    MAX(ts) AS last_ts
FROM activity_all
GROUP BY raw_domain, user_id, local_date, feature_area, source, is_search
