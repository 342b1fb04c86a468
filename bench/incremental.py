#!/usr/bin/env python3
"""Daily-run benchmark: what a scheduled `metrics` run costs as history grows.

1. `usagelake demo --generate-only` writes --events Segment events over
   --days days (same volume every day; about 1 % arrive up to 3 days late).
2. The lake is filled the way the schedule fills it: `backfill daily`
   ingests each arrival day's folder, then `run metrics` derives. For each
   history length N in --at (default 30, 180, 365): the days up to N-3 are
   ingested and derived (not timed), then for the three days N-2, N-1, N:
   `run daily --date D` (not timed) and `run metrics --date D` timed under
   /usr/bin/time (wall, CPU, peak RSS); the medians are printed. Each of these runs
   derives the new day plus the older days late events rewrote.
3. A from-scratch derive of day N (`run metrics --force`).
4. `backfill metrics` over the last 30 days, on a fresh copy of the raw
   tables (no per-day tables yet).
5. With --before BIN (an older build), the daily runs of step 2 and the
   backfill of step 4 with that binary, on the same data.

  cargo build --release && python3 bench/incremental.py --before /path/to/old/usagelake
"""
import argparse
import datetime as dt
import os
import re
import shutil
import statistics
import subprocess
import tempfile

from ingest import timed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=4_000_000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--end-date", default="2026-11-01")
    ap.add_argument("--at", type=int, action="append", help="history length in days (repeatable)")
    ap.add_argument("--backfill-days", type=int, default=30)
    ap.add_argument("--bin", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "release", "usagelake"))
    ap.add_argument("--before", help="a usagelake binary without per-day reuse, for the before numbers")
    ap.add_argument("--work", help="reuse this folder (keeps generated data between runs)")
    args = ap.parse_args()
    at = sorted(args.at or [30, 180, 365])
    work = args.work or tempfile.mkdtemp(prefix="usagelake-incremental-bench-")
    os.makedirs(work, exist_ok=True)
    data = os.path.join(work, "data")
    end = dt.date.fromisoformat(args.end_date)
    first = end - dt.timedelta(days=args.days - 1)
    day = lambda n: first + dt.timedelta(days=n - 1)
    if not os.path.isdir(os.path.join(data, "segment-logs")):
        subprocess.run([args.bin, "demo", "--generate-only", "--data", data, "--events", str(args.events),
                        "--days", str(args.days), "--end-date", args.end_date, "--seed", "7"], check=True,
                       stdout=subprocess.DEVNULL)
    events = "events=" + os.path.join(data, "segment-logs")

    def run(binary, lake, *cmd):
        subprocess.run([binary, "--lake", lake, *cmd], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)

    def fill(binary, lake):
        """Daily runs at each history length; returns {N: (median s, max MiB, summary, median CPU s)}."""
        shutil.rmtree(lake, ignore_errors=True)
        results = {}
        ingested = first - dt.timedelta(days=1)
        for n in at:
            prep = day(n - 3)
            if prep > ingested:
                run(binary, lake, "backfill", "daily", "--from", (ingested + dt.timedelta(days=1)).isoformat(),
                    "--to", prep.isoformat(), "--set", events)
                ingested = prep
            run(binary, lake, "run", "metrics", "--date", prep.isoformat())
            times, rss, cpu, summary = [], [], [], ""
            for d in (day(n - 2), day(n - 1), day(n)):
                run(binary, lake, "run", "daily", "--date", d.isoformat(), "--set", events)
                ingested = d
                secs, mib, out, cpu_s = timed([binary, "--lake", lake, "run", "metrics", "--date", d.isoformat()])
                times.append(secs)
                rss.append(mib)
                cpu.append(cpu_s)
                summary = out.strip()
            results[n] = (statistics.median(times), max(rss), summary, statistics.median(cpu))
        return results

    def backfill(binary, source_lake, lake):
        shutil.rmtree(lake, ignore_errors=True)
        for t in ("pages", "tracks", "users"):
            shutil.copytree(os.path.join(source_lake, "tables", t), os.path.join(lake, "tables", t))
        start = day(at[-1] - args.backfill_days + 1)
        secs, mib, _, cpu_s = timed([binary, "--lake", lake, "backfill", "metrics", "--from", start.isoformat(),
                                     "--to", day(at[-1]).isoformat()])
        return secs, mib, start, cpu_s

    load_before = os.getloadavg()
    lake = os.path.join(work, "lake")
    after = fill(args.bin, lake)
    last = day(at[-1])
    scratch_s, scratch_mib, scratch_out, scratch_cpu = timed(
        [args.bin, "--lake", lake, "run", "metrics", "--date", last.isoformat(), "--force"])
    bf_s, bf_mib, bf_start, bf_cpu = backfill(args.bin, lake, os.path.join(work, "backfill-lake"))
    before = bf_before = None
    if args.before:
        before = fill(args.before, os.path.join(work, "lake-before"))
        bf_before = backfill(args.before, lake, os.path.join(work, "backfill-lake-before"))

    derived = lambda s: (re.search(r"per-day tables of (\d+) days derived, (\d+) reused", s) or [None, "?", "?"])
    load_after = os.getloadavg()
    print(f"events={args.events:,} days={args.days} ({first}..{end}), median of 3 consecutive daily runs; "
          f"load average {load_before[0]:.1f} / {load_after[0]:.1f} (1 min, start / end)")
    print(f"{'history':>8}  {'daily run':>10}  {'CPU':>8}  {'peak RSS':>9}  {'days derived/reused (last run)':>30}"
          + ("  before: daily run, CPU, peak RSS" if before else ""))
    for n in at:
        secs, mib, summary, cpu_s = after[n]
        m = derived(summary)
        line = f"{n:>6} d  {secs:>8.2f} s  {cpu_s:>6.2f} s  {mib:>5.0f} MiB  {m[1]:>14} / {m[2]:<14}"
        if before:
            line += f"  {before[n][0]:>8.2f} s  {before[n][3]:>6.2f} s  {before[n][1]:>5.0f} MiB"
        print(line)
    print(f"from scratch, day {at[-1]} (--force): {scratch_s:.2f} s, {scratch_cpu:.2f} CPU-s, "
          f"peak RSS {scratch_mib:.0f} MiB")
    print(f"day {at[-1]} daily run / day {at[0]} daily run: {after[at[-1]][0] / after[at[0]][0]:.2f}x; "
          f"/ from scratch: {after[at[-1]][0] / scratch_s:.2f}x")
    print(f"backfill metrics {bf_start}..{last} ({args.backfill_days} dates, no per-day tables yet): "
          f"{bf_s:.1f} s, {bf_cpu:.1f} CPU-s, peak RSS {bf_mib:.0f} MiB"
          + (f"; before: {bf_before[0]:.1f} s, {bf_before[3]:.1f} CPU-s, peak RSS {bf_before[1]:.0f} MiB"
             if bf_before else ""))


if __name__ == "__main__":
    main()
