#!/usr/bin/env python3
"""Writes shapes2.jsonl: queries in the shapes BI tools and warehouse query
logs hold, written by hand across the 8 dialects (Superset, Metabase native
and MBQL-generated, Looker, Tableau, Power BI DirectQuery, Snowflake query
history, BigQuery INFORMATION_SCHEMA.JOBS, Postgres pg_stat_statements,
MySQL, Redshift, Databricks, SQL Server).

`tables` / `written_tables` were written by reading each statement: base
tables read and written, CTE names and aliases resolved away, case folded
as the dialect stores names (Snowflake unquoted -> upper, Postgres and
Redshift unquoted -> lower, quoted kept; Databricks -> lower). A text with
several statements lists each statement's tables in statement order (each
statement's list sorted). Where the text leaves a choice, `note` says
which one was made. Never copied from the analyzer.

  python3 tests/data/sql/make_shapes2.py > tests/data/sql/shapes2.jsonl
"""
import json

OUT = []


def q(id, dialect, sql, tables, written=(), note=None, multi=False):
    """`multi`: the lists are already per statement, in order; else sorted."""
    sql = " ".join(line.strip() for line in sql.strip().splitlines())
    entry = {"id": id, "dialect": dialect, "sql": sql,
             "tables": list(tables) if multi else sorted(set(tables)),
             "written_tables": list(written) if multi else sorted(set(written))}
    if note:
        entry["note"] = note
    OUT.append(entry)


# --- Superset: chart SQL over physical and virtual datasets --------------
q("superset-pg-timeseries", "postgres", """
SELECT DATE_TRUNC('day', created_at) AS __timestamp, channel AS channel, COUNT(*) AS count
FROM public.signups
WHERE created_at >= TO_TIMESTAMP('2024-05-01 00:00:00.000000', 'YYYY-MM-DD HH24:MI:SS.US')
  AND created_at < TO_TIMESTAMP('2024-06-01 00:00:00.000000', 'YYYY-MM-DD HH24:MI:SS.US')
GROUP BY channel, DATE_TRUNC('day', created_at)
ORDER BY count DESC
LIMIT 10000""", ["public.signups"])
q("superset-pg-virtual", "postgres", """
SELECT DATE_TRUNC('week', virtual_table.order_date) AS __timestamp, SUM(virtual_table.revenue) AS "SUM(revenue)"
FROM (SELECT o.order_date, o.amount - COALESCE(r.amount, 0) AS revenue
      FROM shop.orders o LEFT JOIN shop.refunds r ON r.order_id = o.id
      WHERE o.status <> 'test') AS virtual_table
GROUP BY DATE_TRUNC('week', virtual_table.order_date)
LIMIT 50000""", ["shop.orders", "shop.refunds"])
q("superset-sf-bignumber", "snowflake", """
SELECT DATE_TRUNC('month', "ORDER_DATE") AS "__timestamp", SUM("AMOUNT") AS "SUM(AMOUNT)"
FROM analytics.finance.revenue_daily
WHERE "ORDER_DATE" >= TO_TIMESTAMP('2023-01-01T00:00:00') AND "REGION" IN ('EMEA', 'APAC')
GROUP BY DATE_TRUNC('month', "ORDER_DATE")
ORDER BY "__timestamp" DESC
LIMIT 10000""", ["ANALYTICS.FINANCE.REVENUE_DAILY"])
q("superset-sf-virtual-cte", "snowflake", """
SELECT "PLAN" AS "PLAN", COUNT(DISTINCT "USER_ID") AS "COUNT_DISTINCT(USER_ID)"
FROM (WITH active AS (SELECT user_id, plan FROM prod.app.subscriptions WHERE cancelled_at IS NULL)
      SELECT a.user_id, a.plan FROM active a JOIN prod.app.users u ON u.id = a.user_id WHERE u.is_internal = FALSE) AS virtual_table
GROUP BY "PLAN"
ORDER BY "COUNT_DISTINCT(USER_ID)" DESC
LIMIT 100""", ["PROD.APP.SUBSCRIPTIONS", "PROD.APP.USERS"])
q("superset-bq-table", "bigquery", """
SELECT TIMESTAMP_TRUNC(event_timestamp, DAY) AS __timestamp, event_name AS event_name, COUNT(*) AS count
FROM `acme-prod.analytics.events`
WHERE event_timestamp >= CAST('2024-04-01T00:00:00' AS TIMESTAMP) AND event_timestamp < CAST('2024-05-01T00:00:00' AS TIMESTAMP)
GROUP BY event_name, __timestamp
ORDER BY count DESC
LIMIT 10000""", ["acme-prod.analytics.events"])
q("superset-mysql-pie", "mysql", """
SELECT `country` AS `country`, count(*) AS `count`
FROM `crm`.`accounts`
WHERE `created_at` >= STR_TO_DATE('2024-01-01 00:00:00.000000', '%Y-%m-%d %H:%i:%s.%f')
GROUP BY `country`
ORDER BY `count` DESC
LIMIT 25""", ["crm.accounts"])
q("superset-databricks-table", "databricks", """
SELECT date_trunc('DAY', ts) AS __timestamp, device_type AS device_type, count(DISTINCT user_id) AS `COUNT_DISTINCT(user_id)`
FROM main.web.page_views
WHERE ts >= TIMESTAMP '2024-06-01 00:00:00'
GROUP BY device_type, date_trunc('DAY', ts)
LIMIT 10000""", ["main.web.page_views"])
q("superset-redshift-virtual", "redshift", """
SELECT DATE_TRUNC('hour', virtual_table.starttime) AS __timestamp, AVG(virtual_table.duration_s) AS "AVG(duration_s)"
FROM (SELECT q.starttime, DATEDIFF(seconds, q.starttime, q.endtime) AS duration_s
      FROM stl_query q WHERE q.userid > 1 AND q.querytxt NOT LIKE 'padb_fetch_sample%') AS virtual_table
GROUP BY DATE_TRUNC('hour', virtual_table.starttime)
LIMIT 1000""", ["stl_query"])
q("superset-pg-table-chart", "postgres", """
SELECT customer_name AS customer_name, SUM(total) AS "SUM(total)", MAX(ordered_at) AS "MAX(ordered_at)"
FROM (SELECT c.name AS customer_name, o.total, o.ordered_at FROM sales.customers c
      JOIN sales.orders o ON o.customer_id = c.id) AS virtual_table
GROUP BY customer_name
HAVING SUM(total) > 1000
ORDER BY "SUM(total)" DESC
LIMIT 1000 OFFSET 0""", ["sales.customers", "sales.orders"])
q("superset-sqllab-explore", "postgres", """
SELECT * FROM (SELECT user_id, count(*) AS sessions FROM web.sessions WHERE started_at > now() - interval '30 days' GROUP BY user_id) AS virtual_table LIMIT 1001""",
  ["web.sessions"])

