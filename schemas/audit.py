"""The audit log's entries and the one definition of how an entry is hashed.

The log is a hash chain: ``entry_hash = sha256(prev_hash + canonical_bytes(entry))`` with
``prev_hash`` the previous entry's ``entry_hash`` (32 zero bytes for the first entry). The
serialisation is fixed here, in one function used by the writer and the verifier alike, so
that any verifier (also one in another language) can recompute every hash from the stored
columns:

- a JSON object with exactly the keys ``action``, ``actor``, ``at``, ``case_id``, ``detail``,
  ``role``, ``seq``; keys sorted (in ``detail`` too), no whitespace (``","`` and ``":"``),
  UTF-8, non-ASCII characters as themselves (not ``\\u`` escapes), ``null`` for no case;
- ``at`` in UTC with exactly six fraction digits and a ``Z``: ``2026-01-05T09:30:00.123456Z``
  (PostgreSQL keeps microseconds, so this survives the round trip through ``timestamptz``
  whatever the session's time zone);
- ``detail`` values are strings, integers, booleans, null or lists of strings and integers,
  never floats: jsonb would hand back ``1e20`` as an integer and the text would differ.

In Python that is ``json.dumps(..., sort_keys=True, separators=(",", ":"),
ensure_ascii=False).encode("utf-8")``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import TypeAlias

from pydantic import BaseModel, ConfigDict, Field

from schemas.accounts import Account

GENESIS_HASH = bytes(32)
"""What the first entry chains to."""

SYSTEM_ROLE = "system"
"""The role of entries written by a program (a CLI, the worker) rather than a person."""


class AuditAction(StrEnum):
    """What happened. Stored as text: adding an action needs no migration."""

    CASE_OPENED = "case_opened"  # someone saw a case's data (page or API)
    ACCOUNT_CREATED = "account_created"
    ACCOUNT_ACTIVATED = "account_activated"
    ACCOUNT_DEACTIVATED = "account_deactivated"
    PASSWORD_CHANGED = "password_changed"
    ACCOUNT_EMAIL_CHANGED = "account_email_changed"  # the notice address; detail: no address
    PASSWORD_RESET = "password_reset"  # one-time password by an admin: must change at login
    TOKEN_CREATED = "token_created"
    TOKEN_REVOKED = "token_revoked"
    DISCLOSURE = "disclosure"  # personal data passed on, on a consent
    CONSENT_WITHDRAWN = "consent_withdrawn"  # with the recipients asked to erase
    LEGAL_HOLD_SET = "legal_hold_set"
    LEGAL_HOLD_LIFTED = "legal_hold_lifted"
    CASE_ERASED = "case_erased"  # key shredded, personal rows removed
    ARRIVAL_ERASED = "arrival_erased"  # an arrival's key shredded, name and e-mail removed
    ERASURE_REAPPLIED = "erasure_reapplied"  # a restored backup: a logged shred done again
    NOTE_ADDED = "note_added"  # a note on a case (its id; the text stays in case_notes)
    ATTACHMENT_ADDED = "attachment_added"  # its id, kind, type and size; never name or content
    LOGIN = "login"  # a session opened: by password or single sign-on (detail: method)
    ACCOUNT_ROLE_CHANGED = "account_role_changed"  # single sign-on: the groups gave another
    LOGIN_REFUSED = "login_refused"  # single sign-on of a known account refused (no role)
    ACCOUNT_TEAM_LEAD_CHANGED = "account_team_lead_changed"  # detail: the account, on or off
    TASK_REASSIGNED = "task_reassigned"  # by a team lead: the task, from whom, to whom (ids)
    DEPARTURE_RECORDED = "departure_recorded"  # by the ABH on its page or API: event id, kind
    CASE_REOPENED = "case_reopened"  # by the ABH: a new obligation for a closed case
    COMMITTEE_REPORT = "committee_report"  # a report made: its id, period, facts, digests
    RULES_PROPOSED = "rules_proposed"  # a rule-set version proposed: version, day, digest
    RULES_ADOPTED = "rules_adopted"  # adopted by a second admin, with the simulation's numbers
    RULES_WITHDRAWN = "rules_withdrawn"  # a proposal withdrawn: its version
    WEBHOOK_SUBSCRIBED = "webhook_subscribed"  # an endpoint subscribed: name and URL
    WEBHOOK_UNSUBSCRIBED = "webhook_unsubscribed"  # its name


DetailValue: TypeAlias = str | int | bool | list[str | int] | None
"""Ids and states only; no floats (see the module docstring)."""


class AuditDraft(BaseModel):
    """An entry as its writer knows it; seq, time and hashes are given when it is appended."""

    model_config = ConfigDict(frozen=True)

    actor: str = Field(min_length=1)
    role: str = Field(min_length=1)
    action: AuditAction
    case_id: str | None = None
    detail: dict[str, DetailValue] = Field(default_factory=dict)

    @classmethod
    def by(
        cls,
        account: Account,
        action: AuditAction,
        *,
        case_id: str | None = None,
        detail: dict[str, DetailValue] | None = None,
    ) -> AuditDraft:
        """An entry for what a person did: the username names them, it is never reused."""
        return cls(
            actor=account.username,
            role=account.role.value,
            action=action,
            case_id=case_id,
            detail=detail or {},
        )


def by_system(
    actor: str,
    action: AuditAction,
    *,
    case_id: str | None = None,
    detail: dict[str, DetailValue] | None = None,
) -> AuditDraft:
    """An entry for what the service did on its own (``actor``: worker, retention, a CLI)."""
    return AuditDraft(
        actor=actor, role=SYSTEM_ROLE, action=action, case_id=case_id, detail=detail or {}
    )


class AuditEntry(BaseModel):
    """An entry as stored. ``action`` stays text, so entries of newer actions still read."""

    seq: int
    at: datetime
    actor: str
    role: str
    action: str
    case_id: str | None
    detail: dict[str, DetailValue]
    prev_hash: bytes
    entry_hash: bytes


class VerifyResult(BaseModel):
    """The outcome of walking the chain: intact, or where it first breaks and why."""

    ok: bool
    count: int  # entries found intact in order (all of them when ok)
    last_seq: int | None = None  # the last intact entry: note it to notice a cut-off tail
    last_hash: bytes | None = None
    broken_seq: int | None = None
    reason: str | None = None


def canonical_time(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("audit times are timezone-aware")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_bytes(
    *,
    seq: int,
    at: datetime,
    actor: str,
    role: str,
    action: str,
    case_id: str | None,
    detail: Mapping[str, object],
) -> bytes:
    document = {
        "action": str(action),
        "actor": actor,
        "at": canonical_time(at),
        "case_id": case_id,
        "detail": detail,
        "role": role,
        "seq": seq,
    }
    text = json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return text.encode("utf-8")


def chain_hash(prev_hash: bytes, canonical: bytes) -> bytes:
    return hashlib.sha256(prev_hash + canonical).digest()
