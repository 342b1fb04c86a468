-- name: user_sessions
-- kind: intermediate
-- scope: daily
-- family: intermediate
-- summary: Sessions per (domain, user, local date): a gap strictly longer than session_gap_minutes, or local midnight, starts a new one.
-- columns: customer_domain STRING, user_id STRING, session_index BIGINT, session_start TIMESTAMP, session_end TIMESTAMP, events BIGINT, pageviews BIGINT, actions BIGINT, duration_s DOUBLE
-- sessionize() gathers each user-day's events in one hash aggregation and
-- splits them in time order; no sort of all events.
WITH days AS (
    SELECT
        local_date,
        customer_domain,
        user_id,
        sessionize(CAST(ts AS BIGINT), source = 'page') AS sessions
    FROM activity_resolved
    GROUP BY local_date, customer_domain, user_id
),
flat AS (
    SELECT local_date, customer_domain, user_id, unnest(sessions) AS s
    FROM days
)
SELECT
    local_date AS "date",
    customer_domain,
    user_id,
    s['session_index'] AS session_index,
    s['session_start'] AS session_start,
    s['session_end'] AS session_end,
    s['events'] AS events,
    s['pageviews'] AS pageviews,
    s['actions'] AS actions,
    s['duration_s'] AS duration_s
FROM flat
