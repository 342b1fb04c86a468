#!/usr/bin/env python3
"""SQL pipeline benchmark: usagelake vs sqlglot on the same corpus.

usagelake: `cargo bench --bench sql` (release, single thread): anonymize +
fingerprint + tables + columns per query (tests/data/sql/*.jsonl).
sqlglot (compiled build, `pip install "sqlglot[c]"`), the same work per
query: parse in the query's dialect, replace every literal with a
placeholder, generate the SQL, hash it, collect tables and columns.

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


def corpus(files):
    out = []
    for f in files:
        with open(os.path.join(DATA, f)) as fh:
            out += [json.loads(l) for l in fh if l.strip()]
    return out


def sqlglot_rate(queries):
    import sqlglot
    from sqlglot import exp

    def one(q):
        for tree in sqlglot.parse(q["sql"], read=DIALECTS[q["dialect"]], error_level=sqlglot.ErrorLevel.IGNORE):
            if tree is None:
                continue
            anonymized = tree.transform(
                lambda n: exp.Placeholder() if isinstance(n, exp.Literal) else n, copy=True
            ).sql(dialect=DIALECTS[q["dialect"]])
            hashlib.blake2b(anonymized.lower().encode(), digest_size=8).hexdigest()
            sorted({t.sql() for t in tree.find_all(exp.Table)})
            sorted({c.sql() for c in tree.find_all(exp.Column)})

    for q in queries:
        one(q)
    started, n = time.perf_counter(), 0
    while time.perf_counter() - started < 3.0:
        for q in queries:
            one(q)
        n += len(queries)
    return n / (time.perf_counter() - started)


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
    for name, files in [("tpch", ["tpch.jsonl"]), ("corpus", ["tpch.jsonl", "shapes.jsonl"])]:
        theirs = sqlglot_rate(corpus(files))
        us = float(ours[name])
        print(f"{name:7} usagelake {us:9.0f} q/s   sqlglot[{compiled}] {theirs:7.0f} q/s   ratio {us / theirs:6.1f}x")


if __name__ == "__main__":
    main()
