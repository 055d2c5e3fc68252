"""Standard Webhooks signatures (https://www.standardwebhooks.com/, "Signature scheme").

The signed content is ``{webhook-id}.{webhook-timestamp}.{body}``; the signature is HMAC-SHA256
with the secret's bytes, base64, sent as ``webhook-signature: v1,<signature>``. A secret is
``whsec_`` and base64 of 24 to 64 random bytes, as the scheme's libraries make and read them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

PREFIX = "whsec_"


class BadSecret(ValueError):
    """Not a secret of the scheme (``whsec_`` and base64 of 24 to 64 bytes)."""


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def secret_bytes(secret: str) -> bytes:
    if not secret.startswith(PREFIX):
        raise BadSecret("a webhook secret starts with whsec_")
    try:
        key = base64.b64decode(secret.removeprefix(PREFIX), validate=True)
    except ValueError:
        raise BadSecret("a webhook secret is whsec_ and base64") from None
    if not 24 <= len(key) <= 64:
        raise BadSecret("a webhook secret holds 24 to 64 bytes")
    return key


def signature(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secret: str, webhook_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, webhook_id, timestamp, body),
        "content-type": "application/json",
    }


def verify(secret: str, sent: dict[str, str], body: bytes) -> bool:
    """What a receiver checks (the tests' receiver does): one of the signatures matches."""
    expected = signature(secret, sent["webhook-id"], int(sent["webhook-timestamp"]), body)
    return any(
        hmac.compare_digest(expected, given) for given in sent["webhook-signature"].split(" ")
    )
