"""The Temporal UI's remote codec behind the login: decoding reveals a case's payloads and is
logged per case (:class:`service.access.AccessService`); encoding puts what a person types in
the UI under the system key (it belongs to no case the codec could tell).

A payload that must not be decoded (tampered, or under a key never held here) is
:class:`~service.errors.Invalid`; nothing of the message is decoded then, and nothing logged.
"""

from __future__ import annotations

from collections.abc import Sequence

from temporalio.api.common.v1 import Payload

from protection.codec import KEY_ID, CaseCodec, PayloadRefused
from protection.keyring import KeyRing
from schemas.accounts import Account
from service.access import AccessService
from service.errors import Invalid


class CodecService:
    def __init__(self, keys: KeyRing, access: AccessService) -> None:
        self._keys = keys
        self._access = access

    async def decode(
        self, reader: Account, payloads: Sequence[Payload], purpose: str
    ) -> list[Payload]:
        codec = CaseCodec(self._keys)
        try:
            decoded = [await codec.decode_one(payload) for payload in payloads]
        except PayloadRefused as refused:
            raise Invalid(str(refused)) from None
        key_ids = {p.metadata[KEY_ID].decode() for p in payloads if KEY_ID in p.metadata}
        await self._access.decoded(reader, key_ids, purpose)
        return decoded

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return await CaseCodec(self._keys).encode(list(payloads))