# --- Metabase: native queries with variables and optional clauses ---------
q("metabase-native-pg-filters", "postgres", """
SELECT o.id, o.created_at, o.total, c.email
FROM orders o JOIN customers c ON c.id = o.customer_id
WHERE 1 = 1 [[ AND o.created_at >= {{start_date}} ]] [[ AND o.created_at < {{end_date}} ]] [[ AND c.country = {{country}} ]]
ORDER BY o.created_at DESC""", ["customers", "orders"])
q("metabase-native-field-filter", "postgres", """
SELECT date_trunc('week', p.created_at) AS week, count(*)
FROM public.products p
WHERE {{category}} [[ AND p.vendor = {{vendor}} ]]
GROUP BY 1 ORDER BY 1""", ["public.products"])
q("metabase-native-mysql", "mysql", """
SELECT u.plan, COUNT(*) AS users
FROM app.users u
WHERE u.signed_up_at BETWEEN {{from}} AND {{to}} [[AND u.plan = {{plan}}]]
GROUP BY u.plan""", ["app.users"])
q("metabase-native-snowflake", "snowflake", """
select ticket_id, priority, opened_at from support.zendesk.tickets
where status = 'open' [[and assignee_id = {{assignee}}]] [[and opened_at > {{since}}]]
order by opened_at""", ["SUPPORT.ZENDESK.TICKETS"])
q("metabase-native-saved-question", "postgres", """
SELECT q.category, avg(q.rating) FROM {{#42-product-reviews}} AS q WHERE q.rating IS NOT NULL GROUP BY q.category""",
  [], note="{{#42-…}} references a saved question, whose SQL is not in the text: no table can be named")
q("metabase-mbql-pg", "postgres", """
SELECT "public"."orders"."product_id" AS "product_id", "Products"."category" AS "Products__category", sum("public"."orders"."subtotal") AS "sum"
FROM "public"."orders"
LEFT JOIN "public"."products" AS "Products" ON "public"."orders"."product_id" = "Products"."id"
WHERE ("public"."orders"."created_at" >= date_trunc('month', (now() + (INTERVAL '-3 month'))) AND "public"."orders"."created_at" < date_trunc('month', now()))
GROUP BY "public"."orders"."product_id", "Products"."category"
ORDER BY "public"."orders"."product_id" ASC, "Products"."category" ASC""", ["public.orders", "public.products"])
q("metabase-mbql-h2-upper", "generic", """
SELECT "PUBLIC"."ORDERS"."ID" AS "ID", "PUBLIC"."ORDERS"."TOTAL" AS "TOTAL", "PEOPLE__via__USER_ID"."STATE" AS "PEOPLE__via__USER_ID__STATE"
FROM "PUBLIC"."ORDERS"
LEFT JOIN "PUBLIC"."PEOPLE" "PEOPLE__via__USER_ID" ON "PUBLIC"."ORDERS"."USER_ID" = "PEOPLE__via__USER_ID"."ID"
WHERE "PUBLIC"."ORDERS"."TOTAL" > 100
LIMIT 2000""", ["PUBLIC.ORDERS", "PUBLIC.PEOPLE"])
q("metabase-mbql-snowflake", "snowflake", """
SELECT "SOURCE"."CATEGORY" AS "CATEGORY", COUNT(*) AS "count"
FROM (SELECT "ANALYTICS"."PUBLIC"."PRODUCTS"."ID" AS "ID", "ANALYTICS"."PUBLIC"."PRODUCTS"."CATEGORY" AS "CATEGORY"
      FROM "ANALYTICS"."PUBLIC"."PRODUCTS") AS "SOURCE"
GROUP BY "SOURCE"."CATEGORY"
ORDER BY "SOURCE"."CATEGORY" ASC""", ["ANALYTICS.PUBLIC.PRODUCTS"])
q("metabase-mbql-bigquery", "bigquery", """
SELECT `acme-data.shop.orders`.`status` AS `status`, count(*) AS `count`
FROM `acme-data.shop.orders`
WHERE `acme-data.shop.orders`.`created_at` >= timestamp_trunc(timestamp_add(current_timestamp(), INTERVAL -30 day), day)
GROUP BY `status`
ORDER BY `status` ASC""", ["acme-data.shop.orders"])
q("metabase-mbql-redshift", "redshift", """
SELECT "public"."events"."name" AS "name", count(distinct "public"."events"."user_id") AS "count"
FROM "public"."events"
WHERE "public"."events"."ts" >= dateadd(day, -7, getdate())
GROUP BY "public"."events"."name"
ORDER BY "count" DESC, "public"."events"."name" ASC
LIMIT 1048575""", ["public.events"])
q("metabase-mbql-mssql", "mssql", """
SELECT TOP(1048575) "dbo"."Invoices"."CustomerId" AS "CustomerId", sum("dbo"."Invoices"."Amount") AS "sum"
FROM "dbo"."Invoices"
WHERE "dbo"."Invoices"."IssuedAt" >= DATEFROMPARTS(2024, 1, 1)
GROUP BY "dbo"."Invoices"."CustomerId"
ORDER BY "dbo"."Invoices"."CustomerId" ASC""", ["dbo.Invoices"])
q("metabase-mbql-mysql-join", "mysql", """
SELECT `orders`.`id` AS `id`, `Customers`.`name` AS `Customers__name`
FROM `orders`
LEFT JOIN `customers` `Customers` ON `orders`.`customer_id` = `Customers`.`id`
WHERE `orders`.`status` = 'paid'
LIMIT 2000""", ["customers", "orders"])

# --- Looker ----------------------------------------------------------------
q("looker-bq-explore", "bigquery", """
WITH order_facts AS (SELECT order_id, SUM(sale_price) AS order_total, COUNT(*) AS item_count
                     FROM `looker-demo.thelook.order_items` GROUP BY 1)
SELECT users.country AS users_country, COUNT(DISTINCT orders.id) AS orders_count, AVG(order_facts.order_total) AS order_facts_avg_total
FROM `looker-demo.thelook.orders` AS orders
LEFT JOIN order_facts ON orders.id = order_facts.order_id
LEFT JOIN `looker-demo.thelook.users` AS users ON orders.user_id = users.id
WHERE (orders.created_at >= TIMESTAMP('2024-01-01 00:00:00'))
GROUP BY 1
ORDER BY 2 DESC
LIMIT 500""", ["looker-demo.thelook.order_items", "looker-demo.thelook.orders", "looker-demo.thelook.users"])
q("looker-sf-pdt-create", "snowflake", """
CREATE TABLE LOOKER_SCRATCH.LR$R5KA91712345678_customer_facts AS
SELECT customer_id, MIN(created_at) AS first_order, SUM(amount) AS lifetime_value
FROM raw.shop.orders GROUP BY customer_id""",
  ["RAW.SHOP.ORDERS"], ["LOOKER_SCRATCH.LR$R5KA91712345678_CUSTOMER_FACTS"])
