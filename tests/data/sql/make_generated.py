#!/usr/bin/env python3
"""Writes generated.jsonl: warehouse-log shaped queries (filters, joins, CTEs,
derived tables, IN / EXISTS subqueries, unions, windows, INSERT … SELECT,
CREATE TABLE … AS) across all 8 dialects and their quoting and case rules.

The expected tables come from how each query is built (which table names a
template was given, after the dialect's case folding), never from running
the analyzer, so the corpus test checks the analyzer against construction.

  python3 tests/data/sql/make_generated.py > tests/data/sql/generated.jsonl
"""
import itertools
import json

# Per dialect: (as written in SQL, as the analyzer must report it).
NAMES = {
    "generic": [("sales.orders", "sales.orders"), ("sales.customers", "sales.customers"),
                ("ref.regions", "ref.regions"), ("web.sessions", "web.sessions"), ("mart.daily_kpis", "mart.daily_kpis")],
    "postgres": [("public.orders", "public.orders"), ("App.Users", "app.users"),
                 ('"Audit"."Events"', "Audit.Events"), ("billing.invoices", "billing.invoices"), ("mart.Daily", "mart.daily")],
    "snowflake": [("raw.shop.orders", "RAW.SHOP.ORDERS"), ("raw.shop.customers", "RAW.SHOP.CUSTOMERS"),
                  ('"Raw"."Web"."Sessions"', "Raw.Web.Sessions"), ("analytics.public.regions", "ANALYTICS.PUBLIC.REGIONS"),
                  ("marts.kpis", "MARTS.KPIS")],
    "bigquery": [("`proj-1.shop.orders`", "proj-1.shop.orders"), ("`proj-1.shop.customers`", "proj-1.shop.customers"),
                 ("analytics.sessions", "analytics.sessions"), ("`proj-2.ref.Regions`", "proj-2.ref.Regions"),
                 ("marts.kpis", "marts.kpis")],
    "mysql": [("`shop`.`orders`", "shop.orders"), ("shop.customers", "shop.customers"),
              ("`web`.`Sessions`", "web.Sessions"), ("ref.regions", "ref.regions"), ("mart.kpis", "mart.kpis")],
    "redshift": [("public.orders", "public.orders"), ("Sales.Customers", "sales.customers"),
                 ("web.sessions", "web.sessions"), ('"Ref"."Regions"', "Ref.Regions"), ("mart.kpis", "mart.kpis")],
    "databricks": [("main.bronze.orders", "main.bronze.orders"), ("`main`.`silver`.`customers`", "main.silver.customers"),
                   ("hive_metastore.web.sessions", "hive_metastore.web.sessions"), ("main.ref.regions", "main.ref.regions"),
                   ("main.gold.kpis", "main.gold.kpis")],
    "mssql": [("[dbo].[Orders]", "dbo.Orders"), ("dbo.Customers", "dbo.Customers"),
              ("[web].[Sessions]", "web.Sessions"), ("ref.Regions", "ref.Regions"), ("[mart].[Kpis]", "mart.Kpis")],
}

# Each template: (id, sql with {a} {b} {c} read tables and {w} the written
# one, read placeholders used, whether {w} is written, dialects it is not for).
TEMPLATES = [
    ("filter", "SELECT id, status, amount FROM {a} WHERE status = 'shipped' AND amount > 250.75 AND note <> 'n/a'", "a", False, ()),
    ("join", "SELECT x.region_id, SUM(y.amount) AS total FROM {a} x JOIN {b} y ON x.id = y.customer_id "
             "WHERE y.created_at >= '2024-03-01' GROUP BY x.region_id HAVING SUM(y.amount) > 1000", "ab", False, ()),
    ("cte", "WITH recent AS (SELECT * FROM {a} WHERE created_at > '2024-02-01') SELECT r.customer_id, COUNT(*) AS n "
            "FROM recent r LEFT JOIN {b} d ON d.id = r.customer_id GROUP BY r.customer_id", "ab", False, ()),
    ("derived", "SELECT s.customer_id, s.top FROM (SELECT customer_id, MAX(amount) AS top FROM {a} GROUP BY customer_id) s "
                "WHERE s.top > 99", "a", False, ()),
    ("in_subquery", "SELECT id, email FROM {a} WHERE id IN (SELECT customer_id FROM {b} WHERE status = 'open') "
                    "AND tier IN ('gold', 'silver', 'bronze')", "ab", False, ()),
    ("exists", "SELECT o.id FROM {a} o WHERE EXISTS (SELECT 1 FROM {b} i WHERE i.order_id = o.id AND i.qty > 3) "
               "AND NOT EXISTS (SELECT 1 FROM {c} r WHERE r.id = o.region_id AND r.name = 'closed')", "abc", False, ()),
    ("union", "SELECT id, 'a' AS src FROM {a} WHERE kind = 'x' UNION ALL SELECT id, 'b' FROM {b} WHERE kind = 'y'", "ab", False, ()),
    ("window", "SELECT id, ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY created_at DESC) AS rn, "
               "SUM(amount) OVER (PARTITION BY customer_id) AS spend FROM {a} WHERE amount BETWEEN 10 AND 20000", "a", False, ()),
    ("three_way", "SELECT c.name, r.name AS region, COUNT(o.id) AS orders FROM {a} o JOIN {b} c ON c.id = o.customer_id "
                  "JOIN {c} r ON r.id = c.region_id WHERE o.status <> 'void' GROUP BY c.name, r.name", "abc", False, ()),
    ("cte_chain", "WITH base AS (SELECT customer_id, amount FROM {a} WHERE amount > 0), "
                  "joined AS (SELECT b.customer_id, b.amount, c.tier FROM base b JOIN {b} c ON c.id = b.customer_id) "
                  "SELECT tier, AVG(amount) FROM joined GROUP BY tier", "ab", False, ()),
    ("insert_select", "INSERT INTO {w} (customer_id, total) SELECT customer_id, SUM(amount) FROM {a} "
                      "WHERE created_at < '2024-06-30' GROUP BY customer_id", "a", True, ()),
    ("ctas", "CREATE TABLE {w} AS SELECT o.customer_id, COUNT(*) AS n FROM {a} o JOIN {b} c ON c.id = o.customer_id "
             "WHERE c.country = 'DE' GROUP BY o.customer_id", "ab", True, ("mssql",)),
]

# Which of the dialect's five names play a, b, c (w is always the fifth).
ROLES = [(0, 1, 3), (1, 0, 2), (2, 3, 0)]


def main():
    for dialect, names in NAMES.items():
        for (tid, sql, reads, writes, skip), (ia, ib, ic) in itertools.product(TEMPLATES, ROLES):
            if dialect in skip:
                continue
            slots = {"a": names[ia], "b": names[ib], "c": names[ic], "w": names[4]}
            text = sql.format(**{k: v[0] for k, v in slots.items()})
            tables = sorted({slots[r][1] for r in reads})
            written = [slots["w"][1]] if writes else []
            print(json.dumps({"id": f"gen-{dialect}-{tid}-{ia}{ib}{ic}", "dialect": dialect, "sql": text,
                              "tables": tables, "written_tables": written}))


if __name__ == "__main__":
    main()
