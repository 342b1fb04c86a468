#!/usr/bin/env python3
"""PostgreSQL log mining benchmark: `usagelake mine` over a generated
csvlog and a generated jsonlog of --statements statements each (one day,
20 users in sessions of 200 statements: simple and extended protocol,
multi-line statements, IN-lists, transactions, 1 in 100 failing with its
ERROR record). Prints wall time, statements/s and peak RSS per format
(/usr/bin/time). Needs a release build:

  cargo build --release && python3 bench/pg_logs.py --statements 1000000
  python3 bench/pg_logs.py --bin old/usagelake --bin target/release/usagelake   # compare builds
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

DAY = "2026-11-02"
CONNECTOR_ID = "9c1d2e3f-4a5b-4c6d-8e7f-a0b1c2d3e4f5"

TEMPLATES = [
    "SELECT id, total FROM orders WHERE customer_id = {n};",
    "SELECT c.name,\n       sum(o.total)\nFROM orders o\nJOIN customers c ON c.id = o.customer_id\nWHERE o.created_at > '2026-10-{d:02d}'\nGROUP BY c.name;",
    "SELECT name FROM customers WHERE id IN ({inlist});",
    "UPDATE orders SET total = total + {n} WHERE id = {m};",
    "INSERT INTO events (kind, payload) VALUES ('click', 'user {n} secret {m}');",
]
EXTENDED = "SELECT total FROM orders WHERE id = $1"


def statements(count):
    """Yields (session, line, user, severity, message, query) records."""
    session = 0
    line = 0
    i = 0
    while i < count:
        if i % 200 == 0:
            session += 1
            line = 0
        user = f"user{session % 20}"
        line += 1
        if i % 100 == 50:
            text = f"SELECT nope FROM orders WHERE id = {i};"
            yield session, line, user, "LOG", "statement: " + text, None
            line += 1
            yield session, line, user, "ERROR", 'column "nope" does not exist', text
        elif i % 100 == 70:
            yield session, line, user, "LOG", "statement: BEGIN;", None
        elif i % 3 == 0:
            yield session, line, user, "LOG", f"execute s{i % 7}: {EXTENDED}", None
        else:
            n = i % 1000
            text = TEMPLATES[i % len(TEMPLATES)].format(
                n=n, m=i, d=1 + i % 28, inlist=", ".join(str(k) for k in range(1 + i % 9))
            )
            yield session, line, user, "LOG", "statement: " + text, None
        i += 1


def timestamp(k, count):
    seconds = min(int(k * 80000 / max(count, 1)), 86399)
    return f"{DAY} {seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}.{k % 1000:03d} UTC"


def csv_quote(text):
    return '"' + text.replace('"', '""') + '"'


def write_logs(folder, count, fmt):
    path = os.path.join(folder, "postgresql-20261102." + fmt)
    with open(path, "w") as out:
        for k, (session, line, user, severity, message, query) in enumerate(statements(count)):
            ts = timestamp(k, count)
            sid = f"6b15a0cb.{session:x}"
            if fmt == "csv":
                fields = [ts, csv_quote(user), '"shop"', str(1000 + session), '"127.0.0.1:5000"', sid, str(line),
                          '"idle"', f"{DAY} 00:00:00 UTC", "3/2", "0", severity,
                          "00000" if severity == "LOG" else "42703", csv_quote(message), "", "", "", "", "",
                          csv_quote(query) if query else "", "", "", '"bench"', '"client backend"', "", "0"]
                out.write(",".join(fields) + "\n")
            else:
                record = {"timestamp": ts, "user": user, "dbname": "shop", "pid": 1000 + session,
                          "session_id": sid, "line_num": line, "error_severity": severity, "message": message,
                          "application_name": "bench", "backend_type": "client backend", "query_id": 0}
                if query:
                    record["statement"] = query
                out.write(json.dumps(record) + "\n")
    return path


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--statements", type=int, default=1_000_000)
    parser.add_argument("--bin", action="append",
                        help="binary to run (repeat to compare builds on the same files); "
                             "default target/release/usagelake")
    args = parser.parse_args()
    binaries = [os.path.abspath(b) for b in (args.bin or ["target/release/usagelake"])]
    for fmt in ["csv", "json"]:
        with tempfile.TemporaryDirectory() as work:
            logs = os.path.join(work, "logs")
            os.makedirs(logs)
            os.makedirs(os.path.join(work, "config"))
            path = write_logs(logs, args.statements, fmt)
            with open(os.path.join(work, "config", "usagelake.toml"), "w") as conf:
                conf.write(f'[lake]\nurl = "./lake"\n\n[[connectors]]\nid = "{CONNECTOR_ID}"\n'
                           f'name = "pg"\ntype = "postgres"\nlog_dir = "{logs}"\n')
            size = os.path.getsize(path) / 2**20
            for binary in binaries:
                shutil.rmtree(os.path.join(work, "lake"), ignore_errors=True)
                out = subprocess.run(["/usr/bin/time", "-f", "@@ %e %M", binary, "mine", "pg", "--date", DAY],
                                     cwd=work, capture_output=True, text=True)
                if out.returncode != 0:
                    sys.exit(f"mine failed:\n{out.stdout}\n{out.stderr}")
                stats = [l for l in out.stderr.splitlines() if l.startswith("@@ ")][-1].split()
                secs, rss = float(stats[1]), int(stats[2]) / 1024
                print(f"{fmt}log {args.statements} statements ({size:.0f} MiB), {binary}: {secs:.2f} s, "
                      f"{args.statements / secs:,.0f} statements/s, peak RSS {rss:,.0f} MiB; {out.stdout.strip()}",
                      flush=True)


if __name__ == "__main__":
    main()
