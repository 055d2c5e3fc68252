"""Webhook subscriptions (``webhook_subscriptions``); their deliveries are outbox rows."""

from __future__ import annotations

from schemas.webhooks import Subscription
from store.db import Connection

_COLUMNS = "subscription_id, name, url, active, created_at"


async def add(
    con: Connection, name: str, url: str, secret_key_id: str, secret_sealed: bytes
) -> Subscription | None:
    """The new subscription; None when the name is taken."""
    row = await con.fetchrow(
        "INSERT INTO webhook_subscriptions (name, url, secret_key_id, secret_sealed)"
        f" VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING RETURNING {_COLUMNS}",
        name,
        url,
        secret_key_id,
        secret_sealed,
    )
    return None if row is None else Subscription.model_validate(dict(row))


async def listed(con: Connection) -> list[Subscription]:
    rows = await con.fetch(f"SELECT {_COLUMNS} FROM webhook_subscriptions ORDER BY name")
    return [Subscription.model_validate(dict(row)) for row in rows]


async def deactivate(con: Connection, name: str) -> bool:
    """No new deliveries for ``name``; what is queued is dropped. False: no such name."""
    found = await con.fetchval(
        "UPDATE webhook_subscriptions SET active = false WHERE name = $1 AND active"
        " RETURNING subscription_id",
        name,
    )
    if found is None:
        return False
    await con.execute("DELETE FROM outbox WHERE subscription_id = $1 AND status = 'queued'", found)
    return True


async def sealed_secret(con: Connection, subscription_id: int) -> tuple[str, str, bytes] | None:
    """The name, key id and sealed secret of an active subscription."""
    row = await con.fetchrow(
        "SELECT name, secret_key_id, secret_sealed FROM webhook_subscriptions"
        " WHERE subscription_id = $1 AND active",
        subscription_id,
    )
    if row is None:
        return None
    return row["name"], row["secret_key_id"], bytes(row["secret_sealed"])


def secret_context(name: str) -> str:
    """What a sealed secret belongs to (bound into it: copied to another row it does not open)."""
    return f"webhook-subscription:{name}"
