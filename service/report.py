"""The county's report to its committees (issue 15): figures per period and town, counted
from the anonymous facts that survive erasure, small numbers suppressed, stored with the rules
in force and the head of the audit chain, and checked again later.

A report counts the facts with an id up to the last one committed when it was made
(``facts_up_to``): made again later from the same facts it gives the same figures, whatever
happened since (:meth:`ReportService.verify`).

Suppression (:func:`suppress`): a count of 1 to 4 is shown as "< 5" (0 as 0); and every sum
the table shows (a town's cells and the county's total; a total and its parts, such as the
conversations in time and late) has either no hidden cell or at least two, so that no hidden
cell is the shown total minus the shown cells. A cell hidden for that second reason is
shown as "x". A report of one town shows that town's column of the county's table, with the
county's suppression, so two reports of the same period never differ in what they hide.
"""

from __future__ import annotations

import hashlib
import io
import json
import uuid
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from xml.sax.saxutils import escape

import asyncpg
from pydantic import JsonValue

from documents.report import committee_pdf
from schemas.accounts import Account
from schemas.audit import AuditAction, AuditDraft, DetailValue, by_system
from schemas.errors import FieldError
from schemas.local_time import BERLIN
from schemas.offers import COUNTY, COUNTY_TOWNS, known_town
from schemas.report import (
    OUTCOME_LINES,
    CommitteeReport,
    FactCountRow,
    Figure,
    ReportLine,
    ReportRequest,
    ReportVerification,
    StoredReportRow,
)
from service.csv_export import german_csv
from service.errors import Invalid, NotFound
from service.rules import RuleService
from store import audit as audit_store
from store import report as store

SMALL = "< 5"
HIDDEN = "x"
LEGEND = (
    "„< 5“: 1 bis 4 Fälle (zum Schutz der Personen nicht genau ausgewiesen); "
    "„x“: nicht ausgewiesen, damit sich eine kleine Zahl nicht aus Summen errechnen lässt."
)

Attrs = dict[str, JsonValue]


