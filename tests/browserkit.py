"""Browser tests' shared parts: Debian's Chromium under Playwright, and a loopback server.

A plugin (``conftest.pytest_plugins``), so every browser test gets the one session-wide
``browser``. ``python3 manage.py test`` installs Chromium and axe-core when they are missing.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, async_playwright

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path(os.environ.get("CASE_CHROMIUM", "/usr/bin/chromium"))
AXE_JS = ROOT / ".data" / "npm" / "node_modules" / "axe-core" / "axe.min.js"
# This machine's network is closed: without these Chromium keeps calling home at every start.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DATE_KEYS: dict[str, str] = {}


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    for needed in (CHROMIUM, AXE_JS):
        if not needed.exists():
            pytest.fail(f"{needed} is missing: run the tests with `python3 manage.py test`")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        DATE_KEYS["order"] = await _date_input_order(launched)
        yield launched
        await launched.close()


async def _date_input_order(browser: Browser) -> str:
    """Whether this Chromium's date input wants the month or the day first."""
    probe = await browser.new_page()
    await probe.set_content('<input type="date" id="d">')
    await probe.focus("#d")
    await probe.keyboard.type("01022003")
    value = await probe.input_value("#d")
    await probe.close()
    orders = {"2003-01-02": "%m%d%Y", "2003-02-01": "%d%m%Y"}
    assert value in orders, f"unexpected date input behaviour: {value!r}"
    return orders[value]


@asynccontextmanager
async def serving_on_loopback(app: FastAPI, port: int = 0) -> AsyncIterator[str]:
    """``app`` under uvicorn on 127.0.0.1 (its lifespan runs elsewhere); yields the base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", port))
    bound = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 (uvicorn offers a flag, not an event)
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{bound}"
    finally:
        server.should_exit = True
        await serving
        sock.close()


# Reports every Content-Security-Policy violation of every document in the context. An init
# script and a binding are Playwright's own (DevTools), so the policy under test allows them.
_CSP_LISTENER = """
document.addEventListener('securitypolicyviolation', event => {
  window.__cspViolation(`${event.violatedDirective} blocked ${event.blockedURI || 'inline'}`
    + ` in ${event.sourceFile || document.location.pathname}:${event.lineNumber}`);
});
"""


async def watch_csp(context: BrowserContext) -> list[str]:
    """A list that collects the context's CSP violations, from the page's own events and from
    the console (Chromium logs every refusal there, also those no event reports)."""
    violations: list[str] = []

    def report(violation: str) -> None:
        violations.append(violation)

    await context.expose_function("__cspViolation", report)
    await context.add_init_script(_CSP_LISTENER)

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            violations.append(f"console: {message.text}")

    context.on("page", lambda page: page.on("console", on_console))
    return violations
