#!/usr/bin/env python3
"""Writes tpcds.jsonl: the 99 TPC-DS queries (103 texts: 14, 23, 24 and 39
come in a and b forms) in Spark SQL, with the base tables each reads.

Source of the texts: github.com/databricks/spark-sql-perf, commit
28d88190f6a5f6698d32eaf4092334c41180b806, src/main/resources/tpcds_2_4/qN.sql
(the TPC-DS 2.4 queries with the validation parameters, as Spark's own
sql/core/src/test/resources/tpcds/ holds them). Each text is taken as is
(its `--qN.sql--` first line included), only trimmed at both ends.

TABLES below was checked by hand, query by query, against the texts: the
base tables named in FROM / JOIN at any depth (subqueries, CTE bodies,
set operations), minus CTE names and derived-table aliases (q49 and q51
alias derived tables `store` / `catalog`, which are not reads of the
`store` table), each listed once. Never copied from the analyzer.

  git clone https://github.com/databricks/spark-sql-perf /tmp/spark-sql-perf
  git -C /tmp/spark-sql-perf checkout 28d88190f6a5f6698d32eaf4092334c41180b806
  python3 tests/data/sql/make_tpcds.py /tmp/spark-sql-perf > tests/data/sql/tpcds.jsonl
"""
import json
import os
import sys

SS, SR, CS, CR, WS, WR = "store_sales", "store_returns", "catalog_sales", "catalog_returns", "web_sales", "web_returns"
D, I, S, C, CA, CD, HD = "date_dim", "item", "store", "customer", "customer_address", "customer_demographics", "household_demographics"
P, W, T, INV, SM, CC, CP, WP, WEB, R, IB = ("promotion", "warehouse", "time_dim", "inventory", "ship_mode", "call_center",
                                           "catalog_page", "web_page", "web_site", "reason", "income_band")

TABLES = {
    "q1": [SR, D, S, C],
    "q2": [WS, CS, D],
    "q3": [D, SS, I],
    "q4": [C, SS, D, CS, WS],
    "q5": [SS, SR, D, S, CS, CR, CP, WS, WR, WEB],
    "q6": [CA, C, SS, D, I],
    "q7": [SS, CD, D, I, P],
    "q8": [SS, D, S, CA, C],
    "q9": [SS, R],
    "q10": [C, CA, CD, SS, D, WS, CS],
    "q11": [C, SS, D, WS],
    "q12": [WS, I, D],
    "q13": [SS, S, CD, HD, CA, D],
    "q14a": [I, SS, D, CS, WS],
    "q14b": [I, SS, D, CS, WS],
    "q15": [CS, C, CA, D],
    "q16": [CS, D, CA, CC, CR],
    "q17": [SS, SR, CS, D, S, I],
    "q18": [CS, CD, C, CA, D, I],
    "q19": [D, SS, I, C, CA, S],
    "q20": [CS, I, D],
    "q21": [INV, W, I, D],
    "q22": [INV, D, I, W],
    "q23a": [SS, D, I, C, CS, WS],
    "q23b": [SS, D, I, C, CS, WS],
    "q24a": [SS, SR, S, I, C, CA],
    "q24b": [SS, SR, S, I, C, CA],
    "q25": [SS, SR, CS, D, S, I],
    "q26": [CS, CD, D, I, P],
    "q27": [SS, CD, D, S, I],
    "q28": [SS],
    "q29": [SS, SR, CS, D, S, I],
    "q30": [WR, D, CA, C],
    "q31": [SS, D, CA, WS],
    "q32": [CS, I, D],
    "q33": [SS, D, CA, I, CS, WS],
    "q34": [SS, D, S, HD, C],
    "q35": [C, CA, CD, SS, D, WS, CS],
    "q36": [SS, D, I, S],
    "q37": [I, INV, D, CS],
    "q38": [SS, D, C, CS, WS],
    "q39a": [INV, I, W, D],
    "q39b": [INV, I, W, D],
    "q40": [CS, CR, W, I, D],
    "q41": [I],
    "q42": [D, SS, I],
    "q43": [D, SS, S],
    "q44": [SS, I],
    "q45": [WS, C, CA, D, I],
    "q46": [SS, D, S, HD, CA, C],
    "q47": [I, SS, D, S],
    "q48": [SS, S, CD, CA, D],
    "q49": [WS, WR, D, CS, CR, SS, SR],
    "q50": [SS, SR, S, D],
    "q51": [WS, D, SS],
    "q52": [D, SS, I],
    "q53": [I, SS, D, S],
    "q54": [CS, WS, I, D, C, SS, CA, S],
    "q55": [D, SS, I],
    "q56": [SS, D, CA, I, CS, WS],
    "q57": [I, CS, D, CC],
    "q58": [SS, I, D, CS, WS],
    "q59": [SS, D, S],
    "q60": [SS, D, CA, I, CS, WS],
    "q61": [SS, S, P, D, C, CA, I],
    "q62": [WS, W, SM, WEB, D],
    "q63": [I, SS, D, S],
    "q64": [CS, CR, SS, SR, D, S, C, CD, P, HD, CA, IB, I],
    "q65": [S, I, SS, D],
    "q66": [WS, W, D, T, SM, CS],
    "q67": [SS, D, S, I],
    "q68": [SS, D, S, HD, CA, C],
    "q69": [C, CA, CD, SS, D, WS, CS],
    "q70": [SS, D, S],
    "q71": [I, WS, D, CS, SS, T],
    "q72": [CS, INV, W, I, CD, HD, D, P, CR],
    "q73": [SS, D, S, HD, C],
    "q74": [C, SS, D, WS],
    "q75": [CS, I, D, CR, SS, SR, WS, WR],
    "q76": [SS, I, D, WS, CS],
    "q77": [SS, D, S, SR, CS, CR, WS, WP, WR],
    "q78": [WS, WR, D, CS, CR, SS, SR],
    "q79": [SS, D, S, HD, C],
    "q80": [SS, SR, D, S, I, P, CS, CR, CP, WS, WR, WEB],
    "q81": [CR, D, CA, C],
    "q82": [I, INV, D, SS],
    "q83": [SR, I, D, CR, WR],
    "q84": [C, CA, CD, HD, IB, SR],
    "q85": [WS, WR, WP, CD, CA, D, R],
    "q86": [WS, D, I],
    "q87": [SS, D, C, CS, WS],
    "q88": [SS, HD, T, S],
    "q89": [I, SS, D, S],
    "q90": [WS, HD, T, WP],
    "q91": [CC, CR, D, C, CA, CD, HD],
    "q92": [WS, I, D],
    "q93": [SS, SR, R],
    "q94": [WS, D, CA, WEB, WR],
    "q95": [WS, D, CA, WEB, WR],
    "q96": [SS, HD, T, S],
    "q97": [SS, D, CS],
    "q98": [SS, I, D],
    "q99": [CS, W, SM, CC, D],
}


def main():
    root = sys.argv[1]
    for name, tables in TABLES.items():
        with open(os.path.join(root, "src/main/resources/tpcds_2_4", f"{name}.sql")) as fh:
            sql = fh.read().strip()
        assert len(set(tables)) == len(tables), name
        print(json.dumps({"id": f"tpcds-{name}", "dialect": "databricks", "sql": sql,
                          "tables": sorted(tables), "written_tables": []}))


if __name__ == "__main__":
    main()
