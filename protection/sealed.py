"""Data stored in PostgreSQL sealed with a scope's data key: AES-256-GCM, like the codec.

What is sealed: a case's attachments (``case_attachments.sealed``). The stored bytes are the
nonce and the ciphertext; the key id is kept beside them (a column), and is bound into the
ciphertext as associated data together with ``context``, which names what the bytes belong to
(the case and the attachment): bytes copied to another row, or under another key id, do not
open. Shredding the scope's key (:meth:`protection.keyring.KeyRing.shred`) leaves every
sealed copy unreadable, backups of the database included.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from protection.keyring import NONCE_BYTES, KeyRing, UnknownKey


class SealBroken(Exception):
    """Sealed bytes that do not open: tampered, moved, or under a key never held here."""


@dataclass(frozen=True)
class Sealed:
    key_id: str
    data: bytes  # nonce || AES-256-GCM(data key, plain, key id | context)


def _associated(key_id: str, context: str) -> bytes:
    return f"{key_id}|{context}".encode()


async def seal(keys: KeyRing, scope: str, plain: bytes, context: str) -> Sealed:
    """``plain`` sealed with the live key of ``scope`` (created when the scope has none)."""
    data_key = await keys.key_for(scope)
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = AESGCM(data_key.key).encrypt(nonce, plain, _associated(data_key.key_id, context))
    return Sealed(key_id=data_key.key_id, data=nonce + sealed)


async def unseal(keys: KeyRing, key_id: str, data: bytes, context: str) -> bytes | None:
    """The plain bytes; None when the key was shredded (the data is erased)."""
    try:
        key = await keys.key_by_id(key_id)
    except UnknownKey:
        raise SealBroken(f"unknown key id {key_id}") from None
    if key is None:
        return None
    try:
        return AESGCM(key).decrypt(
            data[:NONCE_BYTES], data[NONCE_BYTES:], _associated(key_id, context)
        )
    except InvalidTag:
        raise SealBroken(f"sealed data under key {key_id} fails authentication") from None
