"""The services of one process, as the composition root (:mod:`runtime.app`) hands them to
the API and the pages: they reach data only through these, and never see a pool."""

from __future__ import annotations

from dataclasses import dataclass

from protection.keyring import KeyRing
from schemas.residence_routes import ResidenceRoutes
from service.access import AccessService
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
from service.rules import RuleService
from service.webhooks import WebhookService


@dataclass(frozen=True)
class Services:
    """Each field becomes the attribute of ``app.state`` of its name."""

    cases: CaseService
    rules: RuleService  # rule-set versions, four eyes, the simulation (/admin/regeln)
    accounts: AccountService
    access: AccessService
    directory: DirectoryService
    inbox: InboxService
    notes: NoteService
    attachments: AttachmentService
    records: RecordsService
    reports: ReportService
    flyers: FlyerService
    codec: CodecService
    retention: RetentionService
    webhooks: WebhookService  # the back office's subscriptions (/api/v1/admin/webhooks)
    keys: KeyRing  # the keys of the API's client (tests read them here)
    residence_routes: ResidenceRoutes  # read once, not per page
    health: HealthService  # /readyz
    metrics: ServiceMetrics  # /metrics: this process's registry
