"""Webhooks to the back office, against a real HTTP receiver that goes away and comes back.

A case goes through the API on real servers (opened, its conversation held, closed by the
departure); the triggers queue one notification per change and subscription. The receiver is
a small app under uvicorn on a loopback port: first nothing listens there, then it answers
503, then it takes them. Nothing is lost, nothing is delivered twice under one id without
being the same, every signature verifies with the subscription's secret and none with
another, and no notification holds personal data.
"""

from __future__ import annotations

import io
import json
import re
import socket
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from fastapi import FastAPI, Request, Response
from prometheus_client import generate_latest
from pydantic import TypeAdapter

from commands import webhooks as webhooks_cli
from mail.delivery import DeliveryPolicy
from protection.webhook_signing import new_secret, signature, verify
from schemas.accounts import Role
from schemas.webhooks import Notification, WebhookType
from service.errors import Invalid, NameTaken, NotFound
from service.metrics import ServiceMetrics
from service.webhooks import WebhookService, deliver_due
from tests.browserkit import serving_on_loopback
from tests.sitekit import Site
from tests.test_api import V1, complete, conversation, event, open_case, the_task

NOTIFICATION = TypeAdapter[Notification](Notification)


@dataclass
class Receiver:
    """What the back office's endpoint got, and whether it is up."""

    answer: int = 200
    got: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/hook")
        async def hook(request: Request) -> Response:
            self.got.append((dict(request.headers), await request.body()))
            return Response(status_code=self.answer)

        return app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_nothing_is_lost_in_an_outage_and_every_signature_verifies(
    app: FastAPI, http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    keys = app.state.keys
    service = WebhookService(pool, keys)
    port = free_port()
    made = await service.subscribe(f"bo-{uuid.uuid4().hex[:6]}", f"http://127.0.0.1:{port}/hook")
    other = new_secret()

    case_id = await open_case(http)
    task_id = await the_task(http, case_id, "abh", "information_conversation")
    assert (await complete(http, task_id, conversation())).status_code == 200
    closing = await http.post(f"{V1}/status-events", json=event(case_id, 2, status="ausgereist"))
    assert closing.json()["stage"] == "closed"

    policy = DeliveryPolicy(max_attempts=5)
    now = datetime.now(UTC)
    receiver = Receiver()
    async with httpx.AsyncClient(timeout=5) as client:
        # Nothing listens: every one is kept for later.
        down = await deliver_due(pool, keys, client, now, policy)
        assert (down.delivered, down.failed) == (0, 0) and down.retried >= 5
        async with serving_on_loopback(receiver.app(), port):
            receiver.answer = 503  # up, but not well: kept again
            later = now + timedelta(hours=2)
            sick = await deliver_due(pool, keys, client, later, policy)
            assert sick.retried == down.retried and sick.delivered == 0
            receiver.answer = 200
            well = await deliver_due(pool, keys, client, later + timedelta(hours=2), policy)
            assert well.delivered == down.retried
            assert (
                await deliver_due(pool, keys, client, later + timedelta(days=1), policy)
            ).claimed == 0

    taken = receiver.got
    ids = [headers["webhook-id"] for headers, _ in taken]
    # Each id came twice (the 503 and the delivery), the same body under it each time.
    bodies_by_id: dict[str, set[bytes]] = {}
    for headers, body in taken:
        bodies_by_id.setdefault(headers["webhook-id"], set()).add(body)
        assert verify(made.secret, headers, body)
        assert not verify(other, headers, body)
        tampered = body.replace(b"closed", b"opened")
        assert tampered == body or not verify(made.secret, headers, tampered)
    assert all(len(bodies) == 1 for bodies in bodies_by_id.values())
    assert len(ids) == 2 * len(bodies_by_id)
    notifications = [NOTIFICATION.validate_json(next(iter(b))) for b in bodies_by_id.values()]
    mine = [n for n in notifications if n.data.case_id == case_id]
    kinds = [n.type for n in sorted(mine, key=lambda n: n.timestamp)]
    assert kinds[0] is WebhookType.CASE_OPENED
    assert WebhookType.CASE_STAGE_CHANGED in kinds and kinds[-1] is WebhookType.CASE_CLOSED
    closed = next(n for n in mine if n.type is WebhookType.CASE_CLOSED)
    assert closed.data.model_dump()["outcome"] == "departed_voluntarily"
    for _, body in taken:
        assert b"Testvorname" not in body and b"Testnachname" not in body
        assert b"Bahnhof" not in body
    exposition = generate_latest(ServiceMetrics().registry).decode()
    assert re.search(r'^case_webhook_attempts_total\{outcome="delivered"\} [1-9]', exposition, re.M)
    delivered = await pool.fetch(
        "SELECT status, body, message_sha256 FROM outbox WHERE channel = 'webhook'"
    )
    assert {row["status"] for row in delivered} == {"sent"}


async def test_a_subscription_refuses_bad_input_and_a_gone_one_gets_nothing(
    app: FastAPI, http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    service = WebhookService(pool, app.state.keys)
    with pytest.raises(Invalid):
        await service.subscribe("bad-url", "ftp://example.org/x")
    with pytest.raises(Invalid):
        await service.subscribe("bad-secret", "https://example.org/x", secret="whsec_short")
    name = f"bo-{uuid.uuid4().hex[:6]}"
    made = await service.subscribe(name, "https://example.invalid/hook")
    with pytest.raises(NameTaken):
        await service.subscribe(name, "https://example.invalid/other")
    assert [s.name for s in await service.subscriptions()] == [name]
    # The secret is stored sealed, never as it was given.
    stored = await pool.fetchval("SELECT secret_sealed FROM webhook_subscriptions")
    assert made.secret.encode() not in bytes(stored)
    await open_case(http)
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE channel = 'webhook'") >= 1
    await service.unsubscribe(name)
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE channel = 'webhook'") == 0
    await open_case(http)
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE channel = 'webhook'") == 0
    with pytest.raises(NotFound):
        await service.unsubscribe(name)


def test_the_signature_is_the_standard_webhooks_one() -> None:
    # The scheme's own example (standard-webhooks' specification, "Signature scheme").
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    assert (
        signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )
    assert json.loads(body)


async def test_the_admins_command_subscribes_lists_and_ends(
    app: FastAPI, pool: asyncpg.Pool, capsys: pytest.CaptureFixture[str]
) -> None:
    service = WebhookService(pool, app.state.keys)

    async def run(*argv: str) -> tuple[int, str]:
        out = io.StringIO()
        code = await webhooks_cli.execute(
            service, webhooks_cli.build_parser().parse_args(argv), out
        )
        return code, out.getvalue()

    code, said = await run("subscribe", "--name", "fachverfahren", "--url", "https://bo.example/h")
    assert code == 0 and said.startswith("subscribed fachverfahren: https://bo.example/h")
    secret = said.split("secret (shown once): ")[1].strip()
    assert secret.startswith("whsec_")
    code, listed = await run("list")
    assert code == 0 and listed.startswith("fachverfahren\thttps://bo.example/h\tactive")
    assert secret not in listed
    assert (await run("unsubscribe", "--name", "fachverfahren"))[0] == 0
    assert "\tended\t" in (await run("list"))[1]
    code, _ = await run("unsubscribe", "--name", "fachverfahren")
    assert code == 1 and "no subscription named fachverfahren" in capsys.readouterr().err


async def test_an_admin_subscribes_through_the_api_and_the_secret_is_answered_once(
    app: FastAPI, admin: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    name = f"api-{uuid.uuid4().hex[:6]}"
    made = await admin.post(
        f"{V1}/admin/webhooks", json={"name": name, "url": "https://bo.example/hooks"}
    )
    assert made.status_code == 201, made.text
    secret = made.json()["secret"]
    assert secret.startswith("whsec_") and made.json()["subscription"]["name"] == name
    listed = await admin.get(f"{V1}/admin/webhooks")
    assert [s["name"] for s in listed.json()] == [name] and secret not in listed.text
    again = await admin.post(
        f"{V1}/admin/webhooks", json={"name": name, "url": "https://bo.example/other"}
    )
    assert (again.status_code, again.json()["type"]) == (409, "/problems/name-taken")
    bad = await admin.post(
        f"{V1}/admin/webhooks", json={"name": "x", "url": "https://bo.example", "secret": "no"}
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == ["body", "secret"]
    assert (await admin.delete(f"{V1}/admin/webhooks/{name}")).status_code == 204
    entries = await pool.fetch(
        "SELECT actor, role, action, detail FROM audit_log"
        " WHERE action LIKE 'webhook_%' ORDER BY seq"
    )
    assert [(e["role"], e["action"]) for e in entries] == [
        ("admin", "webhook_subscribed"),
        ("admin", "webhook_unsubscribed"),
    ]
    gone = await admin.delete(f"{V1}/admin/webhooks/{name}")
    assert (gone.status_code, gone.json()["type"]) == (404, "/problems/not-found")


async def test_an_admin_keeps_the_subscriptions_on_a_german_page(site: Site) -> None:
    name = f"fv-{uuid.uuid4().hex[:6]}"
    async with await site.person(Role.ADMIN) as admin, await site.person(Role.ABH) as abh:
        assert (await abh.get("/admin/webhooks")).status_code == 403
        empty = await admin.get("/admin/webhooks")
        assert empty.status_code == 200 and "Noch kein Abonnement." in empty.text
        bad = await admin.post("/admin/webhooks", data={"name": name, "url": "ftp://x"})
        assert bad.status_code == 422 and "mit https:// oder http:// beginnt" in bad.text
        nul = await admin.post(
            "/admin/webhooks", data={"name": name, "url": "https://x", "secret": "a\x00"}
        )
        assert nul.status_code == 422 and "Das Steuerzeichen U+0000" in nul.text
        made = await admin.post(
            "/admin/webhooks", data={"name": name, "url": "https://bo.example/hooks"}
        )
        assert made.status_code == 200 and "wird nur jetzt angezeigt" in made.text
        secret = re.search(r'<code id="geheimnis">(whsec_[^<]+)</code>', made.text)
        assert secret is not None
        again = await admin.get("/admin/webhooks")
        assert name in again.text and secret[1] not in again.text and "aktiv" in again.text
        taken = await admin.post(
            "/admin/webhooks", data={"name": name, "url": "https://bo.example/other"}
        )
        assert taken.status_code == 422 and "gibt es schon" in taken.text
        ended = await admin.post(f"/admin/webhooks/{name}/beenden")
        assert ended.status_code == 303
        after = await admin.get(ended.headers["location"])
        assert "Das Abonnement wurde beendet" in after.text and "beendet" in after.text
        gone = await admin.post(f"/admin/webhooks/{name}/beenden")
        assert gone.status_code == 404 and "gibt es nicht" in gone.text
