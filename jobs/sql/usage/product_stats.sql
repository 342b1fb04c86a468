-- name: product_stats
-- kind: cached
-- summary: Usage per product of the space over the window, with the popularity score (README "Usage").
WITH counts AS (
    SELECT
        product_id,
        CAST(SUM(weight) AS BIGINT) AS query_count,
        COUNT(DISTINCT executed_by) AS unique_users,
        MAX(executed_at) AS last_queried_at
    FROM usage_product_refs
    GROUP BY product_id
),
column_counts AS (
    SELECT product_id, column_name, SUM(weight) AS refs
    FROM usage_column_refs
    GROUP BY product_id, column_name
),
ranked AS (
    SELECT
        product_id, column_name,
        ROW_NUMBER() OVER (PARTITION BY product_id ORDER BY refs DESC, column_name ASC) AS rank
    FROM column_counts
),
top AS (
    SELECT product_id, array_agg(column_name ORDER BY rank) AS top_columns
    FROM ranked
    WHERE rank <= $top_columns::BIGINT
    GROUP BY product_id
),
figures AS (
    SELECT
        p.product_id,
        COALESCE(c.query_count, 0) AS query_count_30d,
        COALESCE(c.unique_users, 0) AS unique_users_30d,
        c.last_queried_at,
        -- 10 when queried at the very end of the as-of day, halving every
        -- half-life; 0 when never queried.
        CASE
            WHEN c.last_queried_at IS NULL THEN 0.0
            ELSE 10.0 * power(
                2.0,
                -(CAST($end_of_day_us::BIGINT - CAST(c.last_queried_at AS BIGINT) AS DOUBLE) / 86400000000.0)
                    / $half_life_days::DOUBLE
            )
        END AS recency_factor,
        t.top_columns
    FROM space_products p
    LEFT JOIN counts c ON c.product_id = p.product_id
    LEFT JOIN top t ON t.product_id = p.product_id
)
SELECT
    product_id,
    query_count_30d,
    unique_users_30d,
    last_queried_at,
    least(
        100.0,
        (0.5 * log2(1.0 + CAST(query_count_30d AS DOUBLE))
            + 0.3 * CAST(unique_users_30d AS DOUBLE)
            + 0.2 * recency_factor) / 10.0 * 100.0
    ) AS popularity_score,
    top_columns,
    to_timestamp_micros($updated_at_us::BIGINT) AS updated_at
FROM figures
