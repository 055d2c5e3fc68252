"""Typed dependencies: what a route may ask for, taken from ``app.state`` (set by the lifespan).

Routes never reach into ``app.state`` themselves, so the one place that knows how the app
holds its services is here. Routes get services only (:class:`service.container.Services`),
never a pool or a client: every read and write of data goes through a service method.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Depends, Path, Request

from api.auth import accounts, require_roles
from schemas.accounts import Account, Role
from schemas.events import CaseId
from schemas.inputs import RowId
from service.access import REPORT_READERS, AccessService
from service.accounts import AccountService
from service.attachments import AttachmentService
from service.cases import CaseService
from service.codec import CodecService
from service.directory import DirectoryService
from service.flyers import FlyerService
from service.health import HealthService
from service.inbox import InboxService
from service.metrics import ServiceMetrics
from service.notes import NoteService
from service.records import RecordsService
from service.report import ReportService
from service.retention import RetentionService
from service.webhooks import WebhookService


def _case_service(request: Request) -> CaseService:
    service: CaseService = request.app.state.cases
    return service


Cases = Annotated[CaseService, Depends(_case_service)]
"""The case service: every operation on cases and tasks goes through it."""


def _access(request: Request) -> AccessService:
    service: AccessService = request.app.state.access
    return service


Access = Annotated[AccessService, Depends(_access)]
"""Reading a case's data as the caller for a purpose: the rule and the access log together."""


def _flyers(request: Request) -> FlyerService:
    service: FlyerService = request.app.state.flyers
    return service


Flyers = Annotated[FlyerService, Depends(_flyers)]
"""The towns' flyers and their stored versions."""


def _codec(request: Request) -> CodecService:
    service: CodecService = request.app.state.codec
    return service


def _inbox(request: Request) -> InboxService:
    service: InboxService = request.app.state.inbox
    return service


Inbox = Annotated[InboxService, Depends(_inbox)]
"""The teams' task lists (the API's and the pages' one query)."""


def _notes(request: Request) -> NoteService:
    service: NoteService = request.app.state.notes
    return service


Notes = Annotated[NoteService, Depends(_notes)]
"""Notes on a case (the ABH)."""


def _attachments(request: Request) -> AttachmentService:
    service: AttachmentService = request.app.state.attachments
    return service


Attachments = Annotated[AttachmentService, Depends(_attachments)]
"""Attachments on a case (the ABH; the KI its own, on a case disclosed to it)."""

Codec = Annotated[CodecService, Depends(_codec)]
"""The Temporal UI's codec (decoding is logged per case)."""


def _retention(request: Request) -> RetentionService:
    service: RetentionService = request.app.state.retention
    return service


Retention = Annotated[RetentionService, Depends(_retention)]
"""Legal holds."""


def _webhooks(request: Request) -> WebhookService:
    service: WebhookService = request.app.state.webhooks
    return service


Webhooks = Annotated[WebhookService, Depends(_webhooks)]
"""The back office's webhook subscriptions."""


def _directory(request: Request) -> DirectoryService:
    service: DirectoryService = request.app.state.directory
    return service


Directory = Annotated[DirectoryService, Depends(_directory)]
"""The partner and offer directories: every read and write of them goes through it."""

Accounts = Annotated[AccountService, Depends(accounts)]
"""Accounts, sessions, API tokens and the access log."""


def _records(request: Request) -> RecordsService:
    service: RecordsService = request.app.state.records
    return service


Records = Annotated[RecordsService, Depends(_records)]


def _reports(request: Request) -> ReportService:
    service: ReportService = request.app.state.reports
    return service


Reports = Annotated[ReportService, Depends(_reports)]
"""The disclosure register and access reports (GDPR Art. 15, 30)."""


def _health(request: Request) -> HealthService:
    service: HealthService = request.app.state.health
    return service


Health = Annotated[HealthService, Depends(_health)]
"""The readiness checks of this process."""


def _metrics(request: Request) -> ServiceMetrics:
    service: ServiceMetrics = request.app.state.metrics
    return service


Metrics = Annotated[ServiceMetrics, Depends(_metrics)]
"""This process's Prometheus registry."""

# Who may call a route: the logged-in account, when its role is one of these (else 401/403).
Caseworker = Annotated[Account, require_roles(Role.ABH)]
CaseReader = Annotated[Account, require_roles(Role.ABH, Role.KI)]
TaskWorker = Annotated[Account, require_roles(Role.ABH, Role.KI)]
PartnerReader = Annotated[Account, require_roles(Role.ABH, Role.KI, Role.ADMIN)]
Admin = Annotated[Account, require_roles(Role.ADMIN)]
Operator = Annotated[Account, require_roles(Role.OPS, Role.ADMIN)]
ReportReader = Annotated[Account, require_roles(*REPORT_READERS)]
ReportWriter = Annotated[Account, require_roles(Role.ADMIN, Role.REPORTING)]  # the committees'

CaseIdPath = Annotated[CaseId, Path()]
TaskIdPath = Annotated[UUID, Path(description="The task id as listed by GET /api/v1/tasks.")]
# An id beyond the int4 column names no row: 422 before any query (asyncpg would raise).
PartnerIdPath = Annotated[RowId, Path()]
OfferIdPath = Annotated[RowId, Path()]
