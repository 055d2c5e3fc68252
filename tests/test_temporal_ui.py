"""The Temporal UI shows case payloads in clear only to a caseworker, through our codec endpoint.

A dev server with its web UI, started like ``manage.py run`` starts it (``--ui-codec-endpoint``
pointing at the API), and the API on its own loopback port. In Debian's Chromium a person logs
in at the API and opens the case's workflow in the UI with "include cross-origin credentials"
turned on in the UI's codec settings. The ABH sees the decoded input; operations staff and an
anonymous visitor see ciphertext, whatever the UI is configured to send.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from playwright.async_api import Browser, Page, expect
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from runtime.app import create_app
from runtime.embedded import venv_binary
from runtime.worker import build_worker
from schemas.accounts import Role
from tests.browserkit import ROOT, serving_on_loopback
from tests.conftest import SERVER_STARTUP
from tests.sitekit import PASSWORD
from tests.test_api import V1, event, person
from workflows.search_attributes import ALL

# What the UI shows of the decoded input of a case workflow (CaseStart), and never otherwise.
DECODED_MARK = "conversation_due"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Deployment:
    app: FastAPI
    api: str
    ui: str
    case_id: str


@pytest.fixture
async def deployment(pool: asyncpg.Pool) -> AsyncIterator[Deployment]:
    api_port, ui_port = free_port(), free_port()
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(venv_binary("temporal")),
        search_attributes=ALL,
        data_converter=pydantic_data_converter,
        ui=True,
        ui_port=ui_port,
        dev_server_extra_args=["--ui-codec-endpoint", f"http://127.0.0.1:{api_port}/codec"],
        dev_server_log_level="error",
        dev_server_startup_timeout=SERVER_STARTUP,
    )
    ui = f"http://127.0.0.1:{ui_port}"
    settings = Settings().model_copy(
        update={"task_queue": f"ui-{uuid.uuid4().hex}", "cookie_secure": False,
                "codec_origins": (ui, f"http://localhost:{ui_port}")}
    )  # fmt: skip
    app = create_app(settings, client=env.client, pool=pool)
    async with (
        env,
        build_worker(env.client, pool, settings),
        app.router.lifespan_context(app),
        serving_on_loopback(app, api_port) as api,
    ):
        token = await app.state.accounts.create_api_token("backoffice")
        case_id = f"UI-{uuid.uuid4().hex[:8]}"
        async with httpx.AsyncClient(base_url=api) as http:
            response = await http.post(
                f"{V1}/status-events",
                json=event(case_id, person=person()),
                headers={"authorization": f"Bearer {token}"},
            )
            assert response.status_code == 202, response.text
        yield Deployment(app, api, ui, case_id)


async def open_in_ui(
    browser: Browser, site: Deployment, role: Role | None
) -> tuple[Page, list[int]]:
    """Log in as ``role`` (None: nobody), turn on credentials in the UI's codec settings (as a
    person would in its data encoder dialog), open the case; returns the codec's statuses."""
    context = await browser.new_context()
    context.set_default_timeout(20_000)
    page = await context.new_page()
    if role is not None:
        username = f"{role.value}-{uuid.uuid4().hex[:6]}"
        await site.app.state.accounts.create_account(username, "Test", role, PASSWORD)
        await page.goto(f"{site.api}/login")
        await page.fill("#username", username)
        await page.fill("#password", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_load_state()
    statuses: list[int] = []
    page.on("response", lambda r: statuses.append(r.status) if "/codec/" in r.url else None)
    await page.goto(f"{site.ui}/namespaces/default/workflows/case-{site.case_id}")
    await page.evaluate(
        """endpoint => {
            localStorage.setItem('endpoint', JSON.stringify(endpoint));
            localStorage.setItem('includeCredentials', 'true');
            localStorage.setItem('overrideRemoteCodecConfiguration', 'true');
        }""",
        f"{site.api}/codec",
    )
    await page.reload()
    # The UI's first load takes a while on a busy machine (expect's own default is 5 s).
    await expect(page.get_by_role("heading", name=f"case-{site.case_id}")).to_be_visible(
        timeout=30_000
    )
    return page, statuses


async def test_the_caseworker_sees_decoded_payloads_in_the_temporal_ui(
    browser: Browser, deployment: Deployment
) -> None:
    page, statuses = await open_in_ui(browser, deployment, Role.ABH)
    await expect(page.get_by_text(DECODED_MARK).first).to_be_visible(timeout=20_000)
    assert 200 in statuses
    if os.environ.get("CASE_SCREENSHOTS"):
        folder = ROOT / os.environ["CASE_SCREENSHOTS"]
        await page.screenshot(path=str(folder / "temporal-ui-abh.png"))
    log = await deployment.app.state.accounts.access_log(deployment.case_id)
    assert ("temporal-ui: decode", Role.ABH) in {(entry.what, entry.role) for entry in log}
    await page.context.close()


@pytest.mark.parametrize("role", [Role.OPS, None], ids=["ops", "anonymous"])
async def test_operations_and_strangers_see_only_ciphertext(
    browser: Browser, deployment: Deployment, role: Role | None
) -> None:
    page, statuses = await open_in_ui(browser, deployment, role)
    refusal = page.locator("#content").get_by_text("Codec Server could not connect")
    await expect(refusal).to_be_visible(timeout=20_000)
    await expect(page.get_by_text(DECODED_MARK)).to_have_count(0)
    assert statuses and set(statuses) <= {401, 403}
    if role is Role.OPS and os.environ.get("CASE_SCREENSHOTS"):
        folder = ROOT / os.environ["CASE_SCREENSHOTS"]
        await page.screenshot(path=str(folder / "temporal-ui-ops.png"))
    assert await deployment.app.state.accounts.access_log(deployment.case_id) == []
    await page.context.close()
