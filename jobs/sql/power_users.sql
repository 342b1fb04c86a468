-- name: power_users
-- kind: metric
-- family: engagement_depth
-- summary: The power_users_top_n users per domain by a 0-100 score of active days, feature breadth and log volume in the window.
-- columns: customer_domain STRING, rank BIGINT, user_id STRING, email STRING, username STRING, role STRING, job_role STRING, total_events BIGINT, active_days BIGINT, feature_breadth BIGINT, power_score DOUBLE
WITH activity_totals AS (
    SELECT customer_domain, user_id, SUM(events) AS total_events, COUNT(*) AS active_days
    FROM user_day
    WHERE "date" >= $window_start::DATE AND "date" <= $as_of::DATE
    GROUP BY customer_domain, user_id
),
breadth AS (
    SELECT customer_domain, user_id, COUNT(DISTINCT feature_area) AS feature_breadth
    FROM user_day_feature
    WHERE "date" >= $window_start::DATE AND "date" <= $as_of::DATE
    GROUP BY customer_domain, user_id
),
per_user AS (
    SELECT
        a.customer_domain,
        a.user_id,
        CAST(a.total_events AS BIGINT) AS total_events,
        a.active_days,
        COALESCE(b.feature_breadth, 0) AS feature_breadth
    FROM activity_totals a
    LEFT JOIN breadth b ON b.customer_domain = a.customer_domain AND b.user_id = a.user_id
),
maxima AS (
    SELECT
        customer_domain,
        MAX(active_days) AS maxd,
        MAX(feature_breadth) AS maxb,
        MAX(total_events) AS maxe
    FROM per_user
    GROUP BY customer_domain
),
scored AS (
    SELECT
        p.*,
        CASE WHEN m.maxd = 0 THEN 0.0
             ELSE ($power_weight_days::DOUBLE * CAST(p.active_days AS DOUBLE)) / CAST(m.maxd AS DOUBLE) END
      + CASE WHEN m.maxb = 0 THEN 0.0
             ELSE ($power_weight_breadth::DOUBLE * CAST(p.feature_breadth AS DOUBLE)) / CAST(m.maxb AS DOUBLE) END
      + CASE WHEN m.maxe = 0 THEN 0.0
             ELSE ($power_weight_volume::DOUBLE * ln(1.0 + CAST(p.total_events AS DOUBLE))) / ln(1.0 + CAST(m.maxe AS DOUBLE)) END
        AS power_score
    FROM per_user p
    JOIN maxima m ON m.customer_domain = p.customer_domain
),
ranked AS (
    SELECT
        *,
        CAST(ROW_NUMBER() OVER (
            PARTITION BY customer_domain
            ORDER BY power_score DESC, total_events DESC, user_id ASC
        ) AS BIGINT) AS rank
    FROM scored
)
SELECT
    r.customer_domain,
    r.rank,
    r.user_id,
    i.email,
    i.username,
    i.role,
    i.job_role,
    r.total_events,
    r.active_days,
    r.feature_breadth,
    r.power_score
FROM ranked r
LEFT JOIN identity i ON i.user_id = r.user_id
WHERE r.rank <= $power_users_top_n::BIGINT
