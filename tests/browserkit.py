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
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    async_playwright,
    expect,
)

from schemas.accounts import Role
from tests.sitekit import PASSWORD, Site

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
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
AXE_SOURCE = AXE_JS.read_text("utf-8") if AXE_JS.exists() else ""


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


# --- pages, people and the keyboard (every browser test file) ----------------------------


@pytest.fixture
async def base_url(site: Site) -> AsyncIterator[str]:
    """The site on a real loopback port (the lifespan already runs in the ``site`` fixture)."""
    async with serving_on_loopback(site.app) as url:
        yield url


@pytest.fixture
async def page(browser: Browser, base_url: str) -> AsyncIterator[Page]:
    """A page of a fresh context; every test fails on any Content-Security-Policy violation
    (an inline script or style, anything from elsewhere), whatever page it walked."""
    context = await browser.new_context(base_url=base_url, locale="de-DE")
    context.set_default_timeout(20_000)
    violations = await watch_csp(context)
    new_page = await context.new_page()
    yield new_page
    await context.close()
    assert not violations, "CSP violations: " + "; ".join(violations)


# ---------------------------------------------------------------- helpers


async def new_person(site: Site, role: Role) -> str:
    username = f"{role.value}-{os.urandom(4).hex()}"
    await site.accounts.create_account(username, f"Erika {role.value.upper()}", role, PASSWORD)
    return username


async def tab_to(page: Page, selector: str, limit: int = 80) -> None:
    """Move the focus with the Tab key alone until it rests on ``selector``.

    Fails when the element cannot be reached that way, or when the focused element shows no
    visible focus indicator (WCAG 2.4.7).
    """
    target = page.locator(selector)
    for _ in range(limit):
        await page.keyboard.press("Tab")
        if await target.evaluate("element => element === document.activeElement"):
            outline = await target.evaluate("element => getComputedStyle(element).outlineStyle")
            assert outline != "none", f"{selector} has no visible focus"
            return
    raise AssertionError(f"{selector} cannot be reached with the Tab key")


async def type_into(page: Page, selector: str, text: str) -> None:
    await tab_to(page, selector)
    await page.keyboard.type(text)


async def type_date(page: Page, selector: str, day: date) -> None:
    """Type a date into a date input with the keyboard, in the field order of the browser's
    date input (it follows the browser build's locale, not the page's; see ``browser``)."""
    await tab_to(page, selector)
    await page.keyboard.type(day.strftime(DATE_KEYS["order"]))
    assert await page.locator(selector).input_value() == day.isoformat()


async def log_in(page: Page, username: str, password: str = PASSWORD, path: str = "/") -> None:
    """The login form, with the keyboard: Tab to the fields, type, Enter."""
    await page.goto(path)
    await expect(page.get_by_role("heading", name="Anmelden")).to_be_visible()
    await type_into(page, "#username", username)
    await type_into(page, "#password", password)
    await page.keyboard.press("Enter")
    await page.wait_for_load_state()


async def assert_accessible(page: Page, what: str) -> None:
    """axe-core finds no serious or critical violation, at full width and at 320 px."""
    for width in (1280, 320):
        await page.set_viewport_size({"width": width, "height": 800})
        # Evaluated through DevTools, not as a <script> tag, which the page's CSP refuses.
        await page.evaluate(AXE_SOURCE)
        result: dict[str, Any] = await page.evaluate(
            "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_AA
        )
        bad = [v for v in result["violations"] if v["impact"] in {"serious", "critical"}]
        assert not bad, f"{what} at {width} px: " + "; ".join(
            f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
            for v in bad
        )
        assert any(p["id"] == "color-contrast" for p in result["passes"]), "contrast not checked"
        # WCAG 1.4.10: no sideways scrolling of the page (wide tables scroll inside themselves).
        overflow = await page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{what} scrolls sideways by {overflow} px at {width} px"
    await page.set_viewport_size({"width": 1280, "height": 800})


async def screenshot(page: Page, name: str, width: int) -> None:
    folder = os.environ.get("CASE_SCREENSHOTS")
    if not folder:
        return
    await page.set_viewport_size({"width": width, "height": 800})
    await page.screenshot(path=str(ROOT / folder / name), full_page=True)
    await page.set_viewport_size({"width": 1280, "height": 800})
