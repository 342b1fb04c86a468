-- name: pageviews_per_user
-- kind: metric
-- family: engagement_depth
-- summary: On the as-of date, page views per user among users who viewed a page (mean and median).
-- columns: customer_domain STRING, pageview_users BIGINT, pageviews BIGINT, avg_pageviews_per_user DOUBLE, median_pageviews_per_user DOUBLE
WITH viewers AS (
    SELECT
        customer_domain,
        COUNT(*) AS pageview_users,
        SUM(pageviews) AS pageviews,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY CAST(pageviews AS DOUBLE)) AS median_pageviews_per_user
    FROM user_day
    WHERE "date" = $as_of::DATE AND pageviews > 0
    GROUP BY customer_domain
)
SELECT
    k.customer_domain,
    COALESCE(v.pageview_users, 0) AS pageview_users,
    CAST(COALESCE(v.pageviews, 0) AS BIGINT) AS pageviews,
    CAST(v.pageviews AS DOUBLE) / CAST(v.pageview_users AS DOUBLE) AS avg_pageviews_per_user,
    v.median_pageviews_per_user
FROM known_domains k
LEFT JOIN viewers v ON v.customer_domain = k.customer_domain
