"""Counting the status intake by outcome (``case_intake_events_total``), at the edge.

At the edge rather than in the service: a refusal of the request's shape (422 before the
route runs), of the caller (401, 403) and of the service (409, 503) all count, each by its
answer's status code, turned into a bounded outcome label (:func:`service.metrics.intake_outcome`).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.metrics import ServiceMetrics


class IntakeCounterMiddleware:
    def __init__(self, app: ASGIApp, path: str) -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        answered: list[int] = []

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                answered.append(int(message["status"]))
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            metrics: ServiceMetrics | None = getattr(scope["app"].state, "metrics", None)
            if metrics is not None:
                metrics.count_intake(answered[0] if answered else 500)
