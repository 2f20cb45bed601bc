"""``make cluster``: a throwaway PostgreSQL, the SSM on it with one and then two workers, and the
Locust fleet (``locust --master`` and two ``--worker`` processes, headless) against each; a table
of reports/s and p99 side by side, and the check that every acknowledged report is stored once.

Each run gets a database of its own, a fresh registration token and the same fixed duration. The
SSM's clock is scaled (``--rate``): one usage interval (900 domain seconds) closes every
``900 / rate`` real seconds, and every Locust user reports each one as it closes. Acknowledged
reports are Locust's successful "report" requests (a reply signed by the SSM naming the report
accepted); stored ones are the rows of ``usage_reports``.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from bench.__main__ import process, ssm_args, token
from plumbing import pgcluster
from server.pki_files import init_lab_pki

LOCUSTFILE = Path(__file__).resolve().parent / "fleet" / "locustfile.py"


@dataclass(frozen=True)
class Run:
    workers: int
    acknowledged: int
    failed: int
    per_s: float
    p99_ms: float
    stored: int
    #: Acknowledged report ids (from the Locust processes' own lists) not stored, or listed twice.
    missing: int
    twice: int
    #: Locust's own count of successful "report" requests (its master may write its figures before
    #: the last ones of its workers arrive: the ids' lists are the acknowledged reports).
    locust_ok: int

    @property
    def exactly_once(self) -> bool:
        return self.missing == 0 and self.twice == 0 and self.acknowledged >= self.locust_ok > 0


def _locust(work: Path, url: str, tok: str, clock: tuple[str, float, float]) -> list[str]:
    epoch, anchor, rate = clock
    return [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--host",
        url,
        "--ssm-token",
        tok,
        "--ssm-truststore",
        str(work / "certs" / "truststore.pem"),
        "--ssm-rate",
        str(rate),
        "--ssm-epoch",
        epoch,
        "--ssm-anchor",
        str(anchor),
        "--ssm-acks",
        str(work / "acks"),
    ]


def _stats(prefix: Path) -> tuple[int, int, float, float]:
    """Locust's aggregated "report" row: successes, failures, requests/s, p99 (ms)."""
    path = prefix.parent / f"{prefix.name}_stats.csv"
    if not path.exists():
        raise SystemExit(f"cluster: Locust wrote no figures: see {prefix}-*.log")
    with path.open() as f:
        for row in csv.DictReader(f):
            if row["Name"] == "report":
                total, failed = int(row["Request Count"]), int(row["Failure Count"])
                return total - failed, failed, float(row["Requests/s"]), float(row["99%"] or 0)
    return 0, 0, 0.0, 0.0


def one_run(work: Path, cluster: pgcluster.Cluster, workers: int, args: argparse.Namespace) -> Run:
    name = f"ssm_w{workers}"
    with psycopg.connect(cluster.url(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    db = cluster.url(name)
    anchor = time.time()
    epoch = datetime.fromtimestamp(anchor, UTC).isoformat()
    clock = ["--clock", "scaled", "--rate", str(args.rate), "--epoch", epoch, "--anchor", str(anchor)]
    ssm = [*ssm_args(work, db, work / f"port{workers}"), "--workers", str(workers), *clock]  # type: ignore[arg-type]
    with process(ssm, work / f"port{workers}", work / f"ssm{workers}.log") as (_, port):
        tok = token(db, None)  # type: ignore[arg-type]
        base = _locust(work, f"https://127.0.0.1:{port}", tok, (epoch, anchor, args.rate))
        master_port = pgcluster.free_port()
        prefix = work / f"locust{workers}"
        acks = work / "acks"
        for old in acks.glob("acks-*.txt"):
            old.unlink()
        acks.mkdir(exist_ok=True)
        logs = [(work / f"locust{workers}-{i}.log").open("wb") for i in range(args.locust_workers + 1)]
        try:
            master = [
                *base,
                "--master",
                "--master-bind-port",
                str(master_port),
                "--expect-workers",
                str(args.locust_workers),
                "--headless",
                "--only-summary",
                "-u",
                str(args.users),
                "-r",
                str(args.spawn_rate),
                "-t",
                f"{args.seconds}s",
                "--csv",
                str(prefix),
                "--stop-timeout",
                "10",
                # The figures from when every user is spawned (registrations go on under "register").
                "--reset-stats",
            ]
            # The master first: a worker that starts before it is "unrecognized" for a while.
            lead = subprocess.Popen(master, stdout=logs[0], stderr=logs[0])
            time.sleep(2)
            procs = [
                subprocess.Popen(
                    [*base, "--worker", "--master-host", "127.0.0.1", "--master-port", str(master_port)],
                    stdout=logs[i + 1],
                    stderr=logs[i + 1],
                )
                for i in range(args.locust_workers)
            ]
            lead.wait(timeout=args.seconds + 120)
            for p in procs:
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
        finally:
            for f in logs:
                f.close()
    acknowledged, failed, per_s, p99 = _stats(prefix)
    ids = [line for f in (work / "acks").glob("acks-*.txt") for line in f.read_text().split()]
    with psycopg.connect(db) as conn:
        stored = {r[0] for r in conn.execute("SELECT report_id FROM usage_reports")}
    missing = sum(1 for i in ids if i not in stored)
    return Run(workers, len(ids), failed, per_s, p99, len(stored), missing, len(ids) - len(set(ids)), acknowledged)


def table(runs: list[Run]) -> str:
    lines = [
        "| SSM workers | reports/s | p99 (ms) | acknowledged | failed | stored | acked, not stored | acked twice |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        lines.append(
            f"| {r.workers} | {r.per_s:.0f} | {r.p99_ms:.0f} | {r.acknowledged} | {r.failed} | {r.stored} | "
            f"{r.missing} | {r.twice} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=30, help="each Locust run (default 30)")
    parser.add_argument("--users", type=int, default=100, help="product instances (default 100)")
    parser.add_argument("--spawn-rate", type=float, default=20)
    parser.add_argument("--rate", type=float, default=9000, help="SSM clock rate (default 9000: 10 intervals/s)")
    parser.add_argument("--locust-workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("var/cluster"), help="logs and RESULTS.md")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="cluster-", dir=args.out))
    init_lab_pki(work / "certs")
    runs = []
    with pgcluster.running() as cluster:
        for workers in (1, 2):
            print(f"cluster: the SSM with {workers} worker(s) on PostgreSQL, Locust {args.seconds}s ...", flush=True)
            runs.append(one_run(work, cluster, workers, args))
    text = table(runs)
    print(text)
    (args.out / "RESULTS.md").write_text(
        f"{args.users} users, clock rate {args.rate:g}, {args.seconds}s per run, "
        f"{args.locust_workers} Locust workers; logs in {work}\n\n{text}\n"
    )
    ok = all(r.exactly_once and r.acknowledged >= args.users for r in runs)  # (and the run did run)
    print(
        "every acknowledged report is stored, once (a stored report beyond them was in flight when Locust stopped)"
        if ok
        else "cluster: MISMATCH: an acknowledged report is not stored, or was acknowledged twice (see the table)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