# Each line: the figure and which facts it counts (kind and the attributes they must have).
_LINES: tuple[tuple[Figure, str, Attrs], ...] = (
    (Figure(key="new_cases", label="Neue Fälle"), "case_opened", {}),
    (Figure(key="reopened", label="Wieder eröffnete Fälle"), "case_reopened", {}),
    (
        Figure(key="conversations", label="Informationsgespräche geführt"),
        "information_conversation",
        {},
    ),
    (
        Figure(key="conversations_in_time", label="davon fristgerecht", level=1),
        "information_conversation",
        {"in_time": True},
    ),
    (
        Figure(key="conversations_late", label="davon verspätet", level=1),
        "information_conversation",
        {"in_time": False},
    ),
    (
        Figure(key="perspective_route", label="Perspektive: Weg zum Aufenthalt möglich", level=1),
        "information_conversation",
        {"perspective": "route_possible"},
    ),
    (
        Figure(key="perspective_none", label="Perspektive: keine erkennbar", level=1),
        "information_conversation",
        {"perspective": "none_evident"},
    ),
    (Figure(key="referral_offers", label="Vermittlungsangebote"), "referral_consent", {}),
    (
        Figure(key="offers_accepted", label="davon angenommen", level=1),
        "referral_consent",
        {"interested": True},
    ),
    (
        Figure(key="offers_declined", label="davon abgelehnt", level=1),
        "referral_consent",
        {"interested": False},
    ),
    (Figure(key="consents_signed", label="Einwilligungen unterschrieben"), "consent_signed", {}),
    (Figure(key="consents_withdrawn", label="Einwilligungen widerrufen"), "consent_withdrawn", {}),
    (Figure(key="ki_contacts", label="Kontakte der KI"), "ki_contact", {}),
    (
        Figure(key="ki_reached", label="erreicht, Partner vor Ort übernimmt", level=1),
        "ki_contact",
        {"result": "reached"},
    ),
    (
        Figure(key="ki_declined", label="Unterstützung abgelehnt", level=1),
        "ki_contact",
        {"result": "declined"},
    ),
    (
        Figure(key="ki_not_reached", label="nicht erreicht", level=1),
        "ki_contact",
        {"result": "not_reached"},
    ),
    (
        Figure(key="ki_new_consent", label="neue Einwilligung nötig", level=1),
        "ki_contact",
        {"result": "new_consent"},
    ),
    (Figure(key="check_ins", label="Check-ins (Nachhalten)"), "follow_up", {}),
    (
        Figure(key="check_ins_reached", label="Person erreicht", level=1),
        "follow_up",
        {"reached": True},
    ),
    (
        Figure(key="check_ins_missed", label="Person nicht erreicht", level=1),
        "follow_up",
        {"reached": False},
    ),
    (Figure(key="escalations", label="Eskalationen an die ABH"), "escalation_opened", {}),
    (Figure(key="decisions", label="Entscheidungen der ABH"), "escalation", {}),
    (
        Figure(key="decision_extend", label="Ausreisefrist verlängert", level=1),
        "escalation",
        {"decision": "extend_deadline"},
    ),
    (
        Figure(key="decision_toleration", label="Duldung", level=1),
        "escalation",
        {"decision": "toleration"},
    ),
    (
        Figure(key="decision_enforcement", label="Abschiebung angeordnet", level=1),
        "escalation",
        {"decision": "enforcement"},
    ),
    (
        Figure(key="decision_close", label="Fall beendet", level=1),
        "escalation",
        {"decision": "close"},
    ),
    (Figure(key="closed", label="Abgeschlossene Fälle"), "case_closed", {}),
    (
        Figure(
            key="voluntary_support", label="freiwillig ausgereist, mit Rückkehrförderung", level=1
        ),
        "case_closed",
        {},
    ),
    (
        Figure(
            key="voluntary_plain", label="freiwillig ausgereist, ohne Rückkehrförderung", level=1
        ),
        "case_closed",
        {},
    ),
    (
        Figure(key="enforced", label="abgeschoben oder überstellt", level=1),
        "case_closed",
        {"outcome": "departed_enforced"},
    ),
    (
        Figure(key="permit", label="Aufenthaltserlaubnis erteilt", level=1),
        "case_closed",
        {"outcome": "residence_granted"},
    ),
    (Figure(key="moved", label="weggezogen", level=1), "case_closed", {"outcome": "moved_away"}),
    (
        Figure(key="closed_by_abh", label="von der ABH beendet", level=1),
        "case_closed",
        {"outcome": "closed_by_abh"},
    ),
    (
        Figure(key="never_opened", label="nicht eröffnet", level=1),
        "case_closed",
        {"outcome": "never_opened"},
    ),
    (Figure(key="suspended", label="Ruhend (Asylverfahren)"), "case_suspended", {}),
    (
        Figure(key="time_rule_refusals", label="Abschiebungen wegen Zeitregeln zurückgewiesen"),
        "time_rule_refusal",
        {},
    ),
    (
        Figure(key="enforcements", label="Abschiebungsmaßnahmen (Ergebnis erfasst)"),
        "enforcement_result",
        {},
    ),
    (
        Figure(key="enforcement_carried_out", label="durchgeführt", level=1),
        "enforcement_result",
        {"result": "carried_out"},
    ),
    (
        Figure(key="enforcement_broken_off", label="abgebrochen", level=1),
        "enforcement_result",
        {"result": "broken_off"},
    ),
    (
        Figure(key="enforcement_not_found", label="Person nicht angetroffen", level=1),
        "enforcement_result",
        {"result": "not_found"},
    ),
    (
        Figure(key="enforcement_minors", label="mit Minderjährigen", level=1),
        "enforcement_result",
        {"minors_present": True},
    ),
    (
        Figure(key="enforcement_minors_night", label="davon zwischen 22 und 6 Uhr", level=2),
        "enforcement_result",
        {"minors_present": True, "night": True},
    ),
    (
        Figure(key="incidents", label="Dokumentierte Vorfälle (Zeitregel beim Vollzug gebrochen)"),
        "incident",
        {},
    ),
)
FIGURES: tuple[Figure, ...] = tuple(figure for figure, _, _ in _LINES)

# A total and the parts it is the sum of: what a reader could subtract.
PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("conversations", ("conversations_in_time", "conversations_late")),
    ("conversations", ("perspective_route", "perspective_none")),
    ("referral_offers", ("offers_accepted", "offers_declined")),
    ("ki_contacts", ("ki_reached", "ki_declined", "ki_not_reached", "ki_new_consent")),
    ("check_ins", ("check_ins_reached", "check_ins_missed")),
    (
        "decisions",
        ("decision_extend", "decision_toleration", "decision_enforcement", "decision_close"),
    ),
    (
        "closed",
        OUTCOME_LINES,
    ),
    (
        "enforcements",
        ("enforcement_carried_out", "enforcement_broken_off", "enforcement_not_found"),
    ),
)


