#!/usr/bin/env python3
"""Ingest benchmark: usagelake vs DuckDB on the same generated Segment files.

For each --events size: generate gzip NDJSON with `usagelake demo
--generate-only`, then time (wall) and measure peak RSS of
  1. `usagelake ingest` (parse, dedup, partition, one Parquet object per
     table x day, zstd), and
  2. DuckDB: read_json -> COPY (FORMAT parquet, PARTITION_BY (type, date))
     of the same files, extracting the same columns (no dedup),
each in its own process under /usr/bin/time. Prints one line per engine and
the throughput ratio. Needs: a release build, python3 -m pip install duckdb.

  cargo build --release && python3 bench/ingest.py --events 1000000 --events 10000000
"""
import argparse
import os
import shutil
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
    """Runs cmd under /usr/bin/time; returns (seconds, peak RSS MiB, stdout)."""
    out = subprocess.run(["/usr/bin/time", "-f", "@@ %e %M"] + cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.exit(f"{cmd[0]} failed:\n{out.stdout}\n{out.stderr}")
    line = [l for l in out.stderr.splitlines() if l.startswith("@@ ")][-1]
    _, secs, kib = line.split()
    return float(secs), int(kib) / 1024, out.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, action="append", help="events to generate (repeatable)")
    ap.add_argument("--bin", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "release", "usagelake"))
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--days", type=int, default=30)
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
        shutil.rmtree(lake, ignore_errors=True)
        secs, mib, out = timed([args.bin, "--lake", lake, "ingest", src, "--date", "2026-11-01"])
        lines = int(out.split("read ")[1].split(" lines")[0])
        ul = lines / secs
        print(f"{n:>11,} events ({gz / 1e6:,.0f} MB gzip)  usagelake ingest : {secs:7.2f} s {ul:>11,.0f} events/s  peak RSS {mib:7.0f} MiB")
        duck_out = os.path.join(work, f"duck-{n}")
        shutil.rmtree(duck_out, ignore_errors=True)
        sql = DUCKDB_SQL.format(threads=threads, src=src, out=duck_out)
        secs, mib, _ = timed([sys.executable, "-c", f"import duckdb; duckdb.connect().execute({sql!r})"])
        dk = lines / secs
        print(f"{n:>11,} events ({gz / 1e6:,.0f} MB gzip)  duckdb read_json+COPY: {secs:7.2f} s {dk:>11,.0f} events/s  peak RSS {mib:7.0f} MiB")
        print(f"{'':>11}  throughput ratio usagelake/duckdb = {ul / dk:.2f}x")
        shutil.rmtree(lake, ignore_errors=True)
        shutil.rmtree(duck_out, ignore_errors=True)


if __name__ == "__main__":
    main()