q("looker-sf-pdt-read", "snowflake", """
SELECT customer_facts.lifetime_value AS customer_facts_lifetime_value, COUNT(*) AS customers_count
FROM LOOKER_SCRATCH.LR$R5KA91712345678_customer_facts AS customer_facts
GROUP BY 1 ORDER BY 2 DESC LIMIT 500""", ["LOOKER_SCRATCH.LR$R5KA91712345678_CUSTOMER_FACTS"])
q("looker-template-table", "generic", """
SELECT ${users.state} AS users_state, COUNT(${TABLE}.id) AS users_count FROM ${TABLE} GROUP BY 1""",
  ["looker_table"], note="${TABLE} stands for the view's sql_table_name, not in the text: reported as looker_table")
q("looker-derived-table-sql", "postgres", """
SELECT user_id, COUNT(*) AS lifetime_orders, MAX(created_at) AS latest_order
FROM public.orders WHERE status NOT IN ('cancelled', 'fraud') GROUP BY user_id""", ["public.orders"])
q("looker-redshift-pdt", "redshift", """
CREATE TABLE looker_scratch.lr$abc123_session_facts DISTSTYLE KEY DISTKEY (session_id) SORTKEY (started_at) AS
SELECT session_id, MIN(ts) AS started_at, COUNT(*) AS events FROM web.events GROUP BY session_id""",
  ["web.events"], ["looker_scratch.lr$abc123_session_facts"])
q("looker-symmetric-agg", "bigquery", """
SELECT COALESCE(SUM(orders.amount), 0) AS total_amount,
  COALESCE(CAST((SUM(DISTINCT CAST(ROUND(COALESCE(users.credit, 0) * (1 / 1000 * 1.0), 9) AS NUMERIC) + (CAST(CAST(CONCAT('0x', SUBSTR(TO_HEX(MD5(CAST(users.id AS STRING))), 1, 15)) AS INT64) AS NUMERIC) * 4294967296)) - SUM(DISTINCT (CAST(CAST(CONCAT('0x', SUBSTR(TO_HEX(MD5(CAST(users.id AS STRING))), 1, 15)) AS INT64) AS NUMERIC) * 4294967296))) / (1 / 1000 * 1.0) AS FLOAT64), 0) AS total_credit
FROM `acme.crm.orders` AS orders
FULL OUTER JOIN `acme.crm.users` AS users ON orders.user_id = users.id""", ["acme.crm.orders", "acme.crm.users"])
q("looker-mysql-explore", "mysql", """
SELECT DATE(products.created_at) AS `products.created_date`, COUNT(*) AS `products.count`
FROM inventory.products AS products
WHERE ((( products.created_at ) >= ((DATE_ADD(CURDATE(), INTERVAL -6 DAY))) AND ( products.created_at ) < ((DATE_ADD(DATE_ADD(CURDATE(), INTERVAL -6 DAY), INTERVAL 7 DAY)))))
GROUP BY 1 ORDER BY 1 DESC LIMIT 500""", ["inventory.products"])

# --- Tableau ---------------------------------------------------------------
q("tableau-custom-sql-pg", "postgres", """
SELECT "Custom SQL Query"."region" AS "region", SUM("Custom SQL Query"."sales") AS "sum:sales:ok"
FROM (select r.name as region, o.sales from sales.orders o join ref.regions r on r.id = o.region_id where o.ordered_at >= '2023-01-01') "Custom SQL Query"
GROUP BY 1""", ["ref.regions", "sales.orders"])
q("tableau-extract-snowflake", "snowflake", """
SELECT "ORDERS"."ORDER_ID" AS "ORDER_ID", "ORDERS"."AMOUNT" AS "AMOUNT", "CUSTOMERS"."SEGMENT" AS "SEGMENT"
FROM "SALES"."PUBLIC"."ORDERS" "ORDERS"
INNER JOIN "SALES"."PUBLIC"."CUSTOMERS" "CUSTOMERS" ON ("ORDERS"."CUSTOMER_ID" = "CUSTOMERS"."CUSTOMER_ID")""",
  ["SALES.PUBLIC.CUSTOMERS", "SALES.PUBLIC.ORDERS"])
q("tableau-mssql-filter", "mssql", """
SELECT [Orders].[Category] AS [Category], SUM([Orders].[Profit]) AS [sum:Profit:ok]
FROM [dbo].[Orders] [Orders]
  INNER JOIN [dbo].[Returns] [Returns] ON ([Orders].[Order ID] = [Returns].[Order ID])
WHERE ([Orders].[Region] = N'West')
GROUP BY [Orders].[Category]""", ["dbo.Orders", "dbo.Returns"])
q("tableau-custom-sql-mysql", "mysql", """
SELECT `Custom SQL Query`.`month` AS `month`, SUM(`Custom SQL Query`.`mrr`) AS `sum:mrr:ok`
FROM (SELECT DATE_FORMAT(s.started_at, '%Y-%m') AS month, s.mrr FROM billing.subscriptions s WHERE s.state = 'active') `Custom SQL Query`
GROUP BY 1""", ["billing.subscriptions"])
q("tableau-redshift-topn", "redshift", """
SELECT "t0"."product" AS "product", "t0"."__measure__0" AS "sum:units:ok"
FROM (SELECT "Sales"."product" AS "product", SUM("Sales"."units") AS "__measure__0"
      FROM "public"."sales" "Sales" GROUP BY 1) "t0"
ORDER BY 2 DESC LIMIT 10""", ["public.sales"])
q("tableau-bq-custom-sql", "bigquery", """
SELECT `Custom_SQL_Query`.`campaign` AS `campaign`, SUM(`Custom_SQL_Query`.`clicks`) AS `sum_clicks_ok`
FROM (SELECT campaign, clicks FROM `ads-prod.google_ads.campaign_stats` WHERE date >= '2024-01-01') `Custom_SQL_Query`
GROUP BY 1""", ["ads-prod.google_ads.campaign_stats"])
q("tableau-temp-table-mssql", "mssql", """
SELECT [Staples].[Customer Name] AS [Customer Name] INTO [#Tableau_5_2_Filter] FROM [dbo].[Staples] [Staples] WHERE [Staples].[Customer State] = 'CA' GROUP BY [Staples].[Customer Name]""",
  ["dbo.Staples"], ["#Tableau_5_2_Filter"], note="SELECT … INTO writes the temp table it names")

