#!/usr/bin/env python3
"""Metrics on the local engine vs a 1-scheduler / 2-executor Ballista cluster
on this machine (issue 22). Numbers, not a test.

1. `usagelake demo --generate-only` writes --events Segment events and
   `usagelake ingest` turns them into the lake (not timed).
2. `usagelake run metrics --engine local` under /usr/bin/time.
3. `usagelake ballista scheduler` and two `usagelake ballista executor`
   processes on free loopback ports; `usagelake run metrics --engine
   df://…` under /usr/bin/time. Each cluster process's peak RSS (VmHWM) and
   the CPU seconds it spent during the run come from /proc.
4. Per table, the milliseconds of each engine (from the run ledger), and
   whether both runs wrote the same rows (DuckDB, EXCEPT ALL both ways).

  cargo build --release --features distributed
  python3 bench/ballista.py --events 10000000
"""
import argparse
import datetime as dt
import glob
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from ingest import timed
from metrics import generated_lake

RAW = ("pages", "tracks", "users", "quarantine")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, log):
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"process on {port} exited:\n" + open(log).read())
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"nothing listens on {port} after 60 s:\n" + open(log).read())


def proc_stats(pid):
    """(peak RSS MiB, CPU seconds so far) of a running process."""
    with open(f"/proc/{pid}/status") as f:
        hwm = next(int(l.split()[1]) for l in f if l.startswith("VmHWM:"))
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return hwm / 1024, (int(fields[11]) + int(fields[12])) / ticks


def table_millis(lake):
    """Per table milliseconds of the newest metrics run in the ledger."""
    records = [json.load(open(p)) for p in glob.glob(os.path.join(lake, "_usagelake", "runs", "metrics", "*", "*.json"))]
    newest = max(records, key=lambda r: r["started_at"])
    return {t["table"]: t["millis"] for t in newest["steps"][0]["counts"]}


def stamp(line):
    return dt.datetime.fromisoformat(line.split()[0]).timestamp()


def seconds(text):
    """'1.5ms' / '20.1µs' / '2.3s' (Rust's Duration Debug) in seconds."""
    m = re.fullmatch(r"([0-9.]+)(ns|µs|ms|s)", text)
    return float(m.group(1)) * {"ns": 1e-9, "µs": 1e-6, "ms": 1e-3, "s": 1.0}[m.group(2)]


def covered(intervals):
    """Length of the union of (start, end) intervals."""
    total, end = 0.0, None
    for a, b in sorted(intervals):
        if end is None or a > end:
            total += b - a
            end = b
        elif b > end:
            total += b - end
            end = b
    return total


def cluster_log_summary(work, run_s):
    """Where the cluster run's time went, from the scheduler's and executors' logs."""
    queued, finished, planning = {}, {}, 0.0
    for line in open(os.path.join(work, "scheduler.log"), errors="replace"):
        if m := re.search(r"Job queued: \[(\w+)\]", line):
            queued[m.group(1)] = stamp(line)
        elif m := re.search(r"Job finished successfully: \[(\w+)\]", line):
            finished[m.group(1)] = stamp(line)
        elif m := re.search(r"planning took (\S+)", line):
            planning += seconds(m.group(1))
    tasks, started, shuffle_bytes = {}, {}, 0
    for log in glob.glob(os.path.join(work, "executor-*.log")):
        for line in open(log, errors="replace"):
            if m := re.search(r"Received task: \[TID (\S+)\]", line):
                started[m.group(1)] = stamp(line)
            elif m := re.search(r"Finished task : \[TID (\S+)\] in (\S+)", line):
                tasks[m.group(1)] = (started.get(m.group(1), stamp(line)), stamp(line), seconds(m.group(2)))
            elif "Task statistics" in line:
                shuffle_bytes += sum(int(n) for n in re.findall(r"num_bytes: (\d+)", line))
    jobs = [j for j in queued if j in finished]
    job_s = sum(finished[j] - queued[j] for j in jobs)
    stages = {tuple(t.split("/")[:2]) for t in tasks}
    busy = sum(covered([(a, b) for t, (a, b, _) in tasks.items() if t.split("/")[0] == j
                        and a >= queued[j] and b <= finished[j]]) for j in jobs)
    print(f"cluster logs: {len(jobs)} jobs, {len(stages)} stages, {len(tasks)} tasks; "
          f"shuffle written {shuffle_bytes / 2**20:.1f} MiB (each stage's output, read by the next)")
    print(f"  client outside jobs (planning, sending plans and tables, fetching results, writing): "
          f"{run_s - job_s:6.2f} s")
    print(f"  jobs, queued to finished: {job_s:6.2f} s, of which scheduler planning {planning:5.2f} s, "
          f"some task running {busy:6.2f} s, no task running {job_s - busy:6.2f} s")
    print(f"  task time on the executors: {sum(d for _, _, d in tasks.values()):6.2f} s")


