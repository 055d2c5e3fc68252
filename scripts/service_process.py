"""The service as an operator runs it, ``python -m runtime.main``, as a child process.

For the probes and tests that stop it (SIGTERM with a request in flight) or start a second one
on the same data folder (``scripts/probe_outages.py``, ``tests/test_outages.py``): a data
folder and free loopback ports of its own, the embedded servers it starts found by their pid
files, and nothing of it left behind by :meth:`ServiceProcess.kill`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def alive(pid: int) -> bool:
    """Is ``pid`` running? A zombie (stopped, not yet collected by its parent) is not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def gone_within(pids: dict[str, int], seconds: float) -> list[str]:
    """The names of ``pids`` still running after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(alive(pid) for pid in pids.values()):
        time.sleep(0.2)
    return [name for name, pid in pids.items() if alive(pid)]


class ServiceProcess:
    """``python -m runtime.main *args`` on ``data_dir``, its own ports, ``env`` on top."""

    def __init__(self, data_dir: Path, *args: str, **env: str) -> None:
        self.data_dir = data_dir
        self.api_port = free_port()
        self.env = dict(
            os.environ,
            CASE_DATA_DIR=str(data_dir),
            CASE_API_PORT=str(self.api_port),
            CASE_TEMPORAL_PORT=str(free_port()),
            CASE_TEMPORAL_UI_PORT=str(free_port()),
            **env,
        )
        for outside in ("DATABASE_URL", "TEMPORAL_ADDRESS"):  # embedded servers, always
            self.env.pop(outside, None)
        self.args = args
        self.process: subprocess.Popen[str] | None = None
        self.started: dict[str, int] = {}  # the servers it started, once it is ready

    def same_folder(self, *args: str) -> ServiceProcess:
        """A second service on this one's folder and ports (``args``: its own, or these)."""
        twin = ServiceProcess(self.data_dir, *(args or self.args))
        twin.env = dict(self.env)
        twin.api_port = self.api_port
        return twin

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "runtime.main", *self.args],
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def wait_ready(self, limit: float = 240) -> None:
        """Until the banner is printed (every server started); RuntimeError if it ends."""
        assert self.process is not None and self.process.stdout is not None
        deadline = time.monotonic() + limit
        for line in self.process.stdout:
            if line.startswith("Worker:") or line.startswith("API:"):
                self.started = self.servers()
                return
            if time.monotonic() > deadline:
                raise RuntimeError("the service did not start in time")
        raise RuntimeError(f"the service ended while starting: {self.stderr_tail()}")

    def stderr_tail(self) -> str:
        assert self.process is not None and self.process.stderr is not None
        if self.process.poll() is None:
            return ""
        return self.process.stderr.read()[-2000:]

    def servers(self) -> dict[str, int]:
        """The pids of the embedded servers, from their pid files."""
        found = {}
        for name, path in (
            ("temporal", self.data_dir / "temporal" / "server.pid"),
            ("postgres", self.data_dir / "postgres" / "postmaster.pid"),
        ):
            with contextlib.suppress(OSError, ValueError, IndexError):
                found[name] = int(path.read_text().split()[0])
        return found

    def api_token(self, name: str = "backoffice") -> str:
        made = subprocess.run(
            [sys.executable, "-m", "commands.accounts", "token", "--name", name],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return made.stdout.strip().split()[-1]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.api_port}{path}"

    def wait(self, limit: float) -> int | None:
        """The exit code, or None if it still runs after ``limit`` seconds."""
        assert self.process is not None
        try:
            return self.process.wait(limit)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        """The process and, should it have left them, its servers (only what it started: a
        twin on the same folder reads the other one's pid files)."""
        servers = self.started
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for pid in servers.values():
            if alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        if self.process is not None:
            for pipe in (self.process.stdout, self.process.stderr):
                if pipe is not None:
                    pipe.close()
