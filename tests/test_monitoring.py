"""The monitoring as it runs: a real Prometheus scraping a worker and an API process.

Debian's ``prometheus`` package (``python3 manage.py test`` unpacks it into
``.data/prometheus``) scrapes the API's ``/metrics``, the worker's own listener and the
Temporal SDK's metrics port every second; the test drives the intake through the API process
and asks Prometheus' HTTP API until the figures have moved. The alert rules of
``deploy/monitoring`` are loaded by that Prometheus and checked and unit-tested with promtool.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import yaml
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from service.accounts import AccountService
from service.notices import DIGEST_SCHEDULE_ID, DISPATCH_SCHEDULE_ID
from service.retention import SCHEDULE_ID
from tests.conftest import ROOT, _free_port
from tests.test_api import V1, event, opening

MONITORING = ROOT / "deploy" / "monitoring"
UNPACKED = ROOT / ".data" / "prometheus" / "usr" / "bin"


def tool(name: str) -> Path:
    """prometheus or promtool: unpacked by manage.py, or installed on the machine."""
    unpacked = UNPACKED / name
    if unpacked.exists():
        return unpacked
    found = shutil.which(name)
    if found is None:
        pytest.fail(
            f"{name} is missing: `python3 manage.py test` unpacks Debian's prometheus package "
            f"into {UNPACKED.parent.parent} (or: apt-get install prometheus)"
        )
    return Path(found)


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(tool("promtool")), *args],
        cwd=MONITORING,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_promtool_checks_the_rules_and_their_unit_tests_pass() -> None:
    checked = promtool("check", "rules", "alerts.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool("test", "rules", "alerts.test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout + tested.stderr
    config = promtool("check", "config", "--syntax-only", "prometheus.yml")
    assert config.returncode == 0, config.stdout + config.stderr


def test_every_alert_is_unit_tested_and_the_dashboard_asks_for_real_figures() -> None:
    rules = yaml.safe_load((MONITORING / "alerts.yml").read_text("utf-8"))
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    tests = yaml.safe_load((MONITORING / "alerts.test.yml").read_text("utf-8"))
    tested = {case["alertname"] for test in tests["tests"] for case in test["alert_rule_test"]}
    assert alerts == tested
    for group in rules["groups"]:
        for rule in group["rules"]:
            # German on everything a person reads: the on-call's summary and what to do.
            assert {"summary", "description"} <= set(rule["annotations"]), rule["alert"]
            assert rule["labels"]["severity"] in {"warning", "critical"}
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text("utf-8"))
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    assert len(exprs) >= 10
    assert any("temporal_" in expr for expr in exprs) and any("case_" in expr for expr in exprs)


# --------------------------------------------------------------------- the processes


def _process(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", *args],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def _until(what: str, check: Any, limit: float, *logs: Path) -> Any:
    """``await check()`` until it answers something true, for at most ``limit`` seconds."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + limit
    while True:
        with contextlib.suppress(httpx.HTTPError):
            found = await check()
            if found:
                return found
        if loop.time() > give_up:
            tails = "\n".join(log.read_text(errors="replace")[-3000:] for log in logs)
            pytest.fail(f"{what}: not within {limit} s\n{tails}")
        await asyncio.sleep(0.5)


@contextlib.contextmanager
def _running(*processes: subprocess.Popen[bytes]) -> Iterator[None]:
    try:
        yield
    finally:
        for process in processes:
            _stop(process)


@contextlib.asynccontextmanager
async def _schedules_removed(client: Client) -> AsyncIterator[None]:
    """The worker process sets up the retention and notice schedules on the shared dev server;
    other tests of this session expect to make them themselves."""
    try:
        yield
    finally:
        for schedule_id in (SCHEDULE_ID, DISPATCH_SCHEDULE_ID, DIGEST_SCHEDULE_ID):
            with contextlib.suppress(RPCError):
                await client.get_schedule_handle(schedule_id).delete()


