"""Payload encryption: the codec, crypto-shredding, master key rotation, the UI's codec endpoint.

All against a real PostgreSQL (the data keys) and, where a workflow runs, the dev server.
"""

from __future__ import annotations

import io
import json
import stat
from pathlib import Path

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.api.failure.v1 import Failure
from temporalio.converter import (
    ActivitySerializationContext,
    WorkflowSerializationContext,
)
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from commands import keys as keys_cli
from config.settings import Settings
from protection.codec import (
    ENCODING,
    KEY_ID,
    CaseCodec,
    PayloadRefused,
    data_converter,
    erased_payload,
)
from protection.keyring import SYSTEM_SCOPE, KeyRing, case_scope
from protection.master import KeyRingData, MasterKeyError, MasterKeys, write_ring_file
from runtime.app import create_app
from runtime.worker import build_worker
from schemas.accounts import Role
from tests.test_api import (
    ORIGIN,
    V1,
    complete,
    conversation,
    http_client,
    login_session,
    open_case,
    serving,
    the_task,
)

UI_ORIGIN = "http://127.0.0.1:8233"


def plain(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(text).encode())


def ring() -> MasterKeys:
    return MasterKeys(text=KeyRingData.generate().to_json())


def codec_for(keys: KeyRing, case_id: str) -> CaseCodec:
    return CaseCodec(keys).with_context(
        WorkflowSerializationContext(namespace="default", workflow_id=f"case-{case_id}")
    )


# ------------------------------------------------------------------ the codec


async def test_round_trip_with_the_case_key_named_in_the_metadata(pool: asyncpg.Pool) -> None:
    keys = KeyRing(pool, ring())
    codec = codec_for(keys, "P-1")
    original = plain("Amina Beispiel, Bahnhofstraße 1")
    [sealed] = await codec.encode([original])
    assert sealed.metadata["encoding"] == ENCODING
    assert b"Amina" not in sealed.SerializeToString()
    key_id = sealed.metadata[KEY_ID].decode()
    assert await pool.fetchval("SELECT scope FROM data_keys WHERE key_id = $1", key_id) == (
        "case:P-1"
    )
    # Anything holding the key ring decodes, without knowing the case: no context needed.
    assert await CaseCodec(KeyRing(pool, keys.masters)).decode([sealed]) == [original]
    # Unencrypted payloads (histories from before the codec) pass through.
    assert await codec.decode([original]) == [original]


async def test_each_case_has_its_own_key_and_the_rest_uses_the_system_key(
    pool: asyncpg.Pool,
) -> None:
    keys = KeyRing(pool, ring())
    [a] = await codec_for(keys, "P-A").encode([plain("a")])
    [b] = await codec_for(keys, "P-B").encode([plain("b")])
    [a2] = await codec_for(keys, "P-A").encode([plain("a2")])
    assert a.metadata[KEY_ID] == a2.metadata[KEY_ID] != b.metadata[KEY_ID]
    activity = CaseCodec(keys).with_context(
        ActivitySerializationContext(
            namespace="default", activity_id="1", activity_type="x", activity_task_queue="q",
            workflow_id="case-P-A", workflow_type="CaseWorkflow", is_local=False,
        )
    )  # fmt: skip
    assert activity.scope == case_scope("P-A")
    other = CaseCodec(keys).with_context(
        WorkflowSerializationContext(namespace="default", workflow_id="trivial-1")
    )
    assert other.scope == SYSTEM_SCOPE
    # Concurrent first use of a case creates one key, not two.
    keys_b = KeyRing(pool, keys.masters)
    await codec_for(keys_b, "P-C").encode([plain("c")])
    await codec_for(keys, "P-C").encode([plain("c")])
    assert await pool.fetchval("SELECT count(*) FROM data_keys WHERE scope = 'case:P-C'") == 1


async def test_tampered_moved_and_unknown_payloads_are_refused(pool: asyncpg.Pool) -> None:
    keys = KeyRing(pool, ring())
    [sealed] = await codec_for(keys, "P-1").encode([plain("x")])
    [other] = await codec_for(keys, "P-2").encode([plain("y")])

    tampered = Payload()
    tampered.CopyFrom(sealed)
    tampered.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    with pytest.raises(PayloadRefused, match="fails authentication"):
        await CaseCodec(keys).decode([tampered])

    moved = Payload()
    moved.CopyFrom(sealed)
    moved.metadata[KEY_ID] = other.metadata[KEY_ID]  # under another case's key id
    with pytest.raises(PayloadRefused, match="fails authentication"):
        await CaseCodec(keys).decode([moved])

    unknown = Payload()
    unknown.CopyFrom(sealed)
    unknown.metadata[KEY_ID] = b"k-never-seen"
    with pytest.raises(PayloadRefused, match="unknown key id"):
        await CaseCodec(keys).decode([unknown])

    # A key ring with other master keys cannot unwrap the data keys at all.
    with pytest.raises(MasterKeyError):
        await CaseCodec(KeyRing(pool, ring())).decode([sealed])


