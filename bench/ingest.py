#!/usr/bin/env python3
"""Ingest benchmark: usagelake vs DuckDB on the same generated Segment files.

For each --events size: generate gzip NDJSON with `usagelake demo
--generate-only`, then time (wall) and measure peak RSS of
  1. `usagelake ingest` (parse, dedup, partition, one Parquet object per
     table x day, zstd), and
  2. DuckDB: read_json -> COPY (FORMAT parquet, PARTITION_BY (type, date))
     of the same files, extracting the same columns (no dedup),
each in its own process under /usr/bin/time. Prints one line per engine and
the throughput ratio, from the median of --repeat alternating runs (this
machine's timings spread by 10-20 % run to run). Needs: a release build, python3 -m pip install duckdb.

  cargo build --release && python3 bench/ingest.py --events 1000000 --events 10000000
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

DUCKDB_SQL = """
SET threads TO {threads};
COPY (
  SELECT type,
         "messageId" AS message_id, "userId" AS user_id, "anonymousId" AS anonymous_id,
         COALESCE(json_extract_string(context, '$.traits.domain'), json_extract_string(properties, '$.domain')) AS customer_domain,
         name AS page_name, event AS event_name,
         json_extract_string(properties, '$.tab') AS tab,
         json_extract_string(properties, '$.asset_guid') AS asset_guid,
         json_extract_string(properties, '$.connector_name') AS connector_name,
         json_extract_string(properties, '$.asset_type') AS asset_type,
         CAST(properties AS VARCHAR) AS properties,
         json_extract_string(traits, '$.email') AS email,
         TRY_CAST("timestamp" AS TIMESTAMPTZ) AS "timestamp",
         TRY_CAST("receivedAt" AS TIMESTAMPTZ) AS received_at,
         CAST(TRY_CAST("timestamp" AS TIMESTAMPTZ) AT TIME ZONE 'UTC' AS DATE) AS date
  FROM read_json('{src}/**/*.gz', format = 'newline_delimited', ignore_errors = true,
                 columns = {{type: 'VARCHAR', messageId: 'VARCHAR', userId: 'VARCHAR', anonymousId: 'VARCHAR',
                            "timestamp": 'VARCHAR', receivedAt: 'VARCHAR', name: 'VARCHAR', event: 'VARCHAR',
                            properties: 'JSON', context: 'JSON', traits: 'JSON'}})
  WHERE type IS NOT NULL AND "messageId" IS NOT NULL AND TRY_CAST("timestamp" AS TIMESTAMPTZ) IS NOT NULL
) TO '{out}' (FORMAT parquet, PARTITION_BY (type, date), COMPRESSION zstd, OVERWRITE_OR_IGNORE);
"""


def timed(cmd, env=None):
    """Runs cmd under /usr/bin/time; returns (seconds, peak RSS MiB, stdout, CPU seconds).

    Flushes dirty pages first: otherwise the previous run's output is still
    being written back while this one is timed, which costs whichever engine
    runs second several seconds at 10 M events."""
    subprocess.run(["sync"], check=True)
    out = subprocess.run(["/usr/bin/time", "-f", "@@ %e %M %U %S"] + cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.exit(f"{cmd[0]} failed:\n{out.stdout}\n{out.stderr}")
    line = [l for l in out.stderr.splitlines() if l.startswith("@@ ")][-1]
    _, secs, kib, user, system = line.split()
    return float(secs), int(kib) / 1024, out.stdout, float(user) + float(system)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, action="append", help="events to generate (repeatable)")
    ap.add_argument("--bin", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "release", "usagelake"))
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs per engine, alternating; the median time and the largest RSS are reported")
    args = ap.parse_args()
    sizes = args.events or [1_000_000]
    threads = os.cpu_count() or 2
    work = args.workdir or tempfile.mkdtemp(prefix="usagelake-bench-")
    print(f"machine: {threads} cores; usagelake {args.bin}; workdir {work}")
    for n in sizes:
        data = os.path.join(work, f"data-{n}")
        if not os.path.isdir(os.path.join(data, "segment-logs")):
            subprocess.run([args.bin, "demo", "--generate-only", "--events", str(n), "--days", str(args.days),
                            "--end-date", "2026-11-01", "--data", data], check=True, stdout=subprocess.DEVNULL)
        src = os.path.join(data, "segment-logs")
        gz = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(src) for f in fs)
        lines = 0
        lake = os.path.join(work, f"lake-{n}")
        duck_out = os.path.join(work, f"duck-{n}")
        sql = DUCKDB_SQL.format(threads=threads, src=src, out=duck_out)
        ours, theirs = [], []
        for _ in range(args.repeat):
            shutil.rmtree(lake, ignore_errors=True)
            secs, mib, out, cpu = timed([args.bin, "--lake", lake, "ingest", src, "--date", "2026-11-01"])
            lines = int(out.split("read ")[1].split(" lines")[0])
            ours.append((secs, mib, cpu))
            shutil.rmtree(duck_out, ignore_errors=True)
            secs, mib, _, cpu = timed([sys.executable, "-c", f"import duckdb; duckdb.connect().execute({sql!r})"])
            theirs.append((secs, mib, cpu))
        shutil.rmtree(lake, ignore_errors=True)
        shutil.rmtree(duck_out, ignore_errors=True)
        rates = {}
        for engine, runs in [("usagelake ingest", ours), ("duckdb read_json+COPY", theirs)]:
            secs = statistics.median(r[0] for r in runs)
            mib = max(r[1] for r in runs)
            cpu = statistics.median(r[2] for r in runs)
            rates[engine] = lines / secs
            spread = ", ".join(f"{r[0]:.2f}" for r in runs)
            print(f"{n:>11,} events ({gz / 1e6:,.0f} MB gzip)  {engine:<22}: {secs:7.2f} s {lines / secs:>11,.0f} events/s"
                  f"  CPU {cpu:6.1f} s  peak RSS {mib:7.0f} MiB  (runs: {spread} s)")
        ratio = rates["usagelake ingest"] / rates["duckdb read_json+COPY"]
        print(f"{'':>11}  throughput ratio usagelake/duckdb = {ratio:.2f}x (medians of {args.repeat})")


if __name__ == "__main__":
    main()