async def test_prometheus_sees_the_intake_tasks_and_worker_slots_move(
    dev_env: WorkflowEnvironment, dsn: str, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    prometheus = tool("prometheus")
    api_port, worker_port, sdk_port, prom_port = (_free_port() for _ in range(4))
    base = dict(
        os.environ,
        DATABASE_URL=dsn,
        TEMPORAL_ADDRESS=dev_env.client.service_client.config.target_host,
        CASE_TASK_QUEUE=f"monitoring-{uuid.uuid4().hex}",
        CASE_DATA_DIR=str(tmp_path / "data"),
    )  # CASE_MASTER_KEYS: the one ring of this test run (tests/conftest.py), for both
    worker = _process(
        ["runtime.main", "--role", "worker"],
        dict(
            base,
            CASE_WORKER_HTTP_PORT=str(worker_port),
            CASE_TEMPORAL_METRICS_PORT=str(sdk_port),
        ),
        tmp_path / "worker.log",
    )
    api = _process(
        ["runtime.main", "--role", "api"],
        dict(base, CASE_API_PORT=str(api_port)),
        tmp_path / "api.log",
    )
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(MONITORING / "alerts.yml")],
        "scrape_configs": [
            {"job_name": "case-api", "static_configs": [{"targets": [f"127.0.0.1:{api_port}"]}]},
            {
                "job_name": "case-worker",
                "static_configs": [{"targets": [f"127.0.0.1:{worker_port}"]}],
            },
            {
                "job_name": "case-worker-sdk",
                "static_configs": [{"targets": [f"127.0.0.1:{sdk_port}"]}],
            },
        ],
    }
    (tmp_path / "prometheus.yml").write_text(json.dumps(config))  # JSON is YAML
    server = _process_raw(
        [
            str(prometheus),
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        tmp_path / "prometheus.log",
    )
    logs = (tmp_path / "worker.log", tmp_path / "api.log", tmp_path / "prometheus.log")
    async with (
        _schedules_removed(dev_env.client),
        httpx.AsyncClient(timeout=10) as http,
    ):
        with _running(api, worker, server):

            async def ready(port: int) -> bool:
                answer = await http.get(f"http://127.0.0.1:{port}/readyz")
                return answer.status_code == 200

            await _until("the API is ready", lambda: ready(api_port), 120, *logs)
            await _until("the worker is ready", lambda: ready(worker_port), 120, *logs)
            worker_checks = (await http.get(f"http://127.0.0.1:{worker_port}/readyz")).json()
            assert {c["name"] for c in worker_checks["checks"]} >= {"worker", "key_ring"}

            async def query(expr: str) -> float | None:
                answer = await http.get(
                    f"http://127.0.0.1:{prom_port}/api/v1/query", params={"query": expr}
                )
                result = answer.json()["data"]["result"]
                return float(result[0]["value"][1]) if result else None

            async def at_least(expr: str, wanted: float) -> bool:
                found = await query(expr)
                return found is not None and found >= wanted

            for job in ("case-api", "case-worker", "case-worker-sdk"):
                await _until(f"{job} scraped", lambda j=job: at_least(f'up{{job="{j}"}}', 1), 60)
            accepted = 'case_intake_events_total{job="case-api", outcome="accepted"}'
            assert await query(accepted) == 0

            token = await AccountService(pool, Settings()).create_api_token("monitoring")
            headers = {"authorization": f"Bearer {token}"}
            intake = f"http://127.0.0.1:{api_port}{V1}/status-events"
            cases = [f"MON-{uuid.uuid4().hex[:10]}" for _ in range(3)]
            for case_id in cases:
                taken = await http.post(intake, json=opening(case_id), headers=headers)
                assert taken.status_code == 202, taken.text
            refused = await http.post(intake, json=event(cases[0], 2, status="x"), headers=headers)
            assert refused.status_code == 422

            # Each figure moves in Prometheus, scraped from the process that has it.
            moved = {
                accepted: 3,
                'case_intake_events_total{job="case-api", outcome="invalid"}': 1,
                'case_tasks_open{job="case-api", queue="abh", stage="information_conversation"}': 3,
                'case_ready{job="case-worker"}': 1,
                'case_codec_decoded_total{job="case-worker", outcome="decrypted"}': 1,
                'sum(temporal_worker_task_slots_available{job="case-worker-sdk"})': 1,
                "sum(temporal_workflow_task_schedule_to_start_latency_count)": 3,
                'sum(temporal_num_pollers{poller_type="workflow_task"})': 1,
            }
            for expr, wanted in moved.items():
                await _until(expr, lambda e=expr, w=wanted: at_least(e, w), 30, *logs)

            # A worker reads no business figures, so it reports no failure to read them either.
            assert await query('case_figures_up{job="case-worker"}') is None
            assert await query('case_figures_up{job="case-api"}') == 1

            # Every panel of the dashboard asks a question Prometheus answers, with figures
            # (the failures' panel has none on a healthy service).
            dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text("utf-8"))

            async def answered(expr: str) -> bool:
                answer = await http.get(
                    f"http://127.0.0.1:{prom_port}/api/v1/query", params={"query": expr}
                )
                assert answer.json()["status"] == "success", (expr, answer.text)
                return "failed" in expr or bool(answer.json()["data"]["result"])

            for panel in dashboard["panels"]:
                for target in panel["targets"]:
                    expr = target["expr"]
                    await _until(f"{panel['title']}: {expr}", lambda e=expr: answered(e), 20)

            # The shipped rules are loaded, evaluated, and none fires on a healthy service.
            rules = (await http.get(f"http://127.0.0.1:{prom_port}/api/v1/rules")).json()
            evaluated = [r for g in rules["data"]["groups"] for r in g["rules"]]
            assert evaluated and all(rule["health"] == "ok" for rule in evaluated), evaluated
            # Not even pending (the p95 wait may pass 2 s on a loaded machine: that one may).
            alarmed = {r["name"]: r["state"] for r in evaluated if r.get("state") != "inactive"}
            alarmed.pop("FallsteuerungWartezeitHoch", None)
            assert alarmed == {}
        # Stopped by SIGTERM: both ended cleanly within their grace.
        assert (api.returncode, worker.returncode) == (0, 0), [p.read_text()[-2000:] for p in logs]


def _process_raw(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            argv, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )


def test_a_taken_sdk_metrics_port_is_refused_with_its_name(
    dev_env: WorkflowEnvironment, dsn: str, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        env = dict(
            os.environ,
            DATABASE_URL=dsn,
            TEMPORAL_ADDRESS=dev_env.client.service_client.config.target_host,
            CASE_TASK_QUEUE=f"monitoring-{uuid.uuid4().hex}",
            CASE_DATA_DIR=str(tmp_path / "data"),
            CASE_TEMPORAL_METRICS_PORT=str(port),
        )
        ended = subprocess.run(
            [sys.executable, "-m", "runtime.main", "--role", "worker"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    told = ended.stdout + ended.stderr
    assert ended.returncode == 1, told
    assert f"CASE_TEMPORAL_METRICS_PORT 127.0.0.1:{port}" in told
    assert "Address already in use" in told
    assert "Traceback" not in told