async def test_a_shredded_key_decodes_to_the_erased_marker(pool: asyncpg.Pool) -> None:
    keys = KeyRing(pool, ring())
    [gone] = await codec_for(keys, "P-GONE").encode([plain("Amina")])
    [kept] = await codec_for(keys, "P-KEPT").encode([plain("Karim")])
    assert await keys.shred(case_scope("P-GONE")) == [gone.metadata[KEY_ID].decode()]
    assert await keys.shred(case_scope("P-GONE")) == []  # twice: nothing left to shred
    assert await CaseCodec(keys).decode([gone, kept]) == [erased_payload(), plain("Karim")]
    # No trace of the key is left in the database, only the fact that it existed.
    row = await pool.fetchrow("SELECT * FROM data_keys WHERE scope = 'case:P-GONE'")
    assert row is not None and row["wrapped"] is None and row["shredded_at"] is not None
    # A later case under the same id gets a new key; the old payloads stay erased.
    [again] = await codec_for(keys, "P-GONE").encode([plain("neu")])
    assert again.metadata[KEY_ID] != gone.metadata[KEY_ID]
    assert await CaseCodec(keys).decode([gone, again]) == [erased_payload(), plain("neu")]


async def test_failure_messages_and_stack_traces_are_encrypted_too(pool: asyncpg.Pool) -> None:
    """An error's message can carry what a person typed; the converter moves message and
    stack trace into a payload, which the codec encrypts like any other."""
    keys = KeyRing(pool, ring())
    converter = data_converter(keys).with_context(
        WorkflowSerializationContext(namespace="default", workflow_id="case-P-ERR")
    )
    try:
        raise ApplicationError("Amina Beispiel, Bahnhofstraße 1 is wrong", type="Refused")
    except ApplicationError as error:
        failure = Failure()
        await converter.encode_failure(error, failure)
    assert failure.message == "Encoded failure" and failure.stack_trace == ""
    assert failure.encoded_attributes.metadata["encoding"] == ENCODING
    assert b"Amina" not in failure.SerializeToString()
    decoded = await converter.decode_failure(failure)
    assert "Amina Beispiel" in str(decoded)


# ---------------------------------------------------------------- master keys


