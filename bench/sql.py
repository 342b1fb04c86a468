#!/usr/bin/env python3
"""SQL pipeline benchmark: usagelake vs sqlglot on the same corpus.

usagelake: the release binary's `usagelake sql analyze` (one process, one
thread) over a JSON-lines file holding the queries repeated to about 20,000
lines: anonymize + fingerprint + tables + columns per query, with
`--schema` for TPC-H and TPC-DS; best of 3 runs, start-up included.
TPC-H, TPC-DS and the whole corpus (every tests/data/sql/*.jsonl, one run
per dialect).
sqlglot (compiled build, `pip install "sqlglot[c]"`), the same work per
query: parse in the query's dialect, replace every literal with a
placeholder, generate the SQL, hash it, collect tables, and resolve columns
to their tables with sqlglot's `qualify` pass (as DataHub does for column
lineage) since ours resolves them through aliases, subqueries and CTEs.

  cargo build --release
  python3 bench/sql.py [--bin PATH]   # default: $CARGO_TARGET_DIR or target, /release/usagelake
"""
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "tests", "data", "sql")
DIALECTS = {"generic": None, "postgres": "postgres", "snowflake": "snowflake", "bigquery": "bigquery",
            "mysql": "mysql", "redshift": "redshift", "databricks": "databricks", "mssql": "tsql"}


# The TPC-H and TPC-DS schemas (TPC-DS: the 24 tables and 425 columns of
# the specification 2.x, as databricks/spark-sql-perf's TPCDSTables.scala
# declares them), given to both sides: sqlglot needs one to resolve
# correlated subqueries; ours gets it through `--schema`.
SCHEMAS = os.path.join(DATA, "schemas")


def load_schema(name):
    with open(os.path.join(SCHEMAS, name + ".json")) as f:
        return {t: {c: "TEXT" for c in cols} for t, cols in json.load(f).items()}


TPCH_SCHEMA = load_schema("tpch")
TPCDS_SCHEMA = load_schema("tpcds")


def schema_for(query_id):
    if query_id.startswith("tpch-"):
        return TPCH_SCHEMA
    if query_id.startswith("tpcds-"):
        return TPCDS_SCHEMA
    return None


def corpus(prefix=""):
    """The queries of tests/data/sql/<prefix>*.jsonl, in file-name order
    (every file for ""), as benches/sql.rs reads them."""
    out = []
    for f in sorted(os.listdir(DATA)):
        if f.endswith(".jsonl") and f.startswith(prefix):
            with open(os.path.join(DATA, f)) as fh:
                out += [json.loads(l) for l in fh if l.strip()]
    return out


def sqlglot_rate(queries):
    import logging

    import sqlglot
    from sqlglot import exp
    from sqlglot.optimizer.qualify import qualify

    # sqlglot logs a warning for each statement it falls back to parsing as
    # a bare command (OPTIMIZE, UNLOAD, …): silent, so the timed loop does
    # not time the logging.
    logging.getLogger("sqlglot").setLevel(logging.ERROR)

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
            qualified = qualify(tree, dialect=DIALECTS[q["dialect"]], schema=schema_for(q["id"]),
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


def schema_file(query_id):
    for name in ("tpch", "tpcds"):
        if query_id.startswith(name + "-"):
            return os.path.join(SCHEMAS, name + ".json")
    return None


def ours_rate(binary, queries, target=20000):
    """Queries/s of `usagelake sql analyze` over `queries` (grouped by
    dialect and schema, one process each), best of 3."""
    groups = {}
    for q in queries:
        groups.setdefault((q["dialect"], schema_file(q["id"])), []).append(q)
    total_time, total = 0.0, 0
    with tempfile.TemporaryDirectory() as tmp:
        for (dialect, schema), group in sorted(groups.items(), key=lambda g: (g[0][0], g[0][1] or "")):
            reps = max(1, target * len(group) // len(queries) // len(group))
            path = os.path.join(tmp, "in.jsonl")
            with open(path, "w") as f:
                for r in range(reps):
                    for q in group:
                        f.write(json.dumps({"id": q["id"], "sql": q["sql"]}) + "\n")
            cmd = [binary, "sql", "analyze", "--dialect", dialect, path]
            if schema:
                cmd[5:5] = ["--schema", schema]
            best = None
            for _ in range(3):
                started = time.perf_counter()
                subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
                elapsed = time.perf_counter() - started
                best = elapsed if best is None else min(best, elapsed)
            total_time += best
            total += reps * len(group)
    return total / total_time


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
    binary = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(HERE, "..", "target")),
                          "release", "usagelake")
    if "--bin" in sys.argv:
        binary = sys.argv[sys.argv.index("--bin") + 1]
    if not os.path.exists(binary):
        sys.exit(f"{binary}: not found; run `cargo build --release` first (or pass --bin PATH)")
    for name, prefix in [("tpch", "tpch."), ("tpcds", "tpcds."), ("corpus", "")]:
        queries = corpus(prefix)
        us = ours_rate(binary, queries)
        theirs, failed = sqlglot_rate(queries)
        print(f"{name:7} usagelake {us:9.0f} q/s   sqlglot[{compiled}] {theirs:7.0f} q/s   ratio {us / theirs:6.1f}x")
        if failed:
            print(f"        sqlglot raised on {len(failed)} queries: {', '.join(failed)}")


if __name__ == "__main__":
    main()
