"""``/api/v1/reports/committee``: the county's report to its committees (admin, reporting)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.deps import Reports, ReportWriter
from schemas.report import CommitteeReport, ReportFormat
from service.report import check_request, report_csv, report_pdf, report_xlsx

router = APIRouter(prefix="/reports", tags=["reports"])

_MEDIA = {
    ReportFormat.CSV: ("text/csv; charset=utf-8", "csv"),
    ReportFormat.XLSX: (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "xlsx",
    ),
    ReportFormat.PDF: ("application/pdf", "pdf"),
}


@router.get(
    "/committee",
    summary="The report to the committees (Bericht für die Ausschüsse)",
    response_model=CommitteeReport,
    responses={
        200: {
            "content": {"text/csv": {}, "application/pdf": {}, _MEDIA[ReportFormat.XLSX][0]: {}},
            "description": "JSON, or CSV, XLSX or PDF with format",
        }
    },
)
async def committee(
    reader: ReportWriter,
    reports: Reports,
    first: Annotated[date, Query(alias="from", description="First day, Europe/Berlin.")],
    last: Annotated[date, Query(alias="to", description="Last day (inclusive), Europe/Berlin.")],
    town: Annotated[str | None, Query(max_length=60, description="One town; none: all.")] = None,
    output: Annotated[ReportFormat, Query(alias="format")] = ReportFormat.JSON,
) -> CommitteeReport | Response:
    """Made from the anonymous figures (erased cases count), small numbers suppressed
    ("< 5", and "x" where a sum would reveal one), stored and logged in the audit log with
    the rules in force and the audit chain's head: ``python -m commands.report verify``
    checks it later. 422 names ``from``, ``to`` or ``town``."""
    report = await reports.generate(check_request(first, last, town), reader)
    if output is ReportFormat.JSON:
        return report
    media, suffix = _MEDIA[output]
    content = {
        ReportFormat.CSV: report_csv,
        ReportFormat.XLSX: report_xlsx,
        ReportFormat.PDF: report_pdf,
    }[output](report)
    name = f"bericht_{first.isoformat()}_{last.isoformat()}.{suffix}"
    return Response(
        content, media_type=media, headers={"content-disposition": f'attachment; filename="{name}"'}
    )