def _counts_for(key: str, kind: str, wanted: Attrs, fact_kind: str, attributes: Attrs) -> bool:
    if fact_kind != kind or any(attributes.get(k) != v for k, v in wanted.items()):
        return False
    if key in ("voluntary_support", "voluntary_plain"):
        if attributes.get("outcome") != "departed_voluntarily":
            return False
        supported = attributes.get("departure_kind") == "return_programme"
        return supported == (key == "voluntary_support")
    return True


Cell = tuple[str, str]  # (figure key, column)


def count(rows: Iterable[FactCountRow]) -> tuple[list[str], dict[Cell, int]]:
    """The raw figures: every line for every town of the county (and any other town a case
    names), and the county's total column."""
    rows = list(rows)
    towns = list(COUNTY_TOWNS) + sorted({r.town for r in rows} - set(COUNTY_TOWNS))
    values: dict[Cell, int] = {(f.key, t): 0 for f in FIGURES for t in [*towns, COUNTY]}
    for row in rows:
        for figure, kind, wanted in _LINES:
            if _counts_for(figure.key, kind, wanted, row.kind, row.attributes):
                values[(figure.key, row.town)] += row.facts
                values[(figure.key, COUNTY)] += row.facts
    return [*towns, COUNTY], values


@dataclass(frozen=True)
class Shown:
    value: int
    hidden: str | None  # SMALL, HIDDEN or None (shown)

    @property
    def text(self) -> str:
        return self.hidden or f"{self.value:,}".replace(",", ".")


def suppress(
    values: dict[Cell, int], sums: Sequence[tuple[Cell, Sequence[Cell]]]
) -> dict[Cell, Shown]:
    """Counts 1 to 4 hidden ("< 5"); then, until nothing changes, in every sum that has
    exactly one hidden cell one more is hidden ("x"): the smallest shown part above 0, else
    the total, else a part of 0."""
    small = {cell for cell, value in values.items() if 1 <= value <= 4}
    hidden = set(small)
    changed = True
    while changed:
        changed = False
        for total, parts in sums:
            if sum(cell in hidden for cell in (total, *parts)) != 1:
                continue
            shown = [cell for cell in parts if cell not in hidden]
            nonzero = sorted((c for c in shown if values[c] > 0), key=lambda c: values[c])
            zero = [c for c in shown if values[c] == 0]
            choice = nonzero[:1] or ([total] if total not in hidden else []) or zero[:1]
            if choice:
                hidden.add(choice[0])
                changed = True
    return {
        cell: Shown(value, SMALL if cell in small else HIDDEN if cell in hidden else None)
        for cell, value in values.items()
    }


def sums_of(columns: Sequence[str]) -> list[tuple[Cell, list[Cell]]]:
    towns = [c for c in columns if c != COUNTY]
    across = [((f.key, COUNTY), [(f.key, t) for t in towns]) for f in FIGURES]
    down = [
        ((total, column), [(part, column) for part in parts])
        for column in columns
        for total, parts in PARTS
    ]
    return across + down


def figures_digest(columns: Sequence[str], values: dict[Cell, int]) -> str:
    document = {
        "columns": list(columns),
        "figures": {f.key: [values[(f.key, c)] for c in columns] for f in FIGURES},
    }
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def publish(
    columns: Sequence[str], values: dict[Cell, int], town: str | None
) -> tuple[list[str], list[ReportLine]]:
    """The lines as published: the county's table suppressed, then the town's column (with
    the county's total beside it) when one town is asked for."""
    shown = suppress(values, sums_of(columns))
    wanted = list(columns) if town is None else [town]
    lines = [
        ReportLine(
            key=f.key,
            label=f.label,
            level=f.level,
            shown=[shown[(f.key, c)].text for c in wanted],
            values=[None if shown[(f.key, c)].hidden else shown[(f.key, c)].value for c in wanted],
        )
        for f in FIGURES
    ]
    return wanted, lines


# ------------------------------------------------------------------- files


def german_date(day: date) -> str:
    return day.strftime("%d.%m.%Y")


def report_title(report: CommitteeReport) -> str:
    where = report.town or COUNTY
    return (
        f"Bericht für die Ausschüsse – {where} – "
        f"{german_date(report.period_from)} bis {german_date(report.period_to)}"
    )


def _about(report: CommitteeReport) -> list[tuple[str, str]]:
    made = report.generated_at.astimezone(BERLIN).strftime("%d.%m.%Y %H:%M")
    head = (
        f"Eintrag {report.audit_head_seq}, sha256 {report.audit_head_hash}"
        if report.audit_head_seq is not None
        else "leer"
    )
    return [
        ("Bericht", report.report_id),
        ("Erstellt", made),
        ("Regelwerk", report.rules.label),
        ("Prüfkette (Kopf bei Erstellung)", head),
        ("Eigener Eintrag im Prüfprotokoll", str(report.audit_seq)),
        ("Berücksichtigte Ereignisse bis Nr.", str(report.facts_up_to)),
        ("Prüfsumme der Zahlen", report.figures_digest),
    ]