# --- Power BI DirectQuery ---------------------------------------------------
q("powerbi-mssql-topn", "mssql", """
SELECT TOP (1000001) [t0].[ProductCategory], SUM([t0].[SalesAmount]) AS [a0]
FROM ((SELECT [p].[EnglishProductCategoryName] AS [ProductCategory], [f].[SalesAmount] AS [SalesAmount]
       FROM [dbo].[FactInternetSales] AS [f] INNER JOIN [dbo].[DimProduct] AS [p] ON [p].[ProductKey] = [f].[ProductKey])) AS [t0]
GROUP BY [t0].[ProductCategory]""", ["dbo.DimProduct", "dbo.FactInternetSales"])
q("powerbi-mssql-semijoin", "mssql", """
SELECT TOP (1000001) [semijoin1].[c1], SUM([a0]) AS [a0]
FROM ((SELECT [t1].[Region] AS [c1], [t0].[Amount] AS [a0]
       FROM (SELECT [CustomerKey], [Amount] FROM [sales].[Orders]) AS [t0]
       INNER JOIN (SELECT [CustomerKey], [Region] FROM [sales].[Customers]) AS [t1] ON ([t0].[CustomerKey] = [t1].[CustomerKey]))) AS [semijoin1]
GROUP BY [semijoin1].[c1]""", ["sales.Customers", "sales.Orders"])
q("powerbi-mssql-basetable", "mssql", """
SELECT TOP (501) [t2].[Date], [t2].[Store], [t2].[Units]
FROM (SELECT [Date], [Store], [Units] FROM [retail].[dbo].[DailySales] WHERE [Units] > 0) AS [t2]
ORDER BY [t2].[Date] DESC""", ["retail.dbo.DailySales"])
q("powerbi-snowflake", "snowflake", """
select "CATEGORY", sum("AMOUNT") as "C1"
from (select "_"."CATEGORY", "_"."AMOUNT" from "RETAIL"."PUBLIC"."SALES" as "_" where "_"."SALE_DATE" >= date '2024-01-01') as "ITEM"
group by "CATEGORY"
limit 1000001""", ["RETAIL.PUBLIC.SALES"])
q("powerbi-databricks", "databricks", """
select `_`.`store_id`, sum(`_`.`net_sales`) as `a0`
from (select `store_id`, `net_sales` from `hive_metastore`.`retail`.`store_sales` as `_` where `sold_date` >= date '2024-01-01') as `_`
group by `_`.`store_id`
limit 1000001""", ["hive_metastore.retail.store_sales"])
q("powerbi-postgres", "postgres", """
select "_"."region", "_"."revenue" from (select "region", sum("amount") as "revenue" from "finance"."ledger" as "_" group by "region") as "_" limit 1000001""",
  ["finance.ledger"])

# --- Snowflake query history ------------------------------------------------
q("sf-identifier-bind", "snowflake", """
SELECT COUNT(*) FROM IDENTIFIER('analytics.public.page_views') WHERE event_date = :1""",
  ["ANALYTICS.PUBLIC.PAGE_VIEWS"], note="IDENTIFIER('…') names a table as text; unquoted inside, so it folds to upper")
q("sf-copy-into-table", "snowflake", """
COPY INTO raw.stripe.charges FROM @raw.stripe.landing/charges/ FILE_FORMAT = (TYPE = 'JSON') ON_ERROR = 'CONTINUE'""",
  [], ["RAW.STRIPE.CHARGES"], note="the stage is not a table: only the target is named")
q("sf-copy-into-stage", "snowflake", """
COPY INTO @exports.public.unload_stage/orders_ FROM (SELECT id, amount, created_at FROM prod.shop.orders WHERE created_at >= '2024-01-01') FILE_FORMAT = (TYPE = PARQUET) HEADER = TRUE""",
  ["PROD.SHOP.ORDERS"], note="unloading to a stage reads the query's tables and writes no table")
q("sf-merge", "snowflake", """
MERGE INTO analytics.core.dim_customers AS tgt
USING (SELECT id, email, updated_at FROM raw.crm.customers QUALIFY ROW_NUMBER() OVER (PARTITION BY id ORDER BY updated_at DESC) = 1) AS src
ON tgt.customer_id = src.id
WHEN MATCHED AND src.updated_at > tgt.updated_at THEN UPDATE SET tgt.email = src.email, tgt.updated_at = src.updated_at
WHEN NOT MATCHED THEN INSERT (customer_id, email, updated_at) VALUES (src.id, src.email, src.updated_at)""",
  ["RAW.CRM.CUSTOMERS"], ["ANALYTICS.CORE.DIM_CUSTOMERS"])
q("sf-insert-select", "snowflake", """
INSERT INTO analytics.core.fct_sessions (session_id, user_id, started_at, pages)
SELECT s.session_id, s.user_id, MIN(e.ts), COUNT(*) FROM raw.web.events e JOIN raw.web.sessions s ON s.session_id = e.session_id
WHERE e.ts > (SELECT COALESCE(MAX(started_at), '1970-01-01') FROM analytics.core.fct_sessions)
GROUP BY s.session_id, s.user_id""",
  ["ANALYTICS.CORE.FCT_SESSIONS", "RAW.WEB.EVENTS", "RAW.WEB.SESSIONS"], ["ANALYTICS.CORE.FCT_SESSIONS"],
  note="the target is also read by the subquery, so it is in both lists")
q("sf-ctas", "snowflake", """
CREATE OR REPLACE TABLE analytics.marts.weekly_active AS
SELECT DATE_TRUNC('week', ts) AS week, COUNT(DISTINCT user_id) AS wau FROM analytics.core.fct_events GROUP BY 1""",
  ["ANALYTICS.CORE.FCT_EVENTS"], ["ANALYTICS.MARTS.WEEKLY_ACTIVE"])
q("sf-transient-ctas", "snowflake", """
CREATE OR REPLACE TRANSIENT TABLE dbt_tmp.stg_payments__dbt_tmp AS (SELECT id, order_id, amount / 100 AS amount FROM raw.stripe.payments)""",
  ["RAW.STRIPE.PAYMENTS"], ["DBT_TMP.STG_PAYMENTS__DBT_TMP"])
q("sf-use-warehouse", "snowflake", "USE WAREHOUSE transforming_xl", [])
q("sf-use-database", "snowflake", "USE DATABASE analytics", [])
q("sf-show-tables", "snowflake", "SHOW TABLES IN SCHEMA analytics.core", [],
  note="metadata listing: no table's rows are read")
q("sf-qualify", "snowflake", """
SELECT user_id, plan, changed_at FROM billing.public.plan_changes
QUALIFY ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY changed_at DESC) = 1""", ["BILLING.PUBLIC.PLAN_CHANGES"])
q("sf-flatten", "snowflake", """
SELECT e.event_id, f.value:sku::string AS sku, f.value:qty::int AS qty
FROM raw.segment.tracks e, LATERAL FLATTEN(input => e.properties:items) f
WHERE e.event = 'Order Completed'""", ["RAW.SEGMENT.TRACKS"])
q("sf-quoted-mixed-case", "snowflake", """
SELECT "userId", "eventName", COUNT(*) FROM "Raw"."Segment"."Tracks" WHERE "receivedAt" > DATEADD(hour, -1, CURRENT_TIMESTAMP()) GROUP BY 1, 2""",
  ["Raw.Segment.Tracks"])
q("sf-update-from", "snowflake", """
UPDATE analytics.core.dim_products p SET p.category = m.category FROM ref.mapping.product_categories m WHERE p.sku = m.sku""",
  ["REF.MAPPING.PRODUCT_CATEGORIES"], ["ANALYTICS.CORE.DIM_PRODUCTS"])
