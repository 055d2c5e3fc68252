"""Typed dependencies: what a route may ask for, taken from ``app.state`` (set by the lifespan).

Routes never reach into ``app.state`` themselves, so the one place that knows how the app
holds its resources is here, and tests can build the app with their own client and pool.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import asyncpg
from fastapi import Depends, Path, Request

from api.auth import accounts, require_roles
from schemas.accounts import Account, Role
from schemas.events import CaseId
from schemas.inputs import RowId
from service.accounts import AccountService
from service.cases import CaseService
from service.directory import DirectoryService
from service.records import REPORT_READERS, RecordsService


def _case_service(request: Request) -> CaseService:
    service: CaseService = request.app.state.cases
    return service


def _pool(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.pool
    return pool


Cases = Annotated[CaseService, Depends(_case_service)]
"""The case service: every operation on cases and tasks goes through it."""

Pool = Annotated[asyncpg.Pool, Depends(_pool)]
"""The process's asyncpg pool, for the routes that read the database themselves (SQL stays in
store/)."""


def _directory(request: Request) -> DirectoryService:
    service: DirectoryService = request.app.state.directory
    return service


Directory = Annotated[DirectoryService, Depends(_directory)]
"""The partner and offer directories: every read and write of them goes through it."""

Accounts = Annotated[AccountService, Depends(accounts)]
"""Accounts, sessions, API tokens and the access log."""


def _records(request: Request) -> RecordsService:
    return RecordsService(_pool(request))


Records = Annotated[RecordsService, Depends(_records)]
"""The disclosure register and access reports (GDPR Art. 15, 30)."""

# Who may call a route: the logged-in account, when its role is one of these (else 401/403).
Caseworker = Annotated[Account, require_roles(Role.ABH)]
CaseReader = Annotated[Account, require_roles(Role.ABH, Role.KI)]
TaskWorker = Annotated[Account, require_roles(Role.ABH, Role.KI)]
PartnerReader = Annotated[Account, require_roles(Role.ABH, Role.KI, Role.ADMIN)]
Admin = Annotated[Account, require_roles(Role.ADMIN)]
ReportReader = Annotated[Account, require_roles(*REPORT_READERS)]

CaseIdPath = Annotated[CaseId, Path()]
TaskIdPath = Annotated[UUID, Path(description="The task id as listed by GET /api/v1/tasks.")]
# An id beyond the int4 column names no row: 422 before any query (asyncpg would raise).
PartnerIdPath = Annotated[RowId, Path()]
OfferIdPath = Annotated[RowId, Path()]
