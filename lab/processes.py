"""A lab on disk and its two processes: the lab PKI, an SSM and a Smart Agent sharing one timeline.

The lab folder (``var/lab`` by default) holds both databases, the agent's ``agent.toml``, the logs
and ``lab.json`` (ports, process ids, the clock, and how far the demo script got). Both processes
start with the same clock triple (epoch, anchor, rate), so they share one timeline; when the lab
stops, the domain time it reached is recorded, and the next start resumes from there (a stopped
lab's time stands still). The launcher runs ``ssm-server`` and ``smart-agent`` as commands and
talks to them over HTTP only.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lab import clock as lockstep
from lab.agenttoml import AGENT_TOML, LAB_RESOLVE, instance_toml, point_agent_toml
from plumbing import labtoken
from plumbing.clients.lab import CLIENT_CERT_FILE, LabError, call

SSM_PORT = 8443
AGENT_PORT = 8787
CONSOLE_PORT = 8780


def _console_port(port: int | None) -> int:
    """``port``; for None, CONSOLE_PORT or, when that one is taken, a free one; for 0, a free one."""
    if port:
        return port
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", CONSOLE_PORT if port is None else 0))
        except OSError:
            s.bind(("127.0.0.1", 0))
        free: int = s.getsockname()[1]
        return free


#: What ``Lab.save`` records in lab.json: the processes, their ports and their clock.
PROCESS_KEYS = (
    *("ssm_port", "agent_port", "ssm_pid", "agent_pid", "console_pid", "console_port"),
    *("domain_now", "rate", "clock"),
)
#: A port of 0 asks for any free port; the one bound is read back and recorded.
ANY_PORT = 0


@dataclass
class Lab:
    folder: Path
    certs: Path
    ssm_port: int = SSM_PORT
    agent_port: int = AGENT_PORT
    state: dict[str, Any] = field(default_factory=dict)
    _procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _endpoints: list[lockstep.Endpoint] = field(default_factory=list)

    # -- paths and addresses --------------------------------------------------------------------
    @property
    def state_file(self) -> Path:
        return self.folder / "lab.json"

    @property
    def agent_toml(self) -> Path:
        return self.folder / "agent.toml"

    @property
    def ssm_db(self) -> Path:
        return self.folder / "ssm.db"

    @property
    def api_client_file(self) -> Path:
        """The lab's admin API client (id and secret, mode 0600): scripts can call the API at once."""
        return self.folder / "api-client.json"

    @property
    def ssm_url(self) -> str:
        return f"https://127.0.0.1:{self.ssm_port}"

    @property
    def agent_url(self) -> str:
        return f"http://127.0.0.1:{self.agent_port}"

    @property
    def console_url(self) -> str | None:
        """The lab console's address while this lab runs one (``start_console``)."""
        port = self.state.get("console_port")
        return f"http://127.0.0.1:{port}/" if port and self.state.get("console_pid") else None

    def pages(self) -> list[tuple[str, str]]:
        """The web pages: the lab console (when it runs), the SSM portal, the agent's page."""
        console = [("lab console", self.console_url)] if self.console_url else []
        return [*console, ("SSM portal", f"{self.ssm_url}/"), ("agent page", f"{self.agent_url}/")]

    @property
    def cacert(self) -> Path:
        return self.certs / "ca.pem"

    def load(self) -> Lab:
        if self.state_file.exists():
            self.state = self._read()
            self.ssm_port = self.state.get("ssm_port", self.ssm_port)
            self.agent_port = self.state.get("agent_port", self.agent_port)
        return self

    def save(self) -> None:
        """Record what this object knows of the processes (``PROCESS_KEYS``); the rest of lab.json
        (the demo script's progress) is another command's to change, and stays as it is on disk."""
        self.state.update(ssm_port=self.ssm_port, agent_port=self.agent_port)
        with self._lock():
            on_disk = self._read() if self.state_file.exists() else {}
            for key in PROCESS_KEYS:
                if key in self.state:
                    on_disk[key] = self.state[key]
                else:
                    on_disk.pop(key, None)
            self._write(on_disk)
        self.state = on_disk

    @contextmanager
    def locked(self) -> Iterator[dict[str, Any]]:
        """lab.json as it is on disk now, held against every other ssmlab command (the run loop,
        'clock advance', 'reset' in another terminal) until the block ends, then written back: for
        state several commands change, read and decided on at once. Not re-entrant."""
        with self._lock():
            self.state = self._read() if self.state_file.exists() else {}
            before = json.dumps(self.state)
            yield self.state
            if json.dumps(self.state) != before:
                self._write(self.state)

    @contextmanager
    def _lock(self) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / "lab.lock").open("a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def _read(self) -> dict[str, Any]:
        state: dict[str, Any] = json.loads(self.state_file.read_text())
        return state

    def _write(self, state: dict[str, Any]) -> None:
        """Whole or not at all (a reader never sees half a file)."""
        tmp = self.state_file.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(state, indent=2))
        os.replace(tmp, self.state_file)

    # -- calls ----------------------------------------------------------------------------------
    def ssm(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, timeout: float = 600.0, api: bool = False
    ) -> Any:
        """A call to the SSM; ``api`` authenticates it to the admin API with the lab's API client."""
        # The lab plane on loopback is reached without verifying the SSM's certificate: a TLS
        # drill breaks that certificate on purpose, and the lab must still be driven.
        headers = {"Authorization": f"Bearer {self.api_token()}"} if api else None
        token = labtoken.find(self.folder)  # an SSM of this folder started with --lab-exposed
        return call(
            self.ssm_url + path,
            method,
            body,
            insecure=True,
            timeout=timeout,
            headers=headers,
            token=token,
            client_cert=self.folder / CLIENT_CERT_FILE,  # while a drill demands client certificates
        )

    def new_api_client(self) -> None:
        """Create the lab's admin API client with the SSM's own command and keep it (mode 0600)."""
        create = ["api-client", "create", "--name", "ssmlab", "--json", "--db", str(self.ssm_db)]
        made = subprocess.run([sys.executable, "-m", "server", *create], capture_output=True, check=False)
        if made.returncode != 0:
            raise LabError(
                f"could not create the lab's API client: {made.stderr.decode(errors='replace').strip()}",
                f"create one by hand: ssm-server api-client create --json --db {self.ssm_db} > {self.api_client_file}",
            )
        fd = os.open(self.api_client_file, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(made.stdout)

    def api_token(self) -> str:
        """A fresh access token of the lab's API client (tokens expire in the SSM's domain time).
        A lab made before it had one, or a snapshot older than its client, gets a new one."""
        for attempt in range(2):
            if not self.api_client_file.exists():
                self.new_api_client()
            client = json.loads(self.api_client_file.read_text())
            creds = {"grant_type": "client_credentials", "client_id": client["client_id"]}
            creds["client_secret"] = client["client_secret"]
            try:
                return str(self.ssm("POST", "/as/token.oauth2", creds)["access_token"])
            except LabError as exc:
                if exc.code != "invalid_client" or attempt:
                    raise
                self.api_client_file.unlink()
        raise AssertionError("unreachable")

    def agent(self, method: str, path: str, body: dict[str, Any] | None = None, *, timeout: float = 600.0) -> Any:
        return call(self.agent_url + path, method, body, timeout=timeout)

    def endpoints(self) -> list[lockstep.Endpoint]:
        """Both clocks, for moving them together (kept-alive connections, closed by ``close``)."""
        if not self._endpoints:
            self._endpoints = [
                lockstep.Endpoint("ssm", self.ssm_url, insecure=True, client_cert=self.folder / CLIENT_CERT_FILE),
                lockstep.Endpoint("agent", self.agent_url),
            ]
        return self._endpoints

    def close(self) -> None:
        """Close the connections this object holds (the processes keep running)."""
        for e in self._endpoints:
            e.close()
        self._endpoints = []

    def running(self) -> bool:
        try:
            self.ssm("GET", "/_lab/health", timeout=5)
            self.agent("GET", "/_lab/health", timeout=5)
        except LabError:
            return False
        return True

    # -- life -----------------------------------------------------------------------------------
    def prepare(
        self,
        instances: list[dict[str, Any]],
        *,
        fresh: bool,
        ssm_port: int | None = None,
        agent_port: int | None = None,
    ) -> None:
        """The lab folder, PKI and agent.toml; ``fresh`` forgets the old lab. Ports given here
        win over the recorded ones; 0 is any free port (``start`` records the one bound)."""
        if fresh:
            # Start over: nothing of the old lab is kept, not even its recorded state.
            shutil.rmtree(self.folder, ignore_errors=True)
            self.state = {}
            self.ssm_port, self.agent_port = SSM_PORT, AGENT_PORT
        self.folder.mkdir(parents=True, exist_ok=True)
        self.load()
        if ssm_port is not None:
            self.ssm_port = ssm_port
        if agent_port is not None:
            self.agent_port = agent_port
        subprocess.run(
            [sys.executable, "-m", "server", "pki", "init", "--out", str(self.certs)], check=True, capture_output=True
        )
        if not self.api_client_file.exists():
            self.new_api_client()
        if not self.agent_toml.exists():
            self.agent_toml.write_text(
                AGENT_TOML.format(
                    agent_port=self.agent_port,
                    resolve="\n".join(f'"{key}" = "127.0.0.1:{self.ssm_port}"' for key in LAB_RESOLVE),
                    truststore=(self.certs / "truststore.pem").resolve(),
                    instances="".join(instance_toml(i) for i in instances),
                )
            )

    @property
    def agent_data(self) -> Path:
        """The agent's data directory, as agent.toml says (relative to it)."""
        data = Path(str(tomllib.loads(self.agent_toml.read_text()).get("data_dir", "agent")))
        return data if data.is_absolute() else self.folder / data

    def start(self, *, rate: float, clock: str = "scaled", epoch: str | None = None, device_mtls: bool = False) -> None:
        """Start both processes on one timeline: from ``epoch``, else where the lab stopped, else now.

        They run in sessions of their own: a Ctrl-C reaches the launcher only, which records the
        domain time reached and then stops them in order (agent first)."""
        begin = epoch or self.state.get("domain_now") or datetime.now(UTC).isoformat()
        anchor = f"{time.time():.6f}"
        clock_args = ["--clock", clock, "--epoch", begin] + (
            ["--rate", str(rate), "--anchor", anchor] if clock == "scaled" else []
        )
        kwargs: dict[str, Any] = {"start_new_session": True}
        port_file = self.folder / "ssm.port"
        port_file.unlink(missing_ok=True)
        with (self.folder / "ssm.log").open("ab") as ssm_log:  # the child keeps its own descriptor
            ssm = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "server",
                    "run",
                    "--listen",
                    f"127.0.0.1:{self.ssm_port}",
                    "--port-file",
                    str(port_file),
                    "--db",
                    str(self.ssm_db),
                    "--certs",
                    str(self.certs),
                    "--log-format",
                    "json",
                    *clock_args,
                    *(["--device-mtls"] if device_mtls else []),
                ],
                stdout=ssm_log,
                stderr=ssm_log,
                **kwargs,
            )
        self.state["ssm_pid"] = ssm.pid
        self._procs.append(ssm)  # stop() stops what was started, even if the rest fails

        def ssm_ready() -> None:
            self.ssm_port = _bound_port(port_file.read_text() if port_file.exists() else "")  # port 0: any
            self.ssm("GET", "/_lab/health", timeout=2)

        self._wait(ssm_ready, ssm, "ssm.log")
        # The agent goes to the SSM's port (known now) and listens where the lab says.
        self.agent_toml.write_text(
            point_agent_toml(self.agent_toml.read_text(), ssm_port=self.ssm_port, agent_port=self.agent_port)
        )
        api_file = self.agent_data / "api.url"
        api_file.unlink(missing_ok=True)
        with (self.folder / "agent.log").open("ab") as agent_log:
            agent = subprocess.Popen(
                [sys.executable, "-m", "agent", "--config", str(self.agent_toml), "run", *clock_args],
                stdout=agent_log,
                stderr=agent_log,
                **kwargs,
            )
        self.state["agent_pid"] = agent.pid
        self._procs.append(agent)

        def agent_ready() -> None:
            self.agent_port = _bound_port(api_file.read_text().rpartition(":")[2] if api_file.exists() else "")
            self.agent("GET", "/_lab/health", timeout=2)

        self._wait(agent_ready, agent, "agent.log")
        self.state.update(rate=rate, clock=clock)
        self.save()

    def start_console(self, port: int | None = None) -> None:
        """Start the lab console (``python -m lab.web``, loopback only) beside the two processes;
        it drives them over HTTP as this launcher does, and stops with them."""
        port = _console_port(port)
        folder, certs = str(self.folder.resolve()), str(self.certs.resolve())
        with (self.folder / "console.log").open("ab") as console_log:
            console = subprocess.Popen(
                [sys.executable, "-m", "lab.web", "--dir", folder, "--certs", certs, "--port", str(port)],
                stdout=console_log,
                stderr=console_log,
                start_new_session=True,
            )
        self.state.update(console_pid=console.pid, console_port=port)
        self._procs.append(console)
        self._wait(lambda: call(f"http://127.0.0.1:{port}/_lab/health", timeout=2), console, "console.log")
        self.save()

    def _wait(self, probe: Any, proc: subprocess.Popen[bytes], log: str) -> None:
        try:
            self._wait_ready(probe, proc, log)
        except SystemExit:
            self.stop()  # what did start does not outlive a failed start
            raise

    def _wait_ready(self, probe: Any, proc: subprocess.Popen[bytes], log: str) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                tail = (self.folder / log).read_text(errors="replace")[-1500:]
                raise SystemExit(f"ssmlab: a lab process exited at start; see {self.folder / log}:\n{tail}")
            try:
                probe()
                return
            except (LabError, urllib.error.URLError, OSError):
                time.sleep(0.2)
        raise SystemExit(f"ssmlab: the lab did not answer within 30 s; see {self.folder / log}")

    def stop(self) -> bool:
        """Record the domain time reached, then stop both processes. False if none was running."""
        with contextlib.suppress(LabError):
            self.state["domain_now"] = self.ssm("GET", "/_lab/clock")["now"]
        self.close()
        children = {p.pid: p for p in self._procs}
        stopped = False
        for key in ("console_pid", "agent_pid", "ssm_pid"):
            pid = self.state.pop(key, None)
            if pid is None:
                continue
            try:
                os.kill(pid, signal.SIGTERM)
                stopped = True
            except ProcessLookupError:
                continue
            if pid in children:  # ours: wait for it (and reap it)
                try:
                    children[pid].wait(timeout=15)
                except subprocess.TimeoutExpired:
                    children[pid].kill()
                    children[pid].wait()
                continue
            for _ in range(150):  # started by another 'ssmlab up': poll until it is gone
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
        self._procs.clear()
        self.save()
        return stopped


def _bound_port(text: str) -> int:
    """The port a process wrote once listening (``--port-file``, ``api.url``); LabError until then."""
    first = text.split()[0] if text.split() else ""
    if not first.isdigit():
        raise LabError("not listening yet")
    return int(first)