q("sf-delete-using", "snowflake", """
DELETE FROM analytics.core.fct_orders USING staging.deleted_orders d WHERE fct_orders.order_id = d.order_id""",
  ["STAGING.DELETED_ORDERS"], ["ANALYTICS.CORE.FCT_ORDERS"])
q("sf-time-travel", "snowflake", """
SELECT COUNT(*) FROM analytics.core.fct_orders AT(OFFSET => -3600)""", ["ANALYTICS.CORE.FCT_ORDERS"])
q("sf-result-scan", "snowflake", """
SELECT "name", "rows" FROM TABLE(RESULT_SCAN(LAST_QUERY_ID())) WHERE "rows" > 0""", [],
  note="RESULT_SCAN reads a previous result, not a table")
q("sf-create-view", "snowflake", """
CREATE OR REPLACE SECURE VIEW analytics.share.orders_v AS SELECT order_id, amount, region FROM analytics.core.fct_orders WHERE region <> 'INTERNAL'""",
  ["ANALYTICS.CORE.FCT_ORDERS"], ["ANALYTICS.SHARE.ORDERS_V"])
q("sf-pivot", "snowflake", """
SELECT * FROM (SELECT region, quarter, amount FROM finance.public.bookings) PIVOT (SUM(amount) FOR quarter IN ('Q1', 'Q2', 'Q3', 'Q4')) AS p""",
  ["FINANCE.PUBLIC.BOOKINGS"])
q("sf-dbt-incremental-multi", "snowflake", """
begin;
delete from analytics.core.fct_events where event_id in (select event_id from analytics.core.fct_events__dbt_tmp);
insert into analytics.core.fct_events (event_id, ts) (select event_id, ts from analytics.core.fct_events__dbt_tmp);
commit;""",
  ["ANALYTICS.CORE.FCT_EVENTS__DBT_TMP", "ANALYTICS.CORE.FCT_EVENTS__DBT_TMP"],
  ["ANALYTICS.CORE.FCT_EVENTS", "ANALYTICS.CORE.FCT_EVENTS"], multi=True,
  note="four statements: BEGIN and COMMIT name no table; the DELETE and the INSERT each read the tmp table")
q("sf-clone", "snowflake", """
CREATE OR REPLACE TABLE analytics_dev.core.fct_orders CLONE analytics.core.fct_orders""",
  ["ANALYTICS.CORE.FCT_ORDERS"], ["ANALYTICS_DEV.CORE.FCT_ORDERS"], note="a clone reads its source")

# --- BigQuery INFORMATION_SCHEMA.JOBS ---------------------------------------
q("bq-jobs-by-project", "bigquery", """
SELECT user_email, job_type, SUM(total_bytes_billed) / POW(1024, 4) AS tib_billed
FROM `region-us`.INFORMATION_SCHEMA.JOBS_BY_PROJECT
WHERE creation_time BETWEEN TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL 7 DAY) AND CURRENT_TIMESTAMP() AND state = 'DONE'
GROUP BY 1, 2 ORDER BY 3 DESC""", ["region-us.INFORMATION_SCHEMA.JOBS_BY_PROJECT"])
q("bq-jobs-referenced-tables", "bigquery", """
SELECT rt.dataset_id, rt.table_id, COUNT(*) AS queries
FROM `acme-prod`.`region-eu`.INFORMATION_SCHEMA.JOBS AS j, UNNEST(j.referenced_tables) AS rt
WHERE j.creation_time > TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL 1 DAY)
GROUP BY 1, 2""", ["acme-prod.region-eu.INFORMATION_SCHEMA.JOBS"])
q("bq-wildcard-suffix", "bigquery", """
SELECT event_name, COUNT(*) AS events
FROM `acme-prod.analytics_123456.events_*`
WHERE _TABLE_SUFFIX BETWEEN '20240101' AND '20240107'
GROUP BY event_name""", ["acme-prod.analytics_123456.events_*"],
  note="a wildcard table is reported with its wildcard, as written")
q("bq-ga4-unnest", "bigquery", """
SELECT user_pseudo_id, (SELECT value.string_value FROM UNNEST(event_params) WHERE key = 'page_location') AS page
FROM `acme-prod.analytics_123456.events_20240301`
WHERE event_name = 'page_view'""", ["acme-prod.analytics_123456.events_20240301"])
q("bq-struct-safe-cast", "bigquery", """
SELECT STRUCT(o.id AS id, SAFE_CAST(o.total AS NUMERIC) AS total) AS order_info, ARRAY_LENGTH(o.items) AS n
FROM `shop-prod.sales.orders` o
WHERE SAFE_CAST(o.created AS DATE) >= DATE '2024-02-01'""", ["shop-prod.sales.orders"])
q("bq-unquoted-dashes", "bigquery", """
SELECT COUNT(*) FROM my-project-123.web.sessions WHERE session_start > TIMESTAMP '2024-01-01'""",
  ["my-project-123.web.sessions"])
q("bq-split-backticks", "bigquery", """
SELECT c.id, c.segment FROM `acme-prod`.`crm`.`Customers` c WHERE c.segment != 'internal'""",
  ["acme-prod.crm.Customers"])
q("bq-merge", "bigquery", """
MERGE `acme-prod.dw.dim_users` T
USING (SELECT * FROM `acme-prod.staging.users_delta`) S
ON T.user_id = S.user_id
WHEN MATCHED THEN UPDATE SET email = S.email
WHEN NOT MATCHED THEN INSERT (user_id, email) VALUES (S.user_id, S.email)""",
  ["acme-prod.staging.users_delta"], ["acme-prod.dw.dim_users"])
q("bq-insert-select", "bigquery", """
INSERT INTO `acme-prod.dw.daily_revenue` (day, revenue)
SELECT DATE(created_at), SUM(amount) FROM `acme-prod.raw.payments` WHERE DATE(created_at) = DATE_SUB(CURRENT_DATE(), INTERVAL 1 DAY) GROUP BY 1""",
  ["acme-prod.raw.payments"], ["acme-prod.dw.daily_revenue"])
q("bq-create-or-replace", "bigquery", """
CREATE OR REPLACE TABLE `acme-prod.marts.user_ltv` PARTITION BY DATE(first_seen) AS
SELECT user_id, MIN(ts) AS first_seen, SUM(revenue) AS ltv FROM `acme-prod.dw.fct_revenue` GROUP BY user_id""",
  ["acme-prod.dw.fct_revenue"], ["acme-prod.marts.user_ltv"])
q("bq-except-qualify", "bigquery", """
SELECT * EXCEPT (rn) FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY id ORDER BY _loaded_at DESC) AS rn FROM `acme-prod.raw.hubspot_contacts`) WHERE rn = 1""",
  ["acme-prod.raw.hubspot_contacts"])
