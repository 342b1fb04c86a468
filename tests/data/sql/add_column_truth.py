#!/usr/bin/env python3
"""Adds the expected `columns` (and `"schema"`) to tpch.jsonl and
tpcds.jsonl, derived without the analyzer: from the benchmark's schema
(schemas/<name>.json) and a scan of each text's identifiers.

Every column name of TPC-H and TPC-DS carries its table's prefix and is
unique across the schema, so a name that occurs as an identifier in a
query (comments and string literals removed) and is a column of one of the
query's base tables (the hand-checked `tables` list) is a column the query
uses: `table.column`. Names that are not schema columns (output aliases,
CTE columns such as `ctr_total_return`) are left out, as they should be.

What a scan cannot tell is a schema column's name used as an *alias* (`sum(x)
AS ss_quantity`): such uses are printed (REVIEW lines) and were read by
hand; where the alias is the only occurrence, the name is listed in
NOT_USED below. `SELECT *` names no column, so it adds none (the analyzer
does not enumerate stars either).

  python3 tests/data/sql/add_column_truth.py
"""
import json
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))

# Hand review of the REVIEW lines: schema column names that a query uses
# only as an alias, never as a column (none so far: every alias that
# repeats a schema column name in TPC-H / TPC-DS aliases that very column
# or an aggregate of it, which the query reads anyway).
NOT_USED = {}

IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def strip(sql):
    """The text without comments and string literals."""
    sql = re.sub(r"--[^\n]*", " ", sql)
    sql = re.sub(r"/\*.*?\*/", " ", sql, flags=re.S)
    return re.sub(r"'(?:[^']|'')*'", " ", sql)


def truth(entry, schema):
    owner = {c.lower(): t for t, cols in schema.items() for c in cols}
    text = strip(entry["sql"])
    tables = set(entry["tables"]) | set(entry["written_tables"])
    found = set()
    for m in IDENT.finditer(text):
        name = m.group(0).lower()
        table = owner.get(name)
        if table is None:
            continue
        if table not in tables:
            print(f"REVIEW {entry['id']}: {name} is a column of {table}, not read by the query")
            continue
        before = text[: m.start()].rstrip()
        if re.search(r"\bas$", before, re.I):
            print(f"REVIEW {entry['id']}: {name} used as an alias: ...{text[max(0, m.start() - 60):m.end()]!r}")
        found.add(f"{table}.{name}")
    return sorted(found - {f"{t}.{c}" for t, c in NOT_USED.get(entry["id"], [])})


def main():
    for name in ["tpch", "tpcds"]:
        with open(os.path.join(HERE, "schemas", f"{name}.json")) as f:
            schema = json.load(f)
        path = os.path.join(HERE, f"{name}.jsonl")
        with open(path) as f:
            entries = [json.loads(line) for line in f if line.strip()]
        with open(path, "w") as f:
            for e in entries:
                e["schema"] = name
                e["columns"] = truth(e, schema)
                f.write(json.dumps(e) + "\n")


if __name__ == "__main__":
    main()
