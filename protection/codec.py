"""The payload codec: every Temporal payload encrypted with its case's key (AES-256-GCM).

Temporal keeps each payload of a workflow (inputs, results, updates, signals, queries, memos,
failure messages and stack traces, which the failure converter moves into a payload) in its
history for as long as the workflow lives. The codec encrypts them all before they leave the
process. Which key: the SDK hands the codec the workflow id of each payload (serialization
context), ``case-<case_id>`` selects that case's key, ``arrival-<reference>`` that arrival's;
anything else uses the ``system`` key.

An encrypted payload carries ``encoding: binary/encrypted`` and the key id in its metadata,
so anything holding the key ring decodes it without further context (the UI's codec
endpoint, replays). The key id is bound into the ciphertext as associated data: a payload
moved under another key id does not decrypt. A payload whose key was shredded decodes to the
:data:`ERASED` marker instead of an error, so views and replays of other cases keep working.
"""

from __future__ import annotations

import json
import secrets
from collections import Counter
from collections.abc import Sequence
from typing import Self

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    ActivitySerializationContext,
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
    WorkflowSerializationContext,
)

from protection.keyring import (
    NONCE_BYTES,
    SYSTEM_SCOPE,
    KeyRing,
    UnknownKey,
    arrival_scope,
    case_scope,
)

ENCODING = b"binary/encrypted"
CIPHER = b"AES-256-GCM"
KEY_ID = "encryption-key-id"
CASE_WORKFLOW_PREFIX = "case-"  # workflows.case.workflow_id; kept here to stay sandbox-free
ARRIVAL_WORKFLOW_PREFIX = "arrival-"  # workflows.arrival.arrival_workflow_id

ERASED_ENCODING = b"json/plain"
ERASED = {"erased": True, "note": "Die Daten dieses Falls wurden gelöscht (Schlüssel vernichtet)."}
"""What a payload of an erased case decodes to."""


DECODED: Counter[str] = Counter()
"""Payloads decoded in this process, by outcome: ``decrypted``, ``erased`` (key shredded),
``plain`` (never encrypted) and ``refused`` (tampered or under an unknown key). Read by the
process's metrics (``case_codec_decoded_total``); no key id, no case."""


class PayloadRefused(Exception):
    """A payload that must not be decoded: tampered, or under a key never held here."""


def scope_of(context: SerializationContext) -> str:
    workflow_id: str | None = None
    if isinstance(context, (WorkflowSerializationContext, ActivitySerializationContext)):
        workflow_id = context.workflow_id
    if workflow_id and workflow_id.startswith(CASE_WORKFLOW_PREFIX):
        return case_scope(workflow_id.removeprefix(CASE_WORKFLOW_PREFIX))
    if workflow_id and workflow_id.startswith(ARRIVAL_WORKFLOW_PREFIX):
        return arrival_scope(workflow_id.removeprefix(ARRIVAL_WORKFLOW_PREFIX))
    return SYSTEM_SCOPE


def erased_payload() -> Payload:
    return Payload(
        metadata={"encoding": ERASED_ENCODING},
        data=json.dumps(ERASED, ensure_ascii=False).encode(),
    )


class CaseCodec(PayloadCodec, WithSerializationContext):
    """Encrypts with the key of the scope it was given; decrypts by the key id it reads."""

    def __init__(self, keys: KeyRing, scope: str = SYSTEM_SCOPE) -> None:
        self.keys = keys
        self.scope = scope

    def with_context(self, context: SerializationContext) -> Self:
        return type(self)(self.keys, scope_of(context))

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        if not payloads:
            return []
        data_key = await self.keys.key_for(self.scope)
        cipher = AESGCM(data_key.key)
        encoded = []
        for payload in payloads:
            nonce = secrets.token_bytes(NONCE_BYTES)
            sealed = cipher.encrypt(nonce, payload.SerializeToString(), data_key.key_id.encode())
            encoded.append(
                Payload(
                    metadata={
                        "encoding": ENCODING,
                        "encryption-cipher": CIPHER,
                        KEY_ID: data_key.key_id.encode(),
                    },
                    data=nonce + sealed,
                )
            )
        return encoded

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [await self.decode_one(payload) for payload in payloads]

    async def decode_one(self, payload: Payload) -> Payload:
        try:
            decoded, outcome = await self._decode_one(payload)
        except PayloadRefused:
            DECODED["refused"] += 1
            raise
        DECODED[outcome] += 1
        return decoded

    async def _decode_one(self, payload: Payload) -> tuple[Payload, str]:
        if payload.metadata.get("encoding") != ENCODING:
            return payload, "plain"  # never encrypted (histories from before the codec)
        key_id = payload.metadata.get(KEY_ID, b"").decode()
        if payload.metadata.get("encryption-cipher") != CIPHER or not key_id:
            raise PayloadRefused("unknown cipher or no key id")
        try:
            key = await self.keys.key_by_id(key_id)
        except UnknownKey:
            raise PayloadRefused(f"unknown key id {key_id}") from None
        if key is None:
            return erased_payload(), "erased"
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        try:
            plain = AESGCM(key).decrypt(nonce, sealed, key_id.encode())
        except InvalidTag:
            raise PayloadRefused(f"payload under key {key_id} fails authentication") from None
        return Payload.FromString(plain), "decrypted"


def data_converter(keys: KeyRing) -> DataConverter:
    """The pydantic converter, with every payload and failure text encrypted."""
    return DataConverter(
        payload_converter_class=pydantic_data_converter.payload_converter_class,
        payload_codec=CaseCodec(keys),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def protected(client: Client, keys: KeyRing) -> Client:
    """The same connection, with the encrypting data converter."""
    config = client.config()
    config["data_converter"] = data_converter(keys)
    return Client(**config)


def is_protected(client: Client) -> bool:
    return isinstance(client.data_converter.payload_codec, CaseCodec)


def keyring_of(client: Client) -> KeyRing:
    codec = client.data_converter.payload_codec
    if not isinstance(codec, CaseCodec):
        raise TypeError("this client does not encrypt its payloads")
    return codec.keys
