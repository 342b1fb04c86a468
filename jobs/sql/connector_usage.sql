-- name: connector_usage
-- kind: metric
-- family: feature_adoption
-- summary: Page views with a connector in the window, per (domain, connector, asset type): interactions, users, assets.
-- columns: customer_domain STRING, connector_name STRING, asset_type STRING, interactions BIGINT, unique_users BIGINT, unique_assets BIGINT
SELECT
    customer_domain,
    connector_name,
    asset_type,
    COUNT(*) AS interactions,
    COUNT(DISTINCT user_id) AS unique_users,
    COUNT(DISTINCT asset_guid) AS unique_assets
FROM activity
WHERE local_date >= $window_start::DATE
  AND source = 'page'
  AND connector_name <> ''
GROUP BY customer_domain, connector_name, asset_type