def report_pdf(report: CommitteeReport) -> bytes:
    """The German PDF (documents/report.py): the table and bar charts."""
    return committee_pdf(report, report_title(report), LEGEND, _about(report))


def report_csv(report: CommitteeReport) -> bytes:
    """CSV as German Excel opens it (service.csv_export)."""
    lines: list[list[object]] = [[report_title(report)]]
    lines += [[key, value] for key, value in _about(report)]
    lines += [[LEGEND], [], ["Kennzahl", *report.columns]]
    for line in report.lines:
        lines.append(["  " * line.level + line.label, *line.shown])
    return german_csv(lines)


def _xlsx_cell(ref: str, value: str | int) -> str:
    if isinstance(value, int):
        return f'<c r="{ref}"><v>{value}</v></c>'
    return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{escape(value)}</t></is></c>'


def _column(index: int) -> str:
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


def report_xlsx(report: CommitteeReport) -> bytes:
    """A workbook of one sheet (Office Open XML, written here: numbers as numbers, the
    suppressed cells as text); the same report gives the same bytes."""
    rows: list[list[str | int]] = [[report_title(report)]]
    rows += [[key, value] for key, value in _about(report)]
    rows += [[LEGEND], [], ["Kennzahl", *report.columns]]
    for line in report.lines:
        cells: list[str | int] = [
            text if value is None else value
            for text, value in zip(line.shown, line.values, strict=True)
        ]
        rows.append(["  " * line.level + line.label, *cells])
    sheet_rows = "".join(
        f'<row r="{r + 1}">'
        + "".join(_xlsx_cell(f"{_column(c)}{r + 1}", v) for c, v in enumerate(row))
        + "</row>"
        for r, row in enumerate(rows)
    )
    ns = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    pkg = "http://schemas.openxmlformats.org/package/2006/relationships"
    ct = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    parts = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{ct}.sheet.main+xml"/>'
            f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{ct}.worksheet+xml"/>'
            "</Types>"
        ),
        "_rels/.rels": (
            f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{pkg}">'
            f'<Relationship Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/>'
            "</Relationships>"
        ),
        "xl/workbook.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><workbook {ns} xmlns:r="{rel}">'
            '<sheets><sheet name="Bericht" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{pkg}">'
            f'<Relationship Id="rId1" Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/>'
            "</Relationships>"
        ),
        "xl/worksheets/sheet1.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><worksheet {ns}>'
            '<cols><col min="1" max="1" width="55" customWidth="1"/></cols>'
            f"<sheetData>{sheet_rows}</sheetData></worksheet>"
        ),
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in parts.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, text.encode("utf-8"))
    return out.getvalue()


# ------------------------------------------------------------------- service


def check_request(first: date, last: date, town: str | None) -> ReportRequest:
    """The period and town, or :class:`Invalid` naming ``to`` or ``town``."""
    if last < first:
        raise Invalid(
            "the period ends before it starts",
            [FieldError(field="to", reason="must not be before from")],
        )
    if town is not None and town.strip():
        try:
            town = known_town(town)
        except ValueError as error:
            raise Invalid.field("town", str(error)) from None
    else:
        town = None
    return ReportRequest(period_from=first, period_to=last, town=town)


