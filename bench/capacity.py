"""Capacity under a load generator that costs the server almost nothing: wrk (C, from Debian)
replaying pre-built, valid, signed usage reports (and register requests, each with its own key
and CSR) over keep-alive TLS.

The reports are signed ahead (each a distinct interval of a registered instance, a fresh nonce,
``sent_at`` now: the SSM's freshness window is minutes), written one per line, and a Lua script
hands each wrk thread its own slice so no report is sent twice. wrk reports requests/s and
the latency distribution; the server's CPU time comes from ``/proc/<pid>/stat`` (user + system,
the process and its children: workers), so the figure that does not depend on the generator is
**server CPU microseconds per report**.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from agent.fleet import Sim, report_request
from shared import envelope, pki
from shared.messages import Identity, Register, encode
from shared.states import LicenseType, UsageMode

WRK = shutil.which("wrk")
_TICKS = os.sysconf("SC_CLK_TCK")

LUA = r"""
-- ssmlab bench: each wrk thread sends its own slice of pre-signed reports, once each.
local lines = {}
for line in io.lines(os.getenv("SSMLAB_BENCH_REQUESTS")) do lines[#lines + 1] = line end
local threads = tonumber(os.getenv("SSMLAB_BENCH_THREADS"))
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  next_index = id + 1
  ok, bad, exhausted = 0, 0, 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = os.getenv("SSMLAB_BENCH_CTYPE")
end

function request()
  local body = lines[next_index]
  if body == nil then
    exhausted = exhausted + 1
    body = lines[#lines]
  else
    next_index = next_index + threads
  end
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  if status == 200 then ok = ok + 1 else bad = bad + 1 end
end

function done(summary, latency, requests)
  io.write(string.format('{"requests": %d, "duration_us": %d, "errors_connect": %d, "errors_read": %d, ' ..
    '"errors_status": %d, "errors_timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read,
    summary.errors.status, summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


@dataclass(frozen=True)
class Capacity:
    requests: int
    per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_us_per_request: float

    def as_dict(self, prefix: str) -> dict[str, float]:
        return {
            f"{prefix}_per_s": self.per_s,
            f"{prefix}_p50_ms": self.p50_ms,
            f"{prefix}_p99_ms": self.p99_ms,
            f"{prefix}_errors": self.errors,
            f"{prefix}_cpu": self.cpu_us_per_request,
        }


def signed_reports(sims: list[Sim], count: int, *, base_interval: int, now: float | None = None) -> Iterable[str]:
    """``count`` distinct signed usage reports, round-robin over the instances (one interval each).

    The interval ends step by one second from ``base_interval``: the SSM refuses an interval that ends
    more than its skew window (5 minutes) in the future, so each instance gets at most 200 of them.
    """
    sent_at = int(time.time() if now is None else now)
    n = len(sims)
    if count > 200 * n:
        raise ValueError(f"{count} reports over {n} instances: at most 200 each fit the SSM's skew window")
    for i in range(count):
        sim = sims[i % n]
        end = base_interval + i // n + 1
        body, _, _ = report_request(sim, end, i % 4, sent_at, want_chain=False)
        yield body.decode()


def register_requests(count: int, token: str, *, prefix: str = "WRK") -> Iterable[str]:
    """``count`` distinct register requests (a fresh key and CSR each, a unique serial number and
    nonce, ``sent_at`` now): the CSR -> ID certificate path, replayed by wrk."""
    sent_at = int(time.time())
    for i in range(count):
        serial = f"{prefix}{i:07d}"
        msg = Register(
            sent_at=sent_at,
            nonce=envelope.new_nonce(),
            token=token,
            csr=pki.make_csr(pki.new_key(), common_name=serial, serial_number=serial).decode(),
            identity=Identity(
                instance_name=serial,
                product="CVP",
                udi_pid="CVP",
                serial_number=serial,
                hostname=f"{serial.lower()}.wrk",
                deployment_type="CVP",
                license_type=LicenseType.FLEX,
                usage_mode=UsageMode.PRODUCTION,
            ),
        )
        yield encode(msg).decode()


def write_requests(path: Path, bodies: Iterable[str]) -> int:
    n = 0
    with path.open("w") as f:
        for body in bodies:
            f.write(body + "\n")
            n += 1
    return n


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (an SSM with workers)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        children = Path(f"/proc/{p}/task/{p}/children")
        if children.exists():
            todo += [int(c) for c in children.read_text().split()]
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` and its live descendants."""
    total = 0
    for p in _tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / _TICKS


def run_wrk(
    url: str,
    requests: Path,
    *,
    server_pid: int,
    seconds: float,
    connections: int,
    threads: int = 2,
    content_type: str = envelope.CONTENT_TYPE,
) -> Capacity:
    """Drive ``url`` with wrk for ``seconds``; the figures, with the server's CPU per request."""
    if WRK is None:
        raise SystemExit("bench: wrk is missing (apt-get install wrk): the capacity figures need it")
    script = requests.with_suffix(".lua")
    script.write_text(LUA)
    env = {
        **os.environ,
        "SSMLAB_BENCH_REQUESTS": str(requests),
        "SSMLAB_BENCH_THREADS": str(threads),
        "SSMLAB_BENCH_CTYPE": content_type,
    }
    cpu_before = cpu_seconds(server_pid)
    done = subprocess.run(
        [WRK, f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s", "-s", str(script), url],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    cpu = cpu_seconds(server_pid) - cpu_before
    summary = json.loads(next(line for line in done.stdout.splitlines() if line.startswith('{"requests"')))
    errors = sum(summary[k] for k in ("errors_connect", "errors_read", "errors_status", "errors_timeout"))
    good = max(1, summary["requests"] - summary["errors_status"])
    return Capacity(
        requests=summary["requests"],
        per_s=summary["requests"] / (summary["duration_us"] / 1e6),
        p50_ms=summary["p50_us"] / 1000,
        p99_ms=summary["p99_us"] / 1000,
        errors=errors,
        cpu_us_per_request=cpu / good * 1e6,
    )
