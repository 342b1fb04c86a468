-- name: top_pages
-- kind: metric
-- family: feature_adoption
-- summary: The top_n (page, tab) pairs per domain in the window by views (ties by page name, then tab with NULL first).
-- columns: customer_domain STRING, page_name STRING, tab STRING, page_views BIGINT, unique_users BIGINT, views_per_user DOUBLE, rank BIGINT
WITH counts AS (
    SELECT
        customer_domain,
        name AS page_name,
        tab,
        COUNT(*) AS page_views,
        COUNT(DISTINCT user_id) AS unique_users
    FROM activity
    WHERE local_date >= $window_start::DATE AND source = 'page' AND name <> ''
    GROUP BY customer_domain, name, tab
),
ranked AS (
    SELECT
        *,
        CAST(page_views AS DOUBLE) / CAST(unique_users AS DOUBLE) AS views_per_user,
        CAST(ROW_NUMBER() OVER (
            PARTITION BY customer_domain
            ORDER BY page_views DESC, page_name ASC, tab ASC NULLS FIRST
        ) AS BIGINT) AS rank
    FROM counts
)
SELECT customer_domain, page_name, tab, page_views, unique_users, views_per_user, rank
FROM ranked
WHERE rank <= $top_n::BIGINT
