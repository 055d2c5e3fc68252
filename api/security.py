"""The headers every response carries, decided in this one place (docs/sicherheit.md).

- ``Content-Security-Policy``: the pages load only their own stylesheet and run no script at
  all, so the policy allows nothing but this origin, no inline script or style, no plugins, no
  ``<base>``, forms posting only here, and no framing (``frame-ancestors 'none'``; the task
  forms must not be put under another page's clicks). ``/docs`` is the one exception (below).
- ``X-Frame-Options: DENY`` for browsers that predate ``frame-ancestors``.
- ``X-Content-Type-Options: nosniff``: a PDF or JSON answer is never run as a script or page.
- ``Referrer-Policy: same-origin``: case and task ids in our URLs never reach another site.
  Not ``no-referrer``: with it, browsers send ``Origin: null`` on a form's POST, and the
  same-origin check (:mod:`api.auth`) would refuse every form of our own.
- ``Strict-Transport-Security`` only on a request that came over TLS. The scheme is uvicorn's:
  TLS of its own, or ``X-Forwarded-Proto`` from a proxy named in ``CASE_TRUSTED_PROXIES``
  (uvicorn reads that header from those addresses only); a client cannot claim TLS.
- ``Cache-Control: no-store`` on everything but ``/static/``: pages, JSON, PDFs, the access
  report and the codec's answers carry personal data or are cut to one login, and neither a
  browser's cache nor a proxy may keep them. The stylesheet may be cached.

``/docs`` (Swagger UI) loads its script and stylesheet from this app (``/docs-assets/``,
the files of the PyPI package ``fastapi-offline``: the page works without the internet),
starts with one inline script and injects inline styles: it gets a policy of its own that
allows exactly that script (by its hash), inline styles and data: images, on that path only.
It shows the OpenAPI document, never a case.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.resources
import re
from collections.abc import Mapping
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import MutableHeaders
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CACHEABLE_PREFIX = "/static/"
HSTS = "max-age=31536000"  # a year; no includeSubDomains: other hosts of the domain are not ours

_RESTRICTIONS = "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
POLICY = f"default-src 'self'; {_RESTRICTIONS}"
"""The pages' policy: this origin only, no inline script or style anywhere."""

DOCS_ASSETS = "/docs-assets"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


# Swagger UI's files, shipped by fastapi-offline (its static folder; nothing else of it is used).
_ASSETS = Path(str(importlib.resources.files("fastapi_offline") / "static"))


def _script_hash(script: str) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


def swagger_ui(app: FastAPI, path: str = "/docs") -> str:
    """Serve Swagger UI at ``path`` (the app is made with ``docs_url=None``); returns the
    policy for that path: its inline script by hash, the CDN, inline styles, data: images."""
    assert app.openapi_url is not None
    app.mount(DOCS_ASSETS, StaticFiles(directory=_ASSETS), name="docs-assets")
    page = get_swagger_ui_html(
        openapi_url=app.openapi_url,
        title=f"{app.title} - Swagger UI",
        oauth2_redirect_url=None,  # no OAuth here; its redirect page would be inline script
        swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png",
    )
    body = bytes(page.body)
    scripts = _INLINE_SCRIPT.findall(body.decode("utf-8"))

    async def docs(request: Request) -> Response:
        return HTMLResponse(body)

    app.add_route(path, docs, include_in_schema=False)
    allowed = " ".join(_script_hash(script) for script in scripts)
    return (
        f"default-src 'self'; script-src 'self' {allowed}; "
        f"style-src 'self' 'unsafe-inline'; img-src 'self' data:; {_RESTRICTIONS}"
    )


class SecurityHeadersMiddleware:
    """Sets the headers above on every HTTP response, errors and CORS preflights included.

    ``policies`` maps an exact path to its own Content-Security-Policy (``/docs`` only).
    """

    def __init__(self, app: ASGIApp, policies: Mapping[str, str] | None = None) -> None:
        self.app = app
        self.policies = dict(policies or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        policy = self.policies.get(path, POLICY)
        cacheable = path.startswith(CACHEABLE_PREFIX)
        over_tls = scope.get("scheme") == "https"

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["content-security-policy"] = policy
                headers["x-frame-options"] = "DENY"
                headers["x-content-type-options"] = "nosniff"
                headers["referrer-policy"] = "same-origin"
                if over_tls:
                    headers["strict-transport-security"] = HSTS
                if not cacheable:
                    headers["cache-control"] = "no-store"
            await send(message)

        await self.app(scope, receive, with_headers)
