"""The headers every answer carries (api.security): CSP, framing, sniffing, referrer, HSTS, cache.

Each answer is fetched as a browser or the back office would get it, from the app with its
lifespan, a worker and a fresh database (:mod:`tests.sitekit`): pages logged in and out, the
JSON API, a PDF, the codec the Temporal UI calls, refusals and errors, the stylesheet, /docs.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re

import httpx
from fastapi import FastAPI

from api.security import DOCS_ASSETS, HSTS, POLICY
from config.settings import Settings
from runtime.main import _api_server
from schemas.accounts import Role
from schemas.routes import Route
from schemas.tasks import InformationConversation, Perspective
from tests.casekit import HELD
from tests.sitekit import Site, today

UI_ORIGIN = "http://127.0.0.1:8233"  # the embedded Temporal UI, a default codec origin


def assert_defended(response: httpx.Response, what: str, *, policy: str = POLICY) -> None:
    headers = response.headers
    assert headers.get("content-security-policy") == policy, what
    assert headers.get("x-frame-options") == "DENY", what
    assert headers.get("x-content-type-options") == "nosniff", what
    assert headers.get("referrer-policy") == "same-origin", what
    assert "strict-transport-security" not in headers, f"{what}: HSTS over plain http"


def assert_not_stored(response: httpx.Response, what: str) -> None:
    assert response.headers.get("cache-control") == "no-store", what


def test_the_pages_policy_allows_nothing_from_elsewhere_and_nothing_inline() -> None:
    directives = dict(part.strip().split(" ", 1) for part in POLICY.split(";"))
    assert directives == {
        "default-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'none'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    assert "unsafe" not in POLICY


async def test_every_answer_is_defended_and_personal_data_is_never_stored(site: Site) -> None:
    case_id = await site.open_case()
    task_id = await site.task_id(case_id, "information_conversation")
    abh = await site.person(Role.ABH)
    anonymous = site.client()
    async with abh, anonymous:
        answers = {
            "login page": await anonymous.get("/login"),
            "redirect to the login": await anonymous.get("/posteingang"),
            "inbox": await abh.get("/posteingang"),
            "task form": await abh.get(f"/aufgaben/{task_id}"),
            "case page": await abh.get(f"/faelle/{case_id}"),
            "German 404 page": await abh.get("/faelle/UNBEKANNT-1"),
            "case JSON": await abh.get(f"/api/v1/cases/{case_id}"),
            "access report": await abh.get(f"/api/v1/cases/{case_id}/access-report"),
            "inbox JSON": await abh.get("/api/v1/tasks", params={"queue": "abh"}),
            "flyer PDF": await abh.get("/api/v1/flyers/Unna", params={"language": "ar"}),
            "JSON 401": await anonymous.get(f"/api/v1/cases/{case_id}"),
            "JSON 422": await abh.get("/api/v1/cases/%20"),
            "cross-origin refusal": await abh.post(
                f"/aufgaben/{task_id}/uebernehmen", headers={"Origin": "https://evil.example"}
            ),
            "codec decode": await abh.post(
                "/codec/decode", json={"payloads": []}, headers={"Origin": UI_ORIGIN}
            ),
            "codec preflight": await anonymous.options(
                "/codec/decode",
                headers={"Origin": UI_ORIGIN, "Access-Control-Request-Method": "POST"},
            ),
            "OpenAPI document": await anonymous.get("/openapi.json"),
        }
    for what, response in answers.items():
        assert response.status_code < 500, (what, response.status_code)
        assert_defended(response, what)
        assert_not_stored(response, what)
    assert answers["case page"].status_code == 200 and "Testnachname" in answers["case page"].text
    assert answers["flyer PDF"].headers["content-type"] == "application/pdf"
    assert answers["codec preflight"].status_code == 204
    assert answers["codec decode"].headers["access-control-allow-origin"] == UI_ORIGIN


async def test_a_document_of_the_case_is_not_stored_either(site: Site) -> None:
    case_id = await site.open_case()
    conversation = await site.task_id(case_id, "information_conversation")
    await site.cases.complete_task(
        conversation,
        InformationConversation(
            held_on=today(),
            routes_discussed=[Route.P25B],
            perspective=Perspective.NONE_EVIDENT,
            **HELD,
        ),
    )
    abh = await site.person(Role.ABH)
    async with abh:
        for _ in range(600):  # the worker renders the conversation's record after the step
            listed = (await abh.get(f"/api/v1/cases/{case_id}/documents")).json()
            if listed:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the case received no document")
        document_id = listed[0]["document_id"]
        for url in (
            f"/api/v1/cases/{case_id}/documents/{document_id}",
            f"/faelle/{case_id}/schriftstuecke/{document_id}",
        ):
            pdf = await abh.get(url)
            assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
            assert_defended(pdf, url)
            assert_not_stored(pdf, url)


async def test_the_stylesheet_may_be_cached(site: Site) -> None:
    async with site.client() as anonymous:
        css = await anonymous.get("/static/style.css")
    assert css.status_code == 200
    assert_defended(css, "stylesheet")
    assert "cache-control" not in css.headers
    assert css.headers.get("etag") or css.headers.get("last-modified")


async def test_swagger_ui_gets_exactly_its_own_script_and_its_files_from_here(
    site: Site,
) -> None:
    async with site.client() as anonymous:
        docs = await anonymous.get("/docs")
        redoc = await anonymous.get("/redoc")
        script = await anonymous.get(f"{DOCS_ASSETS}/swagger-ui-bundle.js")
        css = await anonymous.get(f"{DOCS_ASSETS}/swagger-ui.css")
    assert script.status_code == 200 and "SwaggerUIBundle" in script.text
    assert css.status_code == 200
    assert "https://" not in "".join(re.findall(r'(?:src|href)="([^"]+)"', docs.text))
    assert docs.status_code == 200 and "SwaggerUIBundle" in docs.text
    [inline] = re.findall(r"<script>(.*?)</script>", docs.text, re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(inline.encode()).digest()).decode()
    policy = docs.headers["content-security-policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["script-src"] == f"'self' 'sha256-{digest}'"
    assert "unsafe-inline" not in directives["script-src"]
    assert directives["frame-ancestors"] == "'none'"
    assert_defended(docs, "/docs", policy=policy)
    assert redoc.status_code == 404  # ReDoc is not served: it would need more exceptions


def _over(app: FastAPI, base_url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)


async def test_hsts_only_when_the_request_came_over_tls(site: Site) -> None:
    async with _over(site.app, "https://cases.example") as tls:
        secure = await tls.get("/login")
    assert secure.headers["strict-transport-security"] == HSTS
    async with _over(site.app, "http://cases.example") as plain:
        # A client cannot claim TLS: the app reads the scheme uvicorn decided.
        claimed = await plain.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "strict-transport-security" not in claimed.headers


def test_uvicorn_believes_forwarded_headers_only_from_named_proxies() -> None:
    app = FastAPI()
    default = _api_server(app, Settings()).config
    assert default.proxy_headers is False
    trusted = Settings().model_copy(update={"trusted_proxies": ("10.0.0.5",)})
    behind = _api_server(app, trusted).config
    assert behind.proxy_headers is True
    assert behind.forwarded_allow_ips == ["10.0.0.5"]
