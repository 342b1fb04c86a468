#!/usr/bin/env python3
"""SQL pipeline benchmark: usagelake vs sqlglot on the same corpus.

usagelake: `cargo bench --bench sql` (release, single thread): anonymize +
fingerprint + tables + columns per query (tests/data/sql/*.jsonl).
sqlglot (compiled build, `pip install "sqlglot[c]"`), the same work per
query: parse in the query's dialect, replace every literal with a
placeholder, generate the SQL, hash it, collect tables, and resolve columns
to their tables with sqlglot's `qualify` pass (as DataHub does for column
lineage) since ours resolves them through aliases, subqueries and CTEs.

  python3 bench/sql.py
"""
import hashlib
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "tests", "data", "sql")
DIALECTS = {"generic": None, "postgres": "postgres", "snowflake": "snowflake", "bigquery": "bigquery",
            "mysql": "mysql", "redshift": "redshift", "databricks": "databricks", "mssql": "tsql"}


# TPC-H's columns, so sqlglot can resolve correlated subqueries (without a
# schema it raises on them); ours resolves what the text allows without one.
TPCH_SCHEMA = {
    "lineitem": "l_orderkey l_partkey l_suppkey l_linenumber l_quantity l_extendedprice l_discount l_tax "
                "l_returnflag l_linestatus l_shipdate l_commitdate l_receiptdate l_shipinstruct l_shipmode l_comment",
    "orders": "o_orderkey o_custkey o_orderstatus o_totalprice o_orderdate o_orderpriority o_clerk "
              "o_shippriority o_comment",
    "customer": "c_custkey c_name c_address c_nationkey c_phone c_acctbal c_mktsegment c_comment",
    "part": "p_partkey p_name p_mfgr p_brand p_type p_size p_container p_retailprice p_comment",
    "partsupp": "ps_partkey ps_suppkey ps_availqty ps_supplycost ps_comment",
    "supplier": "s_suppkey s_name s_address s_nationkey s_phone s_acctbal s_comment",
    "nation": "n_nationkey n_name n_regionkey n_comment",
    "region": "r_regionkey r_name r_comment",
}
TPCH_SCHEMA = {t: {c: "TEXT" for c in cols.split()} for t, cols in TPCH_SCHEMA.items()}


def corpus(files):
    out = []
    for f in files:
        with open(os.path.join(DATA, f)) as fh:
            out += [json.loads(l) for l in fh if l.strip()]
    return out


def sqlglot_rate(queries):
    import sqlglot
    from sqlglot import exp
    from sqlglot.optimizer.qualify import qualify

    failures = set()

    def one(q):
        try:
            work(q)
        except Exception:  # sqlglot raises on some templated texts (Metabase [[ ]])
            failures.add(q["id"])

    def work(q):
        for tree in sqlglot.parse(q["sql"], read=DIALECTS[q["dialect"]], error_level=sqlglot.ErrorLevel.IGNORE):
            if tree is None:
                continue
            anonymized = tree.transform(
                lambda n: exp.Placeholder() if isinstance(n, exp.Literal) else n, copy=True
            ).sql(dialect=DIALECTS[q["dialect"]])
            hashlib.blake2b(anonymized.lower().encode(), digest_size=8).hexdigest()
            sorted({t.sql() for t in tree.find_all(exp.Table)})
            # Columns resolved to their tables through aliases, subqueries
            # and CTEs, as ours are: sqlglot's qualify pass (what DataHub uses).
            qualified = qualify(tree, dialect=DIALECTS[q["dialect"]], schema=TPCH_SCHEMA if q["id"].startswith("tpch") else None,
                                validate_qualify_columns=False, allow_partial_qualification=True,
                                identify=False)
            sorted({c.sql() for c in qualified.find_all(exp.Column)})

    for q in queries:
        one(q)
    started, n = time.perf_counter(), 0
    while time.perf_counter() - started < 3.0:
        for q in queries:
            one(q)
        n += len(queries)
    return n / (time.perf_counter() - started), sorted(failures)


def main():
    import importlib.metadata
    try:
        import sqlglot  # noqa: F401
    except ImportError:
        sys.exit('pip install "sqlglot[c]" first')
    try:
        compiled = "c " + importlib.metadata.version("sqlglotc")
    except importlib.metadata.PackageNotFoundError:
        compiled = "pure Python"
    bench = subprocess.run(["cargo", "bench", "--bench", "sql"], capture_output=True, text=True)
    if bench.returncode != 0:
        sys.exit(bench.stdout + bench.stderr)
    ours = dict(re.findall(r"RATE (\w+) (\d+) queries/s", bench.stdout))
    for name, files in [("tpch", ["tpch.jsonl"]), ("corpus", ["tpch.jsonl", "shapes.jsonl", "generated.jsonl"])]:
        theirs, failed = sqlglot_rate(corpus(files))
        us = float(ours[name])
        print(f"{name:7} usagelake {us:9.0f} q/s   sqlglot[{compiled}] {theirs:7.0f} q/s   ratio {us / theirs:6.1f}x")
        if failed:
            print(f"        sqlglot raised on {len(failed)} queries: {', '.join(failed)}")


if __name__ == "__main__":
    main()