q("bq-array-subquery", "bigquery", """
SELECT o.id, ARRAY(SELECT AS STRUCT li.sku, li.qty FROM `shop-prod.sales.line_items` li WHERE li.order_id = o.id) AS lines
FROM `shop-prod.sales.orders` o WHERE o.id IN UNNEST(@order_ids)""", ["shop-prod.sales.line_items", "shop-prod.sales.orders"])
q("bq-delete", "bigquery", """
DELETE FROM `acme-prod.dw.fct_events` WHERE event_date < DATE_SUB(CURRENT_DATE(), INTERVAL 400 DAY)""",
  [], ["acme-prod.dw.fct_events"])
q("bq-table-storage", "bigquery", """
SELECT table_schema, table_name, total_logical_bytes FROM `acme-prod`.`region-us`.INFORMATION_SCHEMA.TABLE_STORAGE ORDER BY total_logical_bytes DESC LIMIT 20""",
  ["acme-prod.region-us.INFORMATION_SCHEMA.TABLE_STORAGE"])
q("bq-dataset-qualified", "bigquery", """
SELECT s.store_id, SUM(s.amount) FROM retail.sales AS s JOIN retail.stores AS st ON st.id = s.store_id GROUP BY 1""",
  ["retail.sales", "retail.stores"], note="no project in the text: dataset.table as written")

# --- Postgres pg_stat_statements ------------------------------------------
q("pgss-params-casts", "postgres", """
SELECT id, payload::jsonb ->> $1 AS kind FROM public.webhook_events WHERE received_at > $2::timestamptz AND status = ANY($3::text[]) ORDER BY received_at LIMIT $4""",
  ["public.webhook_events"])
q("pgss-upsert-returning", "postgres", """
INSERT INTO public.user_settings (user_id, key, value) VALUES ($1, $2, $3)
ON CONFLICT (user_id, key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()
RETURNING id""", [], ["public.user_settings"])
q("pgss-copy-from", "postgres", "COPY public.events_staging (id, ts, payload) FROM STDIN WITH (FORMAT csv)",
  [], ["public.events_staging"], note="COPY … FROM loads rows into the table: a write")
q("pgss-copy-to", "postgres", "COPY (SELECT id, email FROM public.users WHERE deleted_at IS NULL) TO STDOUT WITH CSV HEADER",
  ["public.users"])
q("pgss-copy-table-to", "postgres", "COPY public.audit_log TO STDOUT", ["public.audit_log"],
  note="COPY table TO reads the table")
q("pgss-recursive", "postgres", """
WITH RECURSIVE chain AS (
  SELECT id, manager_id, 1 AS depth FROM hr.employees WHERE id = $1
  UNION ALL
  SELECT e.id, e.manager_id, c.depth + 1 FROM hr.employees e JOIN chain c ON e.id = c.manager_id)
SELECT * FROM chain""", ["hr.employees"])
q("pgss-lateral", "postgres", """
SELECT u.id, last.created_at FROM users u
CROSS JOIN LATERAL (SELECT o.created_at FROM orders o WHERE o.user_id = u.id ORDER BY o.created_at DESC LIMIT $1) last
WHERE u.org_id = $2""", ["orders", "users"])
q("pgss-distinct-on", "postgres", """
SELECT DISTINCT ON (device_id) device_id, reading, taken_at FROM telemetry.readings WHERE taken_at > now() - $1::interval ORDER BY device_id, taken_at DESC""",
  ["telemetry.readings"])
q("pgss-update-from", "postgres", """
UPDATE inventory.stock s SET quantity = s.quantity - o.qty FROM shop.order_lines o WHERE o.sku = s.sku AND o.order_id = $1""",
  ["shop.order_lines"], ["inventory.stock"])
q("pgss-delete-using", "postgres", """
DELETE FROM sessions USING users WHERE sessions.user_id = users.id AND users.disabled_at IS NOT NULL""",
  ["users"], ["sessions"])
q("pgss-writable-cte", "postgres", """
WITH moved AS (DELETE FROM queue.jobs WHERE finished_at < now() - interval '7 days' RETURNING *)
INSERT INTO archive.jobs SELECT * FROM moved""", [], ["archive.jobs", "queue.jobs"],
  note="the DELETE in the CTE writes queue.jobs; what the INSERT reads is the CTE")
q("pgss-generate-series", "postgres", """
SELECT d::date AS day, count(o.id) FROM generate_series($1::date, $2::date, interval '1 day') d
LEFT JOIN orders o ON o.created_at::date = d::date GROUP BY 1 ORDER BY 1""", ["orders"])
q("pgss-pg-catalog", "postgres", """
SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = $2""",
  ["pg_catalog.pg_class", "pg_catalog.pg_namespace"])
q("pgss-exists-not-in", "postgres", """
SELECT a.id FROM accounts a WHERE NOT EXISTS (SELECT 1 FROM invoices i WHERE i.account_id = a.id AND i.paid_at IS NULL) AND a.id NOT IN (SELECT account_id FROM blocked_accounts)""",
  ["accounts", "blocked_accounts", "invoices"])
q("pgss-truncate", "postgres", "TRUNCATE TABLE staging.raw_clicks", [], ["staging.raw_clicks"],
  note="TRUNCATE removes every row: a write")
q("pgss-mixed-case", "postgres", """
SELECT "Id", "DisplayName" FROM "Accounts"."UserProfiles" up JOIN Accounts.Memberships m ON m.profile_id = up."Id" WHERE m.team_id = $1""",
  ["Accounts.UserProfiles", "accounts.memberships"], note="quoted names keep their case, unquoted ones fold to lower")
q("pgss-insert-select", "postgres", """
INSERT INTO reporting.daily_signups (day, signups) SELECT created_at::date, count(*) FROM public.users WHERE created_at >= $1 GROUP BY 1""",
  ["public.users"], ["reporting.daily_signups"])
q("pgss-create-mat-view", "postgres", """
CREATE MATERIALIZED VIEW reporting.mv_active_users AS SELECT org_id, count(*) AS n FROM public.users WHERE last_seen_at > now() - interval '30 days' GROUP BY org_id""",
  ["public.users"], ["reporting.mv_active_users"])

# --- MySQL -----------------------------------------------------------------
q("mysql-upsert", "mysql", """
INSERT INTO `shop`.`carts` (`user_id`, `sku`, `qty`) VALUES (42, 'SKU-123', 1) ON DUPLICATE KEY UPDATE `qty` = `qty` + VALUES(`qty`)""",
  [], ["shop.carts"])
q("mysql-replace", "mysql", """
REPLACE INTO `cache`.`user_stats` (`user_id`, `orders`) SELECT `user_id`, COUNT(*) FROM `shop`.`orders` GROUP BY `user_id`""",
  ["shop.orders"], ["cache.user_stats"])
q("mysql-update-join", "mysql", """
UPDATE `shop`.`orders` o JOIN `shop`.`payments` p ON p.order_id = o.id SET o.status = 'paid' WHERE p.state = 'captured'""",
  ["shop.payments"], ["shop.orders"], note="a multi-table UPDATE writes only the table whose columns it SETs")
q("mysql-delete-join", "mysql", """
DELETE s FROM `web`.`sessions` s JOIN `web`.`users` u ON u.id = s.user_id WHERE u.banned = 1""",
  ["web.users"], ["web.sessions"], note="DELETE s FROM … deletes from the table aliased s only")
