"""A client generated from the OpenAPI document by a tool nobody here wrote drives a case.

openapi-python-client (PyPI) generates a package from the document the app serves; the test
imports it and, through its typed functions and models alone, reports a new case with the
back office's token, completes its conversation as the ABH's caseworker, is refused a second
completion as a problem it can read, reports the departure and reads the closed case back.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from api.app import build_app
from config.settings import Settings
from runtime.embedded import venv_binary
from tests.test_api import ORIGIN, account_service, conversation, login_session, opening

PACKAGE = "ausreise_client"


@pytest.fixture(scope="module")
def client_package(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    folder = tmp_path_factory.mktemp("generated")
    generator = venv_binary("openapi-python-client")
    document = folder / "openapi.json"
    app = build_app(Settings(), services=None)  # type: ignore[arg-type]
    document.write_text(json.dumps(app.openapi()), "utf-8")
    generated = subprocess.run(
        [str(generator), "generate", "--path", str(document),
         "--meta", "none", "--output-path", str(folder / PACKAGE)],
        cwd=folder,
        # Its post-hooks format the package with ruff, found on PATH.
        env={**os.environ, "PATH": f"{generator.parent}{os.pathsep}{os.environ.get('PATH', '')}"},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )  # fmt: skip
    assert generated.returncode == 0, generated.stdout[-3000:] + generated.stderr[-3000:]
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(folder))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def part(package: ModuleType, name: str) -> Any:
    return importlib.import_module(f"{package.__name__}.{name}")


async def test_a_generated_client_drives_a_case_to_its_close(
    client_package: ModuleType, app: FastAPI
) -> None:
    client, models = part(client_package, "client"), part(client_package, "models")
    submit_event = part(client_package, "api.intake.submit_event")
    reported_case = part(client_package, "api.intake.reported_case")
    list_tasks = part(client_package, "api.tasks.list_tasks")
    complete_task = part(client_package, "api.tasks.complete_task")
    transport = {"transport": httpx.ASGITransport(app=app)}
    token = await account_service(app).create_api_token(f"gen-{uuid.uuid4().hex[:6]}")
    back_office = client.AuthenticatedClient(base_url=ORIGIN, token=token, httpx_args=transport)
    # A person's session is a cookie, which the generator leaves to the caller.
    caseworker = client.AuthenticatedClient(
        base_url=ORIGIN,
        token="",
        auth_header_name="x-unused",
        cookies={"sitzung": await login_session(app, "abh")},
        headers={"origin": ORIGIN},
        httpx_args=transport,
    )
    case_id = f"GEN-{uuid.uuid4().hex[:10]}"

    opened = await submit_event.asyncio_detailed(
        client=back_office, body=models.StatusEvent.from_dict(opening(case_id))
    )
    assert opened.status_code == 202
    assert isinstance(opened.parsed, models.IntakeResult)
    assert (opened.parsed.stage, opened.parsed.duplicate) == ("information_conversation", False)

    tasks = await list_tasks.asyncio(client=caseworker, queue=models.Queue.ABH, case_id=case_id)
    assert [task.kind.value for task in tasks] == ["information_conversation"]
    task_id = tasks[0].task_id
    done = await complete_task.asyncio_detailed(
        client=caseworker,
        task_id=task_id,
        body=models.InformationConversation.from_dict(conversation()),
    )
    assert done.status_code == 200, done.content
    assert isinstance(done.parsed, models.TaskResult)
    assert done.parsed.stage == "referral_offer"

    again = await complete_task.asyncio_detailed(
        client=caseworker,
        task_id=task_id,
        body=models.InformationConversation.from_dict(
            conversation() | {"routes_discussed": ["§25b AufenthG", "§60d AufenthG"]}
        ),
    )
    assert again.status_code == 409
    assert isinstance(again.parsed, models.Problem)
    assert again.parsed.type_ == "/problems/conflict"

    departed = opening(case_id, 2) | {"status": "ausgereist"}
    departed.pop("person")
    closed = await submit_event.asyncio(
        client=back_office, body=models.StatusEvent.from_dict(departed)
    )
    assert isinstance(closed, models.IntakeResult) and closed.stage == "closed"

    read = await reported_case.asyncio(client=back_office, case_id=case_id)
    assert isinstance(read, models.ReportedCase)
    assert (read.case_id, read.stage.value) == (case_id, "closed")
    assert read.outcome is not None and read.outcome.value == "departed_voluntarily"
