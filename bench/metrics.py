#!/usr/bin/env python3
"""Metrics benchmark: usagelake vs DuckDB on the same Parquet lake.

1. `usagelake demo --generate-only` writes --events Segment events, and
   `usagelake ingest` turns them into the lake's pages / tracks / users
   (not timed: both engines then read the same Parquet).
2. Timed, each in its own process under /usr/bin/time (wall, peak RSS):
   - `usagelake run metrics --date D` (every intermediate and all 22 metric
     tables, written to the lake), and
   - DuckDB running the same SQL files (jobs/sql/*.sql) over the same
     Parquet: parameters pasted as literals, our SQL functions as DuckDB
     macros, our two aggregates written out in plain SQL (`sessionize` with
     window functions in bench/duckdb_user_sessions.sql, `funnel_times` as
     joins in bench/duckdb_funnel_analysis.sql); intermediates materialized and
     written partitioned by date, every metric written to Parquet.
3. Prints both, the ratio, and whether both engines produced the same
   results: per table the row count, the sum of every numeric column and
   the number of distinct values of every other column.

  cargo build --release && python3 bench/metrics.py --events 10000000
"""
import argparse
import datetime as dt
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile

from ingest import timed

HERE = os.path.dirname(os.path.abspath(__file__))
SQL_DIR = os.path.join(HERE, "..", "jobs", "sql")

NOISE = [
    "atlan_analaytics_aggregateinfo_fetch", "api_error_emit", "api_evaluator_cancelled",
    "api_evaluator_succeeded", "Experiment Started", "$experiment_started",
    "web_vital_metric_inp_track", "web_vital_metric_ttfb_track", "web_vital_metric_fcp_track",
    "web_vital_metric_lcp_track", "performance_metric_user_timing_discovery_search",
    "performance_metric_user_timing_app_bootstrap",
]
AREAS = [
    ("Discovery", ["discovery"], ["discovery_"]),
    ("Chrome Extension", ["reverse-metadata-sidebar"], ["chrome_"]),
    ("Insights", ["saved_query", "insights"], ["insights_"]),
    ("Governance", ["glossary", "term", "category", "classifications", "custom_metadata"], ["governance_", "gtc_tree_"]),
    ("AI Copilot", [], ["atlan_ai_"]),
    ("Lineage", [], ["lineage_"]),
    ("Asset Profile", ["asset_profile", "overview"], []),
    ("Admin", ["users", "personas", "config", "sso", "api-access", "api_keys", "policyManager", "manage"], []),
    ("Workflows", ["workflows-home", "workflows-profile", "runs", "playbook"], []),
    ("Data Quality", ["monitor"], []),
    ("Data Products", [], ["products_home_"]),
    ("Marketplace", ["marketplace"], []),
]
PIPELINE = [
    "activity_all", "event_groups", "domain_fallback", "day_groups", "activity_resolved", "activity",
    "identity", "user_sessions", "user_day", "user_day_feature", "user_month", "user_lifetime",
    "known_domains",
]


def q(s):
    return "'" + s.replace("'", "''") + "'"


def params(as_of, w=30, c=14, n=14):
    d = lambda k: f"DATE '{(as_of - dt.timedelta(days=k)).isoformat()}'"
    return {
        "as_of": d(0), "timezone": "'UTC'", "window_days": str(w), "window_start": d(w - 1),
        "prev_window_start": d(2 * w - 1), "prev_window_end": d(w), "wau_days": "7",
        "activity_start": d(w + c - 1), "session_gap_us": str(30 * 60_000_000),
        "stickiness_strong": "0.3", "stickiness_moderate": "0.1", "roster_churned_days": "90",
        "top_n": "50", "power_users_top_n": "25", "power_weight_days": "40.0",
        "power_weight_breadth": "30.0", "power_weight_volume": "30.0",
        "tier_power_percent_rank": "0.9", "reactivation_gap_days": "30", "retention_days": str(n),
        "cohort_date": d(n), "funnel_conversion_days": str(c),
        "funnel_conversion_us": str(c * 86_400_000_000), "funnel_step_count": "3",
        "funnel_entry_start": d(c + w - 1), "funnel_entry_end": d(c),
        # DuckDB computes the daily tables in one pass over all history.
        "day_start": "DATE '1970-01-01'", "day_end": d(0),
        "utc_start": "DATE '1969-12-31'", "utc_end": d(-1),
        # No kept identity snapshot: every users partition.
        "identity_from": "DATE '1970-01-01'",
    }


