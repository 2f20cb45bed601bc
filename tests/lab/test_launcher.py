"""``ssmlab run`` (what ``make run`` starts) and ``ssmlab up``: both processes healthy, the demo
registers its instances, Ctrl-C stops both cleanly and keeps the lab, the next run resumes it;
snapshots hold both sides."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from datetime import datetime
from pathlib import Path

from lab.processes import Lab
from tests.lab.launcher import free_port, port_closed, ssmlab


def read_until(proc: subprocess.Popen[str], needle: str, timeout: float = 60) -> list[str]:
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if needle in line:
            return lines
    raise AssertionError(f"{needle!r} never printed; got {lines}")


def interrupt(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    return out


def test_run_registers_the_demo_stops_on_ctrl_c_and_resumes(tmp_path: Path, pki_dir: Path) -> None:
    folder = tmp_path / "lab"
    ports = ["--ssm-port", str(free_port()), "--agent-port", str(free_port())]
    first = subprocess.Popen(
        ssmlab(folder, pki_dir, "run", "--fresh", "--headless", "--rate", "172800", *ports),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = read_until(first, "registered ")
        assert any("new lab in" in line for line in lines)
        lab = Lab(folder, pki_dir).load()
        statuses = lab.agent("GET", "/api/v1/status")["instances"]
        assert {s["product_instance_name"]: s["registration_status"] for s in statuses} == {
            "ucce-1": "Registered",
            "cvp-1": "Registered",
        }
        assert lab.ssm("GET", "/_lab/health")["status"] == "ok"
        assert lab.ssm("GET", "/_lab/instances")["total"] == 2
    finally:
        out = interrupt(first)
    assert "stopped; the lab is kept" in out
    state = json.loads((folder / "lab.json").read_text())
    reached = datetime.fromisoformat(state["domain_now"])
    assert "register" in state["demo_done"] and "ssm_pid" not in state
    assert port_closed(lab.ssm_port) and port_closed(lab.agent_port)

    second = subprocess.Popen(
        ssmlab(folder, pki_dir, "run", "--headless", "--rate", "0"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = read_until(second, "lab in")
        assert "resumed lab" in lines[-1]
        lab = Lab(folder, pki_dir).load()
        now = datetime.fromisoformat(lab.ssm("GET", "/_lab/clock")["now"])
        assert now >= reached  # the stopped lab's time stood still, then went on from there
        assert {s["registration_status"] for s in lab.agent("GET", "/api/v1/status")["instances"]} == {"Registered"}
        assert lab.ssm("GET", "/_lab/instances")["total"] == 2  # not registered twice
    finally:
        out = interrupt(second)
    assert "registered" not in out


def test_up_snapshot_save_change_load_down(tmp_path: Path, pki_dir: Path) -> None:
    """A snapshot holds both sides: after a deregistration, loading it brings the instance back
    registered on the agent and present on the SSM."""
    folder = tmp_path / "lab"
    ports = ["--ssm-port", str(free_port()), "--agent-port", str(free_port())]
    up = subprocess.run(
        ssmlab(folder, pki_dir, "up", "--fresh", "--rate", "0", *ports), capture_output=True, text=True, timeout=60
    )
    try:
        assert up.returncode == 0, up.stderr
        lab = Lab(folder, pki_dir).load()
        advanced = subprocess.run(ssmlab(folder, pki_dir, "clock", "advance", "2d"), capture_output=True, text=True)
        assert advanced.returncode == 0, advanced.stderr
        assert "registered ucce-1, cvp-1" in advanced.stdout  # the demo's day-2 step
        saved = subprocess.run(ssmlab(folder, pki_dir, "snapshot", "save", "day2"), capture_output=True, text=True)
        assert saved.returncode == 0, saved.stderr
        saved_at = lab.ssm("GET", "/_lab/clock")["now"]
        lab.agent("POST", "/api/v1/instances/cvp-1/deregister")
        assert lab.ssm("GET", "/_lab/instances")["total"] == 1
        later = subprocess.run(ssmlab(folder, pki_dir, "clock", "advance", "3d"), capture_output=True, text=True)
        assert later.returncode == 0, later.stderr
        listed = subprocess.run(ssmlab(folder, pki_dir, "snapshot", "list"), capture_output=True, text=True)
        assert "day2" in listed.stdout
        loaded = subprocess.run(ssmlab(folder, pki_dir, "snapshot", "load", "day2"), capture_output=True, text=True)
        assert loaded.returncode == 0, loaded.stderr
        cvp = lab.agent("GET", "/api/v1/instances/cvp-1/status")
        assert cvp["registration_status"] == "Registered"
        assert lab.ssm("GET", "/_lab/instances")["total"] == 2
        # the clocks too (README: "databases, clocks"): both back at the snapshot's instant
        assert lab.ssm("GET", "/_lab/clock")["now"] == lab.agent("GET", "/_lab/clock")["now"] == saved_at
        missing = subprocess.run(ssmlab(folder, pki_dir, "snapshot", "load", "nope"), capture_output=True, text=True)
        assert missing.returncode == 1 and "nope" in missing.stderr
    finally:
        down = subprocess.run(ssmlab(folder, pki_dir, "down"), capture_output=True, text=True, timeout=60)
    assert "stopped" in down.stdout
    assert port_closed(lab.ssm_port) and port_closed(lab.agent_port)


def test_a_long_advance_plays_each_script_step_on_its_day(tmp_path: Path, pki_dir: Path) -> None:
    """``clock advance 45d`` stops at day 2 to register and at day 40 to buy (the README's story),
    rather than doing both at the end of the advance."""
    from datetime import datetime, timedelta

    folder = tmp_path / "lab"
    ports = ["--ssm-port", str(free_port()), "--agent-port", str(free_port()), "--console-port", "0"]
    up = subprocess.run(
        ssmlab(folder, pki_dir, "up", "--fresh", "--rate", "0", *ports), capture_output=True, text=True, timeout=60
    )
    try:
        assert up.returncode == 0, up.stderr
        lab = Lab(folder, pki_dir).load()
        start = datetime.fromisoformat(lab.state["demo_start"]).replace(microsecond=0)  # events keep seconds
        advanced = subprocess.run(ssmlab(folder, pki_dir, "clock", "advance", "45d"), capture_output=True, text=True)
        assert advanced.returncode == 0, advanced.stderr
        events = lab.ssm("GET", "/_lab/events?limit=500")
        events = events["events"] if isinstance(events, dict) else events
        at = {e["kind"]: datetime.fromisoformat(e["at"]) for e in reversed(events)}  # the first of each kind
        assert at["instance_registered"] == start + timedelta(days=2), at
        bought = [datetime.fromisoformat(e["at"]) for e in events if e["kind"] == "licenses_added"]
        assert bought and min(bought) == start + timedelta(days=40), bought
    finally:
        down = subprocess.run(ssmlab(folder, pki_dir, "down"), capture_output=True, text=True, timeout=60)
    assert "stopped" in down.stdout


def test_fresh_forgets_the_old_lab(tmp_path: Path, pki_dir: Path) -> None:
    """--fresh starts over: not 'resumed', the demo script runs again, old ports are not reused."""
    folder = tmp_path / "lab"
    folder.mkdir()
    old = {"ssm_port": 1, "agent_port": 2, "domain_now": "2030-01-01T00:00:00+00:00", "demo_done": ["register"]}
    (folder / "lab.json").write_text(json.dumps(old))
    ports = ["--ssm-port", str(free_port()), "--agent-port", str(free_port())]
    up = subprocess.run(
        ssmlab(folder, pki_dir, "up", "--fresh", "--rate", "0", *ports), capture_output=True, text=True, timeout=60
    )
    try:
        assert up.returncode == 0, up.stderr
        assert "new lab in" in up.stdout
        state = json.loads((folder / "lab.json").read_text())
        assert "demo_done" not in state and state["ssm_port"] != 1
        assert not state["demo_start"].startswith("2030")
    finally:
        subprocess.run(ssmlab(folder, pki_dir, "down"), capture_output=True, text=True, timeout=60)


def test_a_failed_start_leaves_nothing_running(tmp_path: Path, pki_dir: Path) -> None:
    """The agent's port is taken: 'up' fails with the agent's own message, and the SSM it had
    started is stopped again."""
    folder = tmp_path / "lab"
    ssm_port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        agent_port = taken.getsockname()[1]
        up = subprocess.run(
            ssmlab(folder, pki_dir, "up", "--fresh", "--rate", "0", "--ssm-port", str(ssm_port), "--agent-port",
                   str(agent_port)),
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert up.returncode != 0
    assert "cannot listen on" in up.stderr and "agent.log" in up.stderr
    assert port_closed(ssm_port)


def test_port_0_is_any_free_port_and_only_the_lab_s_resolve_entries_move(tmp_path: Path, pki_dir: Path) -> None:
    """--ssm-port 0 / --agent-port 0 start on free ports, recorded in lab.json, and the agent
    reaches that SSM; a later start rewrites only the [resolve] entries ssmlab owns, never an
    entry the user added (issue 16, items 13 and 16)."""
    import tomllib

    folder = tmp_path / "lab"
    any_port = ["--ssm-port", "0", "--agent-port", "0"]
    up = subprocess.run(ssmlab(folder, pki_dir, "up", "--fresh", "--rate", "0", *any_port), capture_output=True,
                        text=True, timeout=60)  # fmt: skip
    try:
        assert up.returncode == 0, up.stderr
        state = json.loads((folder / "lab.json").read_text())
        assert state["ssm_port"] not in (0, 8443) and state["agent_port"] not in (0, 8787)
        lab = Lab(folder, pki_dir).load()
        assert f"SSM https://127.0.0.1:{state['ssm_port']}" in up.stdout
        resolve = tomllib.loads((folder / "agent.toml").read_text())["resolve"]
        assert set(resolve.values()) == {f"127.0.0.1:{state['ssm_port']}"}
        advanced = subprocess.run(ssmlab(folder, pki_dir, "clock", "advance", "2d"), capture_output=True, text=True)
        assert advanced.returncode == 0, advanced.stderr
        assert lab.ssm("GET", "/_lab/instances")["total"] == 2  # the agent reached that SSM
    finally:
        subprocess.run(ssmlab(folder, pki_dir, "down"), capture_output=True, text=True, timeout=60)

    text = (folder / "agent.toml").read_text()
    mine = '"my-onprem.example.com:443" = "127.0.0.1:9443"'
    text = text.replace("[resolve]\n", f"[resolve]\n{mine}\n")
    (folder / "agent.toml").write_text(text)
    again = subprocess.run(ssmlab(folder, pki_dir, "up", "--rate", "0", "--ssm-port", "0"), capture_output=True,
                           text=True, timeout=60)  # fmt: skip
    try:
        assert again.returncode == 0, again.stderr
        port = json.loads((folder / "lab.json").read_text())["ssm_port"]
        resolve = tomllib.loads((folder / "agent.toml").read_text())["resolve"]
        assert resolve.pop("my-onprem.example.com:443") == "127.0.0.1:9443"
        assert set(resolve) == {"smartreceiver.cisco.com:443", "tools.cisco.com:443", "wrong-host.ssmlab.example:443"}
        assert set(resolve.values()) == {f"127.0.0.1:{port}"}
    finally:
        subprocess.run(ssmlab(folder, pki_dir, "down"), capture_output=True, text=True, timeout=60)
