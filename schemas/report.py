"""The county's report to its committees (Bericht für die Ausschüsse): its figures as
counted, as published (small numbers suppressed) and as stored for a later check."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from schemas.rows import Row

OUTCOME_LINES = (
    "voluntary_support",
    "voluntary_plain",
    "enforced",
    "permit",
    "moved",
    "closed_by_abh",
    "never_opened",
)
"""The report's lines of how cases closed, in their order (the table and the PDF's chart)."""


class ReportFormat(StrEnum):
    JSON = "json"
    CSV = "csv"
    XLSX = "xlsx"
    PDF = "pdf"


class Figure(BaseModel):
    """One line of the report: its key, German label, indentation; ``parts`` of a total."""

    model_config = ConfigDict(frozen=True)

    key: str
    label: str
    level: int = 0


class RuleVersion(BaseModel):
    """One rule-set version in force on a day of a report's period."""

    version: int
    adopted_from: date
    content_digest: str


class PeriodRules(BaseModel):
    """The rule-set versions in force in a report's period: a label a committee reads and a
    digest over the versions' content digests (the same versions: the same digest)."""

    label: str
    digest: str
    versions: list[RuleVersion] = Field(default_factory=list)


class ReportRequest(BaseModel):
    """A report's period (days in Europe/Berlin, both inclusive) and its town (None: county)."""

    model_config = ConfigDict(extra="forbid")

    period_from: date
    period_to: date
    town: str | None = None


class ReportLine(BaseModel):
    """A line as published: one shown value per column ("12", "0", "< 5", "x")."""

    key: str
    label: str
    level: int
    shown: list[str]
    values: list[int | None] = Field(description="The number, or null where it is suppressed.")


class CommitteeReport(BaseModel):
    """``GET /api/v1/reports/committee``: the report as published and what it rests on."""

    report_id: str
    period_from: date
    period_to: date
    town: str | None
    generated_at: datetime
    rules: PeriodRules
    audit_head_seq: int | None = Field(description="The audit log's last entry when made.")
    audit_head_hash: str | None = Field(description="Its entry_hash, hex.")
    audit_seq: int = Field(description="The report's own entry in the audit log.")
    facts_up_to: int = Field(description="The last anonymous fact the figures include.")
    figures_digest: str = Field(description="sha256 of the raw figures (canonical JSON).")
    columns: list[str]
    lines: list[ReportLine]


class ReportVerification(BaseModel):
    """``python -m commands.report verify``: whether a stored report still holds."""

    report_id: str
    ok: bool
    problems: list[str]


class FactCountRow(Row):
    town: str
    kind: str
    attributes: dict[str, JsonValue]
    facts: int


class StoredReportRow(Row):
    report_id: str
    period_from: date
    period_to: date
    town: str | None
    generated_at: datetime
    generated_by: str
    facts_up_to: int
    rules_label: str
    rules_digest: str
    figures_digest: str
    published: dict[str, JsonValue]
    audit_seq: int
    audit_head_seq: int | None
    audit_head_hash: bytes | None