def test_the_default_key_ring_is_generated_once_and_private(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "master-keys.json"
    masters, created = MasterKeys.from_settings(None, None, path)
    assert created and stat.S_IMODE(path.stat().st_mode) == 0o600
    again, created_again = MasterKeys.from_settings(None, None, path)
    assert not created_again and again.current == masters.current
    inline, _ = MasterKeys.from_settings(KeyRingData.generate().to_json(), None, path)
    assert inline.path is None and inline.current != masters.current
    for bad in ("{}", '{"current": "x", "keys": {}}', '{"current": "a", "keys": {"a": "AA=="}}'):
        with pytest.raises(MasterKeyError):
            MasterKeys(text=bad)


async def test_master_key_rotation_keeps_a_running_case_going(
    dev_env: WorkflowEnvironment, pool: asyncpg.Pool, dsn: str, tmp_path: Path
) -> None:
    """A case opened under one master key; the key is rotated and the old one retired while
    the worker and the API keep running; the case goes on and every payload still decodes."""
    ring_file = tmp_path / "master-keys.json"
    write_ring_file(ring_file, KeyRingData.generate())
    settings = Settings().model_copy(
        update={"master_keys": None, "master_key_file": ring_file, "key_cache_seconds": 0,
                "database_url": dsn,
                "task_queue": f"rotation-{tmp_path.name}"}
    )  # fmt: skip
    app = create_app(settings, client=dev_env.client, pool=pool)
    async with (
        build_worker(dev_env.client, pool, settings),
        app.router.lifespan_context(app),
        http_client(app, session=await _session(app, Role.ABH), token=await _token(app)) as abh,
    ):
        case_id = await open_case(abh)
        old = MasterKeys(path=ring_file).current_id

        out = io.StringIO()
        assert await keys_cli.run(["rotate-master"], settings=settings, out=out) == 0
        new = MasterKeys(path=ring_file).current_id
        assert new != old and "data keys rewrapped" in out.getvalue()
        usage = await KeyRing(pool, MasterKeys(path=ring_file)).master_key_usage()
        assert set(usage) == {new}

        # The running worker knew only the old key: it reloads the ring by itself.
        task = await the_task(abh, case_id, "abh", "information_conversation")
        response = await complete(abh, task, conversation())
        assert response.status_code == 200 and response.json()["stage"] == "referral_offer"

        out = io.StringIO()
        assert await keys_cli.run(["retire-master", "--key-id", old], settings=settings, out=out)\
            == 0, out.getvalue()  # fmt: skip
        assert MasterKeys(path=ring_file).ids() == [new]
        consent = await the_task(abh, case_id, "abh", "referral_consent")
        response = await complete(abh, consent, {"kind": "referral_consent", "interested": False})
        assert response.status_code == 200, response.text

        history = await dev_env.client.get_workflow_handle(f"case-{case_id}").fetch_history()
        sealed = [
            p
            for e in history.events
            if e.HasField("workflow_execution_started_event_attributes")
            for p in e.workflow_execution_started_event_attributes.input.payloads
        ]
        assert sealed and all(p.metadata["encoding"] == ENCODING for p in sealed)
        decoded = await CaseCodec(KeyRing(pool, MasterKeys(path=ring_file))).decode(sealed)
        assert all(p.metadata["encoding"] != ENCODING for p in decoded)

        # Retiring the current key, or one still in use, is refused.
        assert await keys_cli.run(["retire-master", "--key-id", new], settings=settings) == 1


async def _session(app: FastAPI, role: Role) -> str:
    return await login_session(app, role)


async def _token(app: FastAPI) -> str:
    token: str = await app.state.accounts.create_api_token("rotation")
    return token


# ------------------------------------------------------------ the codec endpoint


def _body(payloads: list[Payload]) -> dict[str, object]:
    return json_format.MessageToDict(Payloads(payloads=payloads))


def _payloads(answer: httpx.Response) -> list[Payload]:
    return list(json_format.ParseDict(answer.json(), Payloads()).payloads)


async def test_the_codec_endpoint_decodes_for_the_abh_only_and_logs_it(
    dev_env: WorkflowEnvironment, pool: asyncpg.Pool
) -> None:
    async with serving(dev_env, pool) as app:
        keys: KeyRing = app.state.keys
        [sealed] = await codec_for(keys, "UI-1").encode([plain("Amina")])
        body = _body([sealed])
        ui = {"origin": UI_ORIGIN, "x-namespace": "default"}

        async with http_client(app, session=await login_session(app, Role.ABH)) as abh:
            answer = await abh.post("/codec/decode", json=body, headers=ui)
            assert answer.status_code == 200, answer.text
            assert _payloads(answer) == [plain("Amina")]
            assert answer.headers["access-control-allow-origin"] == UI_ORIGIN
            assert answer.headers["access-control-allow-credentials"] == "true"
            # What the UI encodes (a signal typed in) comes back encrypted.
            encoded = await abh.post("/codec/encode", json=_body([plain("x")]), headers=ui)
            assert _payloads(encoded)[0].metadata["encoding"] == ENCODING
            # A body that is no Payloads message is a 422, not a 500.
            bad = await abh.post("/codec/decode", content=b"[1, 2", headers=ui)
            assert bad.status_code == 422

        log = await app.state.accounts.access_log("UI-1")
        assert [(entry.role, entry.what) for entry in log] == [(Role.ABH, "temporal-ui: decode")]

        for role in (Role.OPS, Role.KI, Role.ADMIN):
            async with http_client(app, session=await login_session(app, role)) as other:
                refused = await other.post("/codec/decode", json=body, headers=ui)
                assert refused.status_code == 403, role
                assert "Amina" not in refused.text
        async with http_client(app) as anonymous:
            assert (await anonymous.post("/codec/decode", json=body, headers=ui)).status_code == 401
        assert len(await app.state.accounts.access_log("UI-1")) == 1

        # CORS: the UI's preflight is answered for its origin only; other pages cannot post
        # with a caseworker's cookie.
        async with http_client(app, session=await login_session(app, Role.ABH)) as abh:
            preflight = await abh.options(
                "/codec/decode",
                headers={"origin": UI_ORIGIN, "access-control-request-method": "POST"},
            )
            assert preflight.status_code == 204
            assert "x-namespace" in preflight.headers["access-control-allow-headers"]
            evil = {"origin": "http://evil.example"}
            assert (await abh.options("/codec/decode", headers=evil)).status_code == 403
            assert (await abh.post("/codec/decode", json=body, headers=evil)).status_code == 403
            # The UI's origin is trusted for /codec only, not for the rest of the API.
            elsewhere = await abh.post(f"{V1}/cases/UI-1/consent-withdrawal", json={},
                                       headers={"origin": UI_ORIGIN})  # fmt: skip
            assert elsewhere.status_code == 403
            assert elsewhere.json()["detail"] == "cross-origin request refused"
            assert ORIGIN != UI_ORIGIN

            # After crypto-shredding the UI gets the erased marker, not an error.
            await keys.shred(case_scope("UI-1"))
            erased = await abh.post("/codec/decode", json=body, headers=ui)
            assert _payloads(erased) == [erased_payload()]
