"""``/healthz``, ``/readyz`` and ``/metrics``: for the orchestrator and Prometheus, outside
``/api/v1`` where such probes look for them, and the same on the worker's own listener.

``/healthz`` and ``/readyz`` need no login: they say nothing but the names of the checks and
why one failed. ``/metrics`` carries numbers only (no ids, no personal data); with
``CASE_METRICS_TOKEN`` set it wants ``Authorization: Bearer <token>`` (Prometheus'
``authorization`` block), without one it is open, for a listener only the monitoring reaches.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Request, Response, Security, status
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.deps import Health, Metrics
from api.errors import problem_response
from config.settings import Settings
from schemas.health import Alive, Readiness
from schemas.problems import Problem, ProblemType, problem
from service.metrics import CONTENT_TYPE

router = APIRouter(tags=["health"])
# The probes take no login (a load balancer asks them); the document says so.
_OPEN: dict[str, object] = {"security": []}
METRICS_TOKEN = HTTPBearer(
    scheme_name="metricsToken",
    description="CASE_METRICS_TOKEN, when it is set; without it /metrics is open.",
    auto_error=False,
)

PATHS = ("/healthz", "/readyz", "/metrics")


@router.get(
    "/healthz", openapi_extra=_OPEN, summary="Alive: the process answers (nothing else is asked)"
)
async def healthz() -> Alive:
    return Alive()


@router.get(
    "/readyz",
    openapi_extra=_OPEN,
    summary="Ready: database, Temporal, schema and key ring (and the worker, on a worker)",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "A check failed; each says why."}},
)
async def readyz(health: Health) -> JSONResponse:
    """200 when every check passed, 503 otherwise; each check is named, with the reason it
    failed. The checks run at once under one short deadline (``CASE_PROBE_TIMEOUT``)."""
    readiness = await health.readiness()
    code = status.HTTP_200_OK if readiness.ready else status.HTTP_503_SERVICE_UNAVAILABLE
    return JSONResponse(readiness.model_dump(mode="json"), status_code=code)


def _token_accepted(request: Request) -> bool:
    settings: Settings = request.app.state.settings
    wanted = settings.metrics_token
    if wanted is None:
        return True
    given = request.headers.get("authorization", "")
    scheme, _, token = given.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        token.strip().encode(), wanted.get_secret_value().encode()
    )


@router.get(
    "/metrics",
    # The token is asked for only when one is set: either way in.
    openapi_extra={"security": [{"metricsToken": []}, {}]},
    summary="Prometheus figures of this process (text format)",
    response_class=Response,
    responses={
        200: {
            "content": {"text/plain": {"schema": {"type": "string"}}},
            "description": "Prometheus' text exposition format (version 0.0.4).",
        },
        401: {
            "model": Problem,
            "description": "CASE_METRICS_TOKEN is set and the bearer token is not it.",
        },
    },
)
async def metrics(
    request: Request,
    figures: Metrics,
    _token: Annotated[HTTPAuthorizationCredentials | None, Security(METRICS_TOKEN)],
) -> Response:
    if not _token_accepted(request):
        return problem_response(
            problem(ProblemType.UNAUTHENTICATED, "metrics token required", instance="/metrics"),
            headers={"www-authenticate": "Bearer"},
        )
    return Response(await figures.exposition(), media_type=CONTENT_TYPE)
