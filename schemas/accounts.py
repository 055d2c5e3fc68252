"""Personal accounts, their roles, and the access log of case openings."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel


class Role(StrEnum):
    """What a person may do: one role per account."""

    ABH = "abh"  # caseworker of the foreigners' authority
    KI = "ki"  # integration centre: only cases with a disclosure on an unwithdrawn consent
    OPS = "ops"  # operations: workflow health (Temporal UI), no personal data
    ADMIN = "admin"  # accounts, partner directory, settings, access log
    REPORTING = "reporting"  # the committee report (Berichterstattung), nothing of the cases


class Account(BaseModel):
    account_id: int
    username: str
    display_name: str
    role: Role
    active: bool
    # Set by an admin's reset: until the person sets a password of their own, their session
    # opens only the password page (web) and nothing of the API.
    must_change_password: bool = False
    # Made by a single sign-on (service.sso): no local password; role and display name come
    # from the county's identity provider at every login.
    sso: bool = False
    # Set by an admin on an ABH or KI account: the team lead reassigns the team's tasks in
    # bulk (service.inbox.InboxService.reassign). The role stays the account's one role.
    team_lead: bool = False


class AccessLogEntry(BaseModel):
    """One opening of something showing a case's personal data: who, when, which case, role."""

    at: datetime
    account_id: int
    username: str
    role: Role
    case_id: str
    what: str


class BackOffice(BaseModel):
    """A back-office system, as its API token identifies it on a request."""

    token_id: int


class ApiToken(BaseModel):
    """A back-office API token as listed to admins: never the secret, not even its hash."""

    token_id: int
    name: str
    created_at: datetime
    revoked_at: datetime | None
