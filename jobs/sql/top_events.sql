-- name: top_events
-- kind: metric
-- family: feature_adoption
-- summary: The top_n non-noise track events per domain in the window by count (ties by name).
-- columns: customer_domain STRING, event_name STRING, event_count BIGINT, unique_users BIGINT, events_per_user DOUBLE, rank BIGINT
WITH counts AS (
    SELECT
        customer_domain,
        name AS event_name,
        COUNT(*) AS event_count,
        COUNT(DISTINCT user_id) AS unique_users
    FROM activity
    WHERE local_date >= $window_start::DATE AND source = 'track'
    GROUP BY customer_domain, name
),
ranked AS (
    SELECT
        *,
        CAST(event_count AS DOUBLE) / CAST(unique_users AS DOUBLE) AS events_per_user,
        CAST(ROW_NUMBER() OVER (PARTITION BY customer_domain ORDER BY event_count DESC, event_name ASC) AS BIGINT) AS rank
    FROM counts
)
SELECT customer_domain, event_name, event_count, unique_users, events_per_user, rank
FROM ranked
WHERE rank <= $top_n::BIGINT