def duckdb_script(lake, out, as_of, threads):
    """The shipped SQL files as one DuckDB script."""
    p = params(as_of)
    area_case = " ".join(
        [f"WHEN source = 'page' AND name IN ({', '.join(map(q, pages))}) THEN {q(a)}" for a, pages, _ in AREAS if pages]
    )
    prefix_case = " ".join(
        f"WHEN source = 'track' AND starts_with(name, {q(pre)}) THEN {q(a)}" for a, _, pres in AREAS for pre in pres
    )
    lines = [
        f"SET threads TO {threads};",
        "SET TimeZone = 'UTC';",
        f"SET temp_directory = '{out}/tmp';",
        "CREATE MACRO to_local_date(ts, tz) AS CAST(timezone(tz, ts) AS DATE);",
        f"CREATE MACRO is_noise(e) AS e IS NULL OR e = '' OR e IN ({', '.join(map(q, NOISE))}) OR starts_with(e, 'workflow_');",
        "CREATE MACRO is_search(e) AS coalesce(e IN ('discovery_search_results', 'atlan_ai_conversation_prompt_submitted'), false);",
        # Pages match exactly, tracks by prefix, first area in table order.
        f"CREATE MACRO feature_area(source, name) AS CASE {area_case} {prefix_case} END;",
        "CREATE TABLE feature_areas AS SELECT * FROM (VALUES "
        + ", ".join(f"({q(a)}, {i + 1})" for i, (a, _, _) in enumerate(AREAS))
        + ") t(area, area_order);",
        "CREATE TABLE funnel_steps AS SELECT * FROM (VALUES (1, 'Visited discovery'), (2, 'Searched'), (3, 'Opened asset')) t(step_index, step_name);",
        "CREATE TABLE identity_base (user_id VARCHAR, email VARCHAR, username VARCHAR, role VARCHAR, "
        "license_type VARCHAR, job_role VARCHAR, customer_domain VARCHAR, created_at TIMESTAMPTZ, "
        "first_identified_at TIMESTAMPTZ, latest_at TIMESTAMPTZ);",
        "CREATE TABLE funnel_step_events AS SELECT * FROM (VALUES (1, 'page', 'discovery'), (2, 'track', 'discovery_search_results'), (3, 'page', 'asset_profile')) t(step_index, source, name);",
    ]
    for t in ("pages", "tracks", "users"):
        lines.append(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{lake}/tables/{t}/*/*.parquet', hive_partitioning = true);")
    files = sorted(f for f in os.listdir(SQL_DIR) if f.endswith(".sql"))
    order = PIPELINE + sorted(f[:-4] for f in files if f[:-4] not in PIPELINE)
    for name in order:
        text = open(os.path.join(SQL_DIR, name + ".sql")).read()
        if name == "user_sessions":
            text = open(os.path.join(HERE, "duckdb_user_sessions.sql")).read()
        elif name == "funnel_analysis":
            # Our file from per_step on; its CTEs up to there replaced.
            replacement = open(os.path.join(HERE, "duckdb_funnel_analysis.sql")).read()
            text = replacement.rstrip() + ",\n" + text[text.index("per_step AS ("):]
        kind = re.search(r"^-- kind: (\w+)", text, re.M).group(1)
        text = re.sub(r"\$(\w+)::\w+", lambda m: "(" + p[m.group(1)] + ")", text)
        # DuckDB spells these differently: epoch microseconds, integer division.
        text = text.replace("CAST(ts AS BIGINT)", "epoch_us(ts)").replace("/ 12 AS INT", "// 12 AS INT")
        text = text.replace(") / 12", ") // 12")
        body = "\n".join(l for l in text.splitlines() if not l.strip().startswith("--")).strip()
        if kind == "view":
            lines.append(f"CREATE VIEW {name} AS {body};")
        elif kind == "cached":
            lines.append(f"CREATE TABLE {name} AS {body};")
        elif kind == "intermediate":
            lines.append(f"CREATE TABLE {name} AS {body};")
            lines.append(f"COPY {name} TO '{out}/{name}' (FORMAT parquet, PARTITION_BY (date), COMPRESSION zstd, OVERWRITE_OR_IGNORE);")
        else:
            lines.append(f"COPY ({body}) TO '{out}/{name}.parquet' (FORMAT parquet, COMPRESSION zstd);")
    return "\n".join(lines)


def generated_lake(bin, work, events, days, end_date):
    """work/lake holding `events` generated demo events (seed 7), made once
    and kept between runs (not timed)."""
    data, lake = os.path.join(work, "data"), os.path.join(work, "lake")
    if not os.path.exists(os.path.join(lake, "tables", "pages")):
        subprocess.run([bin, "demo", "--generate-only", "--data", data, "--events", str(events),
                        "--days", str(days), "--end-date", end_date, "--seed", "7"], check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run([bin, "--lake", lake, "ingest", os.path.join(data, "segment-logs")], check=True,
                       stdout=subprocess.DEVNULL)
    return lake


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--end-date", default="2026-11-01")
    ap.add_argument("--bin", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "release", "usagelake"))
    ap.add_argument("--work", help="reuse this folder (keeps generated data between runs)")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    work = args.work or tempfile.mkdtemp(prefix="usagelake-metrics-bench-")
    os.makedirs(work, exist_ok=True)
    lake = generated_lake(args.bin, work, args.events, args.days, args.end_date)
    as_of = dt.date.fromisoformat(args.end_date)
    for t in os.listdir(os.path.join(lake, "tables")):
        if t not in ("pages", "tracks", "users", "quarantine"):
            shutil.rmtree(os.path.join(lake, "tables", t))

    ours_s, ours_mib, _, _ = timed([args.bin, "--lake", lake, "run", "metrics", "--date", as_of.isoformat(), "--force"])
    out = os.path.join(work, "duckdb-out")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(os.path.join(out, "tmp"))
    script = duckdb_script(lake, out, as_of, args.threads)
    with open(os.path.join(work, "duckdb_metrics.sql"), "w") as f:
        f.write(script)
    runner = "import duckdb, sys; duckdb.connect().execute(open(sys.argv[1]).read())"
    duck_s, duck_mib, _, _ = timed([sys.executable, "-c", runner, os.path.join(work, "duckdb_metrics.sql")])

    # Same definitions, same results: compare a fingerprint of every table
    # (row count, sums of numeric columns, distinct strings and dates).
    import duckdb
    con = duckdb.connect()
    mismatches = []
    derived = [t for t in os.listdir(os.path.join(lake, "tables"))
               if t not in ("pages", "tracks", "users", "quarantine")]
    for name in sorted(derived):
        path = os.path.join(out, name)
        theirs = f"{path}/*/*.parquet" if os.path.isdir(path) else f"{path}.parquet"
        ours = os.path.join(lake, "tables", name, "*", "*.parquet")
        columns = con.execute(f"DESCRIBE SELECT * FROM read_parquet('{theirs}')").fetchall()
        parts = ["count(*)"]
        for column, kind, *_ in columns:
            if column in ("date", "as_of"):
                continue
            if kind in ("BIGINT", "INTEGER", "HUGEINT"):
                parts.append(f'sum("{column}")')
            elif kind == "DOUBLE":
                parts.append(f'sum("{column}")')
            else:
                parts.append(f'count(DISTINCT "{column}")')
        fingerprint = ", ".join(parts)
        a = con.execute(f"SELECT {fingerprint} FROM read_parquet('{ours}')").fetchone()
        b = con.execute(f"SELECT {fingerprint} FROM read_parquet('{theirs}')").fetchone()
        # Floats within 1e-9 relative: the engines interpolate percentiles
        # with differently ordered (equally exact) arithmetic.
        same = len(a) == len(b) and all(
            math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9) if isinstance(x, float) and isinstance(y, float) else x == y
            for x, y in zip(a, b)
        )
        if not same:
            mismatches.append(f"{name}: usagelake {a}, DuckDB {b}")

    print(f"events={args.events:,} days={args.days} as_of={as_of} (lake {lake})")
    print(f"usagelake run metrics : {ours_s:7.2f} s  peak RSS {ours_mib:7.0f} MiB")
    print(f"DuckDB same SQL       : {duck_s:7.2f} s  peak RSS {duck_mib:7.0f} MiB")
    print(f"time ratio usagelake/DuckDB: {ours_s / duck_s:.2f}x   memory ratio: {ours_mib / duck_mib:.2f}x")
    print(f"results ({len(derived)} tables: rows, column sums, distinct values): "
          + ("identical" if not mismatches else "DIFFER\n  " + "\n  ".join(mismatches)))


if __name__ == "__main__":
    main()
