"""Payload encryption for Temporal: master keys, per-case data keys, the codec."""

from __future__ import annotations

import asyncpg
import structlog
from temporalio.client import Client

from config.settings import Settings
from protection.codec import is_protected, protected
from protection.keyring import KeyRing
from protection.master import MasterKeyError, MasterKeys

log = structlog.get_logger(__name__)


def require_configured_ring(settings: Settings) -> None:
    """With an external server (``DATABASE_URL`` or ``TEMPORAL_ADDRESS``) the ring must be
    configured: every process of the deployment must hold the same one, and a ring a process
    made for itself would make every payload the others wrote unreadable to it (each workflow
    task failing with "master key … is not in the key ring", for ever). A ring is generated
    only for the embedded setup, where one process holds the one data folder."""
    external = settings.database_url is not None or settings.temporal_address is not None
    if external and settings.master_keys is None and settings.master_key_file is None:
        raise MasterKeyError(
            "external servers are configured (DATABASE_URL or TEMPORAL_ADDRESS) but no master "
            "key ring: give every process the same one in CASE_MASTER_KEY_FILE (a file or a "
            "mounted secret) or CASE_MASTER_KEYS; make one with "
            "`python -m commands.keys new-ring --out <file>`"
        )


def open_keyring(pool: asyncpg.Pool, settings: Settings) -> KeyRing:
    """The data keys in ``pool``'s database under the configured master key ring.

    With nothing configured, the embedded default generates a ring file on first start and
    says where it is: that file must be kept (and backed up apart from the database), since
    without it no payload in Temporal can be read again. With external servers, nothing
    configured is refused (:func:`require_configured_ring`).
    """
    require_configured_ring(settings)
    inline = settings.master_keys.get_secret_value() if settings.master_keys else None
    masters, created = MasterKeys.from_settings(
        inline, settings.master_key_file, settings.default_master_key_file
    )
    if created:
        log.warning(
            "master key ring generated; keep it and back it up apart from the database",
            path=str(masters.path),
        )
    return KeyRing(
        pool, masters, cache_ttl=settings.key_cache_seconds, shred_log=settings.shred_log_file
    )


def protect(client: Client, pool: asyncpg.Pool, settings: Settings) -> Client:
    """``client`` with every payload encrypted (unchanged if it already is).

    The worker and the API call this themselves, so neither can talk to Temporal in clear.
    """
    if is_protected(client):
        return client
    return protected(client, open_keyring(pool, settings))