q("mysql-limit-offset", "mysql", """
SELECT `p`.`id`, `p`.`title` FROM `cms`.`posts` `p` WHERE `p`.`published` = 1 ORDER BY `p`.`created_at` DESC LIMIT 20, 20""",
  ["cms.posts"])
q("mysql-information-schema", "mysql", """
SELECT table_name, table_rows, data_length FROM information_schema.tables WHERE table_schema = 'shop' ORDER BY data_length DESC""",
  ["information_schema.tables"])
q("mysql-group-concat", "mysql", """
SELECT o.customer_id, GROUP_CONCAT(DISTINCT i.sku ORDER BY i.sku SEPARATOR ',') AS skus
FROM shop.orders o INNER JOIN shop.order_items i ON i.order_id = o.id
WHERE o.created_at >= DATE_SUB(NOW(), INTERVAL 90 DAY) GROUP BY o.customer_id""", ["shop.order_items", "shop.orders"])
q("mysql-unqualified-mixed", "mysql", """
SELECT * FROM Users WHERE email = 'someone@example.org' LIMIT 1""", ["Users"],
  note="MySQL table-name case depends on the server's file system: kept as written")

# --- Redshift ----------------------------------------------------------------
q("rs-unload", "redshift", """
UNLOAD ('SELECT * FROM analytics.fct_orders WHERE order_date >= ''2024-01-01''') TO 's3://acme-exports/orders/' IAM_ROLE 'arn:aws:iam::123456789012:role/redshift-unload' FORMAT AS PARQUET""",
  ["analytics.fct_orders"], note="the query UNLOAD runs is a string literal; its tables are still what the statement reads")
q("rs-copy", "redshift", """
COPY staging.clicks FROM 's3://acme-landing/clicks/2024/06/' IAM_ROLE 'arn:aws:iam::123456789012:role/redshift-load' FORMAT AS JSON 'auto' GZIP""",
  [], ["staging.clicks"], note="COPY … FROM loads rows into the table: a write")
q("rs-create-distkey", "redshift", """
CREATE TABLE IF NOT EXISTS analytics.fct_pageviews (view_id BIGINT IDENTITY(1,1), user_id BIGINT, url VARCHAR(2048), viewed_at TIMESTAMP)
DISTSTYLE KEY DISTKEY (user_id) COMPOUND SORTKEY (viewed_at, user_id)""",
  [], ["analytics.fct_pageviews"], note="DDL that creates a table is reported as writing it")
q("rs-ctas-diststyle", "redshift", """
CREATE TABLE analytics.user_first_touch DISTSTYLE EVEN SORTKEY (first_seen) AS
SELECT user_id, MIN(viewed_at) AS first_seen FROM analytics.fct_pageviews GROUP BY user_id""",
  ["analytics.fct_pageviews"], ["analytics.user_first_touch"])
q("rs-stl-scan", "redshift", """
SELECT TRIM(s.perm_table_name) AS table_name, COUNT(DISTINCT s.query) AS queries
FROM stl_scan s JOIN svv_table_info t ON t.table_id = s.tbl
WHERE s.starttime > DATEADD(day, -7, GETDATE()) GROUP BY 1 ORDER BY 2 DESC""", ["stl_scan", "svv_table_info"])
q("rs-listagg-approx", "redshift", """
SELECT region, APPROXIMATE COUNT(DISTINCT user_id) AS users, LISTAGG(DISTINCT plan, ',') WITHIN GROUP (ORDER BY plan) AS plans
FROM Public.Subscriptions GROUP BY region""", ["public.subscriptions"])
q("rs-delete-using", "redshift", """
DELETE FROM analytics.fct_sales USING staging.sales_delta WHERE fct_sales.sale_id = sales_delta.sale_id""",
  ["staging.sales_delta"], ["analytics.fct_sales"])
q("rs-insert-select-upper", "redshift", """
INSERT INTO Analytics.Daily_Kpis SELECT CURRENT_DATE, COUNT(*) FROM Analytics.Fct_Orders WHERE order_date = CURRENT_DATE - 1""",
  ["analytics.fct_orders"], ["analytics.daily_kpis"])

# --- Databricks ----------------------------------------------------------------
q("dbx-merge-backticks", "databricks", """
MERGE INTO `main`.`silver`.`customers` AS t
USING `main`.`bronze`.`customers_cdc` AS s
ON t.customer_id = s.customer_id
WHEN MATCHED AND s.op = 'DELETE' THEN DELETE
WHEN MATCHED THEN UPDATE SET *
WHEN NOT MATCHED THEN INSERT *""", ["main.bronze.customers_cdc"], ["main.silver.customers"])
q("dbx-optimize", "databricks", "OPTIMIZE main.gold.fct_orders ZORDER BY (customer_id, order_date)",
  [], ["main.gold.fct_orders"], note="OPTIMIZE rewrites the table's files: reported as a write")
q("dbx-insert-overwrite-partition", "databricks", """
INSERT OVERWRITE TABLE main.silver.events PARTITION (dt = '2024-06-01')
SELECT event_id, user_id, name, ts FROM main.bronze.raw_events WHERE dt = '2024-06-01' AND name IS NOT NULL""",
  ["main.bronze.raw_events"], ["main.silver.events"])
q("dbx-ctas-delta", "databricks", """
CREATE OR REPLACE TABLE main.gold.daily_orders USING DELTA AS
SELECT order_date, COUNT(*) AS orders, SUM(amount) AS revenue FROM main.silver.orders GROUP BY order_date""",
  ["main.silver.orders"], ["main.gold.daily_orders"])
q("dbx-lateral-view", "databricks", """
SELECT o.order_id, item.sku, item.qty FROM main.silver.orders o LATERAL VIEW explode(o.items) t AS item WHERE o.order_date >= '2024-01-01'""",
  ["main.silver.orders"])
q("dbx-time-travel", "databricks", """
SELECT COUNT(*) FROM main.silver.orders VERSION AS OF 42""", ["main.silver.orders"])
q("dbx-mixed-case", "databricks", """
SELECT c.Region, SUM(o.Amount) FROM Main.Sales.Orders o JOIN `Main`.`Sales`.`Customers` c ON c.Id = o.CustomerId GROUP BY c.Region""",
  ["main.sales.customers", "main.sales.orders"],
  note="Unity Catalog and the Hive metastore store catalog, schema and table names in lower case, quoted or not")
q("dbx-window-qualify", "databricks", """
SELECT * FROM main.silver.sessions QUALIFY row_number() OVER (PARTITION BY user_id ORDER BY started_at DESC) = 1""",
  ["main.silver.sessions"])
q("dbx-cte-union", "databricks", """
WITH web AS (SELECT user_id, ts FROM main.bronze.web_events), app AS (SELECT user_id, ts FROM main.bronze.app_events)
SELECT user_id, MIN(ts) AS first_seen FROM (SELECT * FROM web UNION ALL SELECT * FROM app) all_events GROUP BY user_id""",
  ["main.bronze.app_events", "main.bronze.web_events"])
