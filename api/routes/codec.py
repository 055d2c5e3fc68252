"""``/codec/decode`` and ``/codec/encode``: the Temporal UI's remote codec, behind our login.

The Temporal UI shows payloads as the server stores them, encrypted. Pointed at this endpoint
(the embedded dev server is started with ``--ui-codec-endpoint``), it sends them here to be
decoded, with the caseworker's session cookie when "include cross-origin credentials" is on.
Only the ``abh`` role gets plaintext: ``ops`` and anonymous callers get 403/401 and the UI keeps
showing ciphertext. Every decode that reveals a case's payloads is written to the access log,
one row per case.

Protocol (Temporal's codec server protocol): POST a ``Payloads`` message as proto3 JSON,
get one back; the UI sends ``X-Namespace``, which is not needed here. The UI runs on another
origin (its own port), so this path answers CORS for the configured origins only
(``CASE_CODEC_ORIGINS``, default the embedded UI) and lets them past the same-origin check.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from google.protobuf import json_format
from starlette.types import ASGIApp, Receive, Scope, Send
from temporalio.api.common.v1 import Payloads

from api.deps import Caseworker, Codec
from api.errors import REFUSED
from schemas.problems import ValidationProblem
from service.errors import Invalid

PATH_PREFIX = "/codec/"
router = APIRouter(
    prefix="/codec",
    tags=["codec"],
    responses={
        **REFUSED,
        422: {"model": ValidationProblem, "description": "Not a Payloads message, or not ours"},
    },
)


async def _payloads(request: Request) -> Payloads:
    try:
        return json_format.Parse(await request.body(), Payloads(), ignore_unknown_fields=True)
    except (json_format.ParseError, UnicodeDecodeError):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "body: not a Payloads message in proto3 JSON"
        ) from None


def _answer(payloads: list[Any]) -> dict[str, Any]:
    return json_format.MessageToDict(Payloads(payloads=payloads))


@router.post("/decode", summary="Decode payloads for the Temporal UI (abh only)")
async def decode(request: Request, reader: Caseworker, codec: Codec) -> dict[str, Any]:
    message = await _payloads(request)
    try:
        decoded = await codec.decode(reader, message.payloads, "temporal-ui: decode")
    except Invalid as refused:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, refused.message) from None
    return _answer(decoded)


@router.post("/encode", summary="Encode payloads for the Temporal UI (abh only)")
async def encode(request: Request, writer: Caseworker, codec: Codec) -> dict[str, Any]:
    """The UI encodes what a person types in (a signal's input, say) before sending it.

    Such input belongs to no case the codec could tell, so it goes under the system key.
    """
    message = await _payloads(request)
    encoded = await codec.encode(message.payloads)
    return _answer(encoded)


class CodecCorsMiddleware:
    """CORS for ``/codec/*`` and only for the configured origins, with credentials."""

    def __init__(self, app: ASGIApp, origins: tuple[str, ...]) -> None:
        self.app = app
        self.origins = frozenset(origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope["path"]).startswith(PATH_PREFIX):
            await self.app(scope, receive, send)
            return
        origin = next(
            (bytes(v).decode("latin-1") for k, v in scope["headers"] if k == b"origin"), None
        )
        allowed = origin is not None and origin in self.origins
        if scope["method"] == "OPTIONS":
            headers = [(b"vary", b"Origin")]
            if allowed:
                assert origin is not None
                headers += [
                    (b"access-control-allow-origin", origin.encode()),
                    (b"access-control-allow-credentials", b"true"),
                    (b"access-control-allow-methods", b"POST"),
                    (b"access-control-allow-headers", b"content-type, x-namespace"),
                    (b"access-control-max-age", b"600"),
                ]
            await send({"type": "http.response.start", "status": 204 if allowed else 403,
                        "headers": headers})  # fmt: skip
            await send({"type": "http.response.body", "body": b""})
            return

        async def with_cors(message: Any) -> None:
            if message["type"] == "http.response.start" and allowed:
                assert origin is not None
                message["headers"] = [
                    *message.get("headers", []),
                    (b"access-control-allow-origin", origin.encode()),
                    (b"access-control-allow-credentials", b"true"),
                    (b"vary", b"Origin"),
                ]
            await send(message)

        await self.app(scope, receive, with_cors)
