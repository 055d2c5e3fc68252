"""Deprecations of ``/api/v1``, announced on every answer of what is going (docs/api-contract.md).

An entry of :data:`DEPRECATIONS` (keyed by operation id) makes every answer of that operation
carry ``Deprecation`` (RFC 9745: ``@`` and the Unix time it was deprecated), ``Sunset``
(RFC 8594: the HTTP date it goes) and a ``Link`` to the notes, and marks it ``deprecated`` in
the OpenAPI document. Nothing is deprecated today: the table is empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from email.utils import format_datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The shortest time between a deprecation and its sunset the promise allows: six months (the
# shortest six months, January to June of a common year, have 181 days).
NOTICE_DAYS = 181


@dataclass(frozen=True)
class Deprecation:
    since: date
    sunset: date
    notes: str

    def __post_init__(self) -> None:
        if (self.sunset - self.since).days < NOTICE_DAYS:
            raise ValueError("a sunset comes at least six months after its deprecation")

    def headers(self) -> list[tuple[bytes, bytes]]:
        since = int(datetime.combine(self.since, time(), UTC).timestamp())
        sunset = format_datetime(datetime.combine(self.sunset, time(), UTC), usegmt=True)
        return [
            (b"deprecation", f"@{since}".encode()),
            (b"sunset", sunset.encode()),
            (b"link", f'<{self.notes}>; rel="deprecation"; type="text/html"'.encode()),
        ]


DEPRECATIONS: dict[str, Deprecation] = {}


def mark(doc: dict[str, Any], deprecations: dict[str, Deprecation]) -> None:
    """Each deprecated operation ``deprecated`` in the document, with its sunset."""
    for item in doc.get("paths", {}).values():
        for operation in item.values():
            found = deprecations.get(operation.get("operationId", ""))
            if found is not None:
                operation["deprecated"] = True
                operation["description"] = (
                    f"{operation.get('description', '')}\n\nDeprecated since "
                    f"{found.since.isoformat()}; goes on {found.sunset.isoformat()}."
                ).strip()


class DeprecationMiddleware:
    """The headers of :data:`DEPRECATIONS` on the answers of the routes they name."""

    def __init__(self, app: ASGIApp, deprecations: dict[str, Deprecation]) -> None:
        self.app = app
        self.deprecations = deprecations

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.deprecations:
            await self.app(scope, receive, send)
            return

        async def announcing(message: Message) -> None:
            if message["type"] == "http.response.start":
                # The router has put the matched route into the scope by now.
                route = scope.get("route")
                found = self.deprecations.get(getattr(route, "name", ""))
                if found is not None:
                    message = {**message, "headers": [*message["headers"], *found.headers()]}
            await send(message)

        await self.app(scope, receive, announcing)