q("dbx-hive-two-part", "databricks", """
SELECT date_format(ts, 'yyyy-MM') AS month, count(*) FROM default.clickstream WHERE ts >= current_date() - INTERVAL 90 DAYS GROUP BY 1""",
  ["default.clickstream"])
q("dbx-delete", "databricks", "DELETE FROM main.silver.events WHERE dt < date_sub(current_date(), 730)",
  [], ["main.silver.events"])

# --- SQL Server --------------------------------------------------------------
q("mssql-temp-table-flow", "mssql", """
SELECT CustomerID, SUM(TotalDue) AS Total INTO #big_customers FROM Sales.SalesOrderHeader GROUP BY CustomerID HAVING SUM(TotalDue) > 100000;
SELECT c.CustomerID, p.LastName FROM #big_customers b JOIN Sales.Customer c ON c.CustomerID = b.CustomerID JOIN Person.Person p ON p.BusinessEntityID = c.PersonID;
DROP TABLE #big_customers;""",
  ["Sales.SalesOrderHeader", "#big_customers", "Person.Person", "Sales.Customer"], ["#big_customers"], multi=True,
  note="temp tables are reported by their # name; DROP reads and writes no rows")
q("mssql-nolock-top", "mssql", """
SELECT TOP 100 o.OrderID, o.OrderDate, c.CompanyName FROM dbo.Orders o WITH (NOLOCK) INNER JOIN dbo.Customers c WITH (NOLOCK) ON c.CustomerID = o.CustomerID ORDER BY o.OrderDate DESC""",
  ["dbo.Customers", "dbo.Orders"])
q("mssql-cross-apply", "mssql", """
SELECT c.Id, x.LastOrder FROM [crm].[Customers] c CROSS APPLY (SELECT TOP 1 o.CreatedAt AS LastOrder FROM [crm].[Orders] o WHERE o.CustomerId = c.Id ORDER BY o.CreatedAt DESC) x""",
  ["crm.Customers", "crm.Orders"])
q("mssql-three-part", "mssql", """
SELECT s.StoreKey, SUM(s.SalesAmount) FROM [ContosoDW].[dbo].[FactSales] s JOIN ContosoDW.dbo.DimStore d ON d.StoreKey = s.StoreKey GROUP BY s.StoreKey""",
  ["ContosoDW.dbo.DimStore", "ContosoDW.dbo.FactSales"])
q("mssql-update-join", "mssql", """
UPDATE p SET p.ListPrice = p.ListPrice * 1.05 FROM Production.Product p INNER JOIN Production.ProductSubcategory s ON s.ProductSubcategoryID = p.ProductSubcategoryID WHERE s.Name = N'Road Bikes'""",
  ["Production.ProductSubcategory"], ["Production.Product"],
  note="UPDATE alias FROM … writes the table the alias names")
q("mssql-merge-output", "mssql", """
MERGE [dw].[DimCustomer] AS target USING [stage].[Customer] AS source ON target.CustomerKey = source.CustomerKey
WHEN MATCHED THEN UPDATE SET target.Email = source.Email
WHEN NOT MATCHED BY TARGET THEN INSERT (CustomerKey, Email) VALUES (source.CustomerKey, source.Email);""",
  ["stage.Customer"], ["dw.DimCustomer"])
q("mssql-insert-output", "mssql", """
INSERT INTO dbo.AuditLog (UserId, Action) OUTPUT inserted.Id VALUES (@UserId, @Action)""", [], ["dbo.AuditLog"])
q("mssql-delete-top", "mssql", "DELETE TOP (5000) FROM dbo.EventQueue WHERE ProcessedAt < DATEADD(day, -30, SYSUTCDATETIME())",
  [], ["dbo.EventQueue"])
q("mssql-cte-rownumber", "mssql", """
WITH ranked AS (SELECT ProductID, Name, ROW_NUMBER() OVER (PARTITION BY ProductSubcategoryID ORDER BY ListPrice DESC) AS rn FROM Production.Product)
SELECT ProductID, Name FROM ranked WHERE rn <= 3""", ["Production.Product"])
q("mssql-sys-dmv", "mssql", """
SELECT TOP 20 qs.total_worker_time, st.text FROM sys.dm_exec_query_stats qs CROSS APPLY sys.dm_exec_sql_text(qs.sql_handle) st ORDER BY qs.total_worker_time DESC""",
  ["sys.dm_exec_query_stats"], note="sys.dm_exec_sql_text is a table-valued function, not a table")
q("mssql-global-temp", "mssql", """
INSERT INTO ##staging_rates (Currency, Rate) SELECT Currency, Rate FROM fx.DailyRates WHERE RateDate = CAST(GETDATE() AS date)""",
  ["fx.DailyRates"], ["##staging_rates"])

# --- Generic warehouse shapes ------------------------------------------------
q("generic-funnel", "generic", """
WITH step1 AS (SELECT user_id, MIN(ts) AS t1 FROM events.raw WHERE name = 'signup_started' GROUP BY user_id),
     step2 AS (SELECT e.user_id, MIN(e.ts) AS t2 FROM events.raw e JOIN step1 s ON s.user_id = e.user_id AND e.ts > s.t1 WHERE e.name = 'signup_completed' GROUP BY e.user_id)
SELECT COUNT(*) AS started, COUNT(step2.user_id) AS completed FROM step1 LEFT JOIN step2 ON step2.user_id = step1.user_id""",
  ["events.raw"])
q("generic-cte-shadows-table", "generic", """
WITH orders AS (SELECT * FROM sales.orders WHERE status = 'complete') SELECT COUNT(*) FROM orders""",
  ["sales.orders"], note="the CTE named orders hides no table: only sales.orders is read")
q("generic-scalar-subqueries", "generic", """
SELECT (SELECT COUNT(*) FROM app.users) AS users, (SELECT COUNT(*) FROM app.teams) AS teams, (SELECT MAX(created_at) FROM app.audit) AS last_audit""",
  ["app.audit", "app.teams", "app.users"])
q("generic-union-distinct", "generic", """
SELECT email FROM crm.leads WHERE source = 'webinar' UNION SELECT email FROM crm.contacts WHERE opted_in = TRUE EXCEPT SELECT email FROM crm.unsubscribed""",
  ["crm.contacts", "crm.leads", "crm.unsubscribed"])
q("generic-nested-join-parens", "generic", """
SELECT a.id FROM (core.accounts a LEFT JOIN core.plans p ON p.id = a.plan_id) JOIN core.regions r ON r.id = a.region_id WHERE p.tier = 'enterprise'""",
  ["core.accounts", "core.plans", "core.regions"])


def main():
    ids = [e["id"] for e in OUT]
    assert len(ids) == len(set(ids)), "duplicate ids"
    for e in OUT:
        print(json.dumps(e))


if __name__ == "__main__":
    main()