def derived_tables(lake):
    return sorted(t for t in os.listdir(os.path.join(lake, "tables")) if t not in RAW)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--end-date", default="2026-11-01")
    ap.add_argument("--bin", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "release", "usagelake"))
    ap.add_argument("--work", help="reuse this folder (keeps generated data between runs)")
    ap.add_argument("--concurrent-tasks", type=int, default=1, help="tasks per executor")
    args = ap.parse_args()
    work = args.work or tempfile.mkdtemp(prefix="usagelake-ballista-bench-")
    os.makedirs(work, exist_ok=True)
    lake = generated_lake(args.bin, work, args.events, args.days, args.end_date)
    for t in derived_tables(lake):
        shutil.rmtree(os.path.join(lake, "tables", t))
    # --force: the per-day tables were deleted, so the manifest must not reuse them.
    run = [args.bin, "--lake", lake, "run", "metrics", "--date", args.end_date, "--force", "--engine"]

    local_s, local_mib, _, local_cpu = timed(run + ["local"])
    local_ms = table_millis(lake)
    snapshot = os.path.join(work, "local-tables")
    shutil.rmtree(snapshot, ignore_errors=True)
    for t in derived_tables(lake):
        shutil.copytree(os.path.join(lake, "tables", t), os.path.join(snapshot, t))

    for t in derived_tables(lake):
        shutil.rmtree(os.path.join(lake, "tables", t))

    scheduler, executors = free_port(), [free_port(), free_port()]
    procs = []
    try:
        def start(name, argv, port):
            log = os.path.join(work, f"{name}.log")
            # Ballista's info log: job planning times, stages and tasks (summarised below).
            env = dict(os.environ, USAGELAKE_LOG="warn,usagelake=info,ballista_scheduler=info,ballista_executor=info,"
                                                 "ballista_executor::execution_loop=debug")
            p = subprocess.Popen([args.bin, "--lake", lake, "ballista"] + argv, stdout=subprocess.DEVNULL,
                                 stderr=open(log, "w"), env=env)
            procs.append((name, p))
            wait_port(port, p, log)

        start("scheduler", ["scheduler", "--bind", f"127.0.0.1:{scheduler}"], scheduler)
        for i, port in enumerate(executors, 1):
            start(f"executor-{i}", ["executor", "--scheduler", f"127.0.0.1:{scheduler}", "--bind",
                                    f"127.0.0.1:{port}", "--concurrent-tasks", str(args.concurrent_tasks)], port)
        time.sleep(1)  # executors register with their first poll
        before = {name: proc_stats(p.pid)[1] for name, p in procs}
        cluster_s, cluster_mib, _, cluster_cpu = timed(run + [f"df://127.0.0.1:{scheduler}"])
        after = {name: proc_stats(p.pid) for name, p in procs}
    finally:
        for _, p in procs:
            p.kill()
            p.wait()
    cluster_ms = table_millis(lake)

    print(f"events={args.events:,} days={args.days} as_of={args.end_date} bin={args.bin}")
    print(f"local engine        : {local_s:7.2f} s  peak RSS {local_mib:7.0f} MiB  CPU {local_cpu:6.1f} s")
    print(f"cluster, client     : {cluster_s:7.2f} s  peak RSS {cluster_mib:7.0f} MiB  CPU {cluster_cpu:6.1f} s")
    for name, (mib, cpu) in after.items():
        print(f"cluster, {name:11s}:            peak RSS {mib:7.0f} MiB  CPU {cpu - before[name]:6.1f} s")
    print(f"time ratio cluster/local: {cluster_s / local_s:.2f}x")
    cluster_log_summary(work, cluster_s)
    print("per table (ms): local, cluster, difference")
    for t in sorted(local_ms, key=lambda t: -(cluster_ms.get(t, 0) - local_ms[t])):
        print(f"  {t:28s} {local_ms[t]:8d} {cluster_ms.get(t, 0):8d} {cluster_ms.get(t, 0) - local_ms[t]:+8d}")

    try:
        import duckdb
    except ImportError:
        print("(pip install duckdb to compare the rows)")
        return
    con = duckdb.connect()
    differ = []
    for t in derived_tables(lake):
        # Doubles to 10 significant digits: the cluster sums in another order.
        cols = con.execute(f"DESCRIBE SELECT * FROM read_parquet('{snapshot}/{t}/*/*.parquet')").fetchall()
        select = ", ".join(f"printf('%.9e', \"{c[0]}\")" if c[1] in ("DOUBLE", "FLOAT") else f'"{c[0]}"'
                           for c in cols)
        a = f"(SELECT {select} FROM read_parquet('{snapshot}/{t}/*/*.parquet'))"
        b = f"(SELECT {select} FROM read_parquet('{lake}/tables/{t}/*/*.parquet'))"
        n = con.execute(f"SELECT (SELECT count(*) FROM (FROM {a} EXCEPT ALL FROM {b})) + "
                        f"(SELECT count(*) FROM (FROM {b} EXCEPT ALL FROM {a}))").fetchone()[0]
        if n:
            differ.append(f"{t}: {n} rows differ")
    print(f"rows of {len(derived_tables(lake))} tables (doubles to 10 significant digits): "
          + ("identical" if not differ else "DIFFER: " + "; ".join(differ)))


if __name__ == "__main__":
    main()