class ReportService:
    def __init__(self, pool: asyncpg.Pool, rules: RuleService) -> None:
        self._pool = pool
        self._rules = rules

    async def _figures(
        self, request: ReportRequest, up_to: int | None
    ) -> tuple[int, list[str], dict[Cell, int]]:
        async with self._pool.acquire() as con, con.transaction():
            if up_to is None:
                up_to = await store.last_fact(con)
            rows = await store.fact_counts(con, request.period_from, request.period_to, up_to)
        columns, values = count(rows)
        return up_to, columns, values

    async def generate(self, request: ReportRequest, by: Account | str) -> CommitteeReport:
        """Count, suppress, store and log one report (every generation is an audit entry);
        ``by``: the account, or the name of a program (the CLI)."""
        up_to, columns, values = await self._figures(request, None)
        rules = await self._rules.in_force_during(request.period_from, request.period_to)
        digest = figures_digest(columns, values)
        shown_columns, lines = publish(columns, values, request.town)
        report_id = str(uuid.uuid4())
        detail: dict[str, DetailValue] = {
            "report_id": report_id,
            "period_from": request.period_from.isoformat(),
            "period_to": request.period_to.isoformat(),
            "town": request.town,
            "facts_up_to": up_to,
            "figures_digest": digest,
            "rules_digest": rules.digest,
        }
        draft = (
            by_system(by, AuditAction.COMMITTEE_REPORT, detail=detail)
            if isinstance(by, str)
            else AuditDraft.by(by, AuditAction.COMMITTEE_REPORT, detail=detail)
        )
        async with self._pool.acquire() as con, con.transaction():
            seq = await audit_store.append(con, draft)
            head = await store.audit_head(con, seq)
            [entry] = await audit_store.entries(con, after_seq=seq - 1, limit=1)
            report = CommitteeReport(
                report_id=report_id,
                period_from=request.period_from,
                period_to=request.period_to,
                town=request.town,
                generated_at=entry.at,
                rules=rules,
                audit_head_seq=head[0] if head else None,
                audit_head_hash=head[1].hex() if head else None,
                audit_seq=seq,
                facts_up_to=up_to,
                figures_digest=digest,
                columns=shown_columns,
                lines=lines,
            )
            await store.insert_report(
                con,
                StoredReportRow(
                    report_id=report_id,
                    period_from=request.period_from,
                    period_to=request.period_to,
                    town=request.town,
                    generated_at=entry.at,
                    generated_by=draft.actor,
                    facts_up_to=up_to,
                    rules_label=rules.label,
                    rules_digest=rules.digest,
                    figures_digest=digest,
                    published=report.model_dump(mode="json"),
                    audit_seq=seq,
                    audit_head_seq=head[0] if head else None,
                    audit_head_hash=head[1] if head else None,
                ),
            )
        return report

    async def stored(self, report_id: str) -> CommitteeReport:
        """A stored report as it was published."""
        async with self._pool.acquire() as con:
            row = await store.get_report(con, _report_id(report_id))
        if row is None:
            raise NotFound("unknown report")
        return CommitteeReport.model_validate(row.published)

    async def verify(self, report_id: str) -> ReportVerification:
        """Made again from the facts it counted: the same figures and the same published
        table; its entry in the audit log says the same; the chain is intact."""
        async with self._pool.acquire() as con:
            row = await store.get_report(con, _report_id(report_id))
            if row is None:
                raise NotFound("unknown report")
            chain = await audit_store.verify(con)
            entries = await audit_store.entries(con, after_seq=row.audit_seq - 1, limit=1)
            head = await store.audit_head(con, row.audit_seq)
        problems: list[str] = []
        request = ReportRequest(period_from=row.period_from, period_to=row.period_to, town=row.town)
        _, columns, values = await self._figures(request, row.facts_up_to)
        digest = figures_digest(columns, values)
        if digest != row.figures_digest:
            problems.append("the figures counted again differ from the stored digest")
        shown_columns, lines = publish(columns, values, row.town)
        published = CommitteeReport.model_validate(row.published)
        if published.lines != lines or published.columns != shown_columns:
            problems.append("the stored table differs from the figures counted again")
        if published.figures_digest != row.figures_digest:
            problems.append("the stored table names another digest")
        if not chain.ok:
            problems.append(f"the audit chain is broken at entry {chain.broken_seq}")
        for named in published.rules.versions:
            try:
                version = await self._rules.version(named.version)
            except NotFound:
                version = None
            if version is None or version.content_digest != named.content_digest:
                problems.append(f"rule-set version {named.version} says otherwise now")
        entry = entries[0] if entries and entries[0].seq == row.audit_seq else None
        if entry is None or entry.action != AuditAction.COMMITTEE_REPORT.value:
            problems.append("the report's audit entry is missing")
        else:
            expected = {
                "report_id": row.report_id,
                "facts_up_to": row.facts_up_to,
                "figures_digest": row.figures_digest,
                "rules_digest": row.rules_digest,
                "period_from": row.period_from.isoformat(),
                "period_to": row.period_to.isoformat(),
                "town": row.town,
            }
            if any(entry.detail.get(k) != v for k, v in expected.items()):
                problems.append("the audit entry says otherwise than the stored report")
        stored_head = (
            None if row.audit_head_seq is None else (row.audit_head_seq, row.audit_head_hash)
        )
        if head != stored_head:
            problems.append("the stored head of the audit chain is not in the chain")
        return ReportVerification(report_id=row.report_id, ok=not problems, problems=problems)


def _report_id(raw: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise NotFound("unknown report") from None
