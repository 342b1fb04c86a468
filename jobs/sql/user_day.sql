-- name: user_day
-- kind: intermediate
-- scope: daily
-- family: intermediate
-- summary: One row per (domain, user) with activity on a local date: events, pageviews, actions, searches, sessions, first and last event.
-- columns: customer_domain STRING, user_id STRING, events BIGINT, pageviews BIGINT, actions BIGINT, searches BIGINT, sessions BIGINT, first_event_at TIMESTAMP, last_event_at TIMESTAMP
WITH days AS (
    SELECT
        local_date,
        customer_domain,
        user_id,
        SUM(events) AS events,
        SUM(CASE WHEN source = 'page' THEN events ELSE 0 END) AS pageviews,
        SUM(CASE WHEN source = 'track' THEN events ELSE 0 END) AS actions,
        SUM(CASE WHEN is_search THEN events ELSE 0 END) AS searches,
        MIN(first_ts) AS first_event_at,
        MAX(last_ts) AS last_event_at
    FROM day_groups
    GROUP BY local_date, customer_domain, user_id
),
sessions AS (
    SELECT "date", customer_domain, user_id, COUNT(*) AS sessions
    FROM user_sessions
    GROUP BY "date", customer_domain, user_id
)
SELECT
    d.local_date AS "date",
    d.customer_domain,
    d.user_id,
    CAST(d.events AS BIGINT) AS events,
    CAST(d.pageviews AS BIGINT) AS pageviews,
    CAST(d.actions AS BIGINT) AS actions,
    CAST(d.searches AS BIGINT) AS searches,
    COALESCE(s.sessions, 0) AS sessions,
    d.first_event_at,
    d.last_event_at
FROM days d
LEFT JOIN sessions s
    ON s."date" = d.local_date AND s.customer_domain = d.customer_domain AND s.user_id = d.user_id
