"""``/admin/bericht``: the report to the committees, for admins and the reporting role."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from schemas.accounts import Account, Role
from schemas.offers import COUNTY_TOWNS
from schemas.report import CommitteeReport, ReportFormat
from service.errors import Invalid, NotFound
from service.report import (
    LEGEND,
    ReportService,
    check_request,
    report_csv,
    report_pdf,
    report_title,
    report_xlsx,
)
from web.common import PageRefused, logged_in, redirect, render

router = APIRouter(include_in_schema=False)

_FILES = {
    "pdf": ("application/pdf", report_pdf),
    "csv": ("text/csv; charset=utf-8", report_csv),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", report_xlsx),
}


def _reports(request: Request) -> ReportService:
    service: ReportService = request.app.state.reports
    return service


def _page(
    request: Request,
    account: Account,
    report: CommitteeReport | None = None,
    error: str | None = None,
    values: dict[str, Any] | None = None,
) -> Response:
    return render(
        request,
        "admin_bericht.html",
        account,
        status_code=422 if error else 200,
        report=report,
        title=report_title(report) if report else "",
        legend=LEGEND,
        towns=COUNTY_TOWNS,
        error=error,
        values=values or {"von": "", "bis": "", "stadt": ""},
    )


@router.get("/admin/bericht")
async def report_page(request: Request) -> Response:
    account = await logged_in(request, Role.ADMIN, Role.REPORTING)
    return _page(request, account)


@router.post("/admin/bericht")
async def make_report(request: Request) -> Response:
    account = await logged_in(request, Role.ADMIN, Role.REPORTING)
    form = await request.form()
    values = {key: str(form.get(key, "")) for key in ("von", "bis", "stadt")}
    try:
        first, last = date.fromisoformat(values["von"]), date.fromisoformat(values["bis"])
    except ValueError:
        return _page(request, account, error="Bitte zwei Tage angeben.", values=values)
    try:
        wanted = check_request(first, last, values["stadt"] or None)
    except Invalid:
        return _page(request, account, error="Der Zeitraum endet vor seinem Beginn.", values=values)
    report = await _reports(request).generate(wanted, account)
    return redirect(f"/admin/bericht/{report.report_id}")


async def _stored(request: Request, report_id: str) -> CommitteeReport:
    try:
        return await _reports(request).stored(report_id)
    except NotFound:
        raise PageRefused(404, "Diesen Bericht gibt es nicht.") from None


@router.get("/admin/bericht/{report_id}")
async def stored_report(request: Request, report_id: str) -> Response:
    account = await logged_in(request, Role.ADMIN, Role.REPORTING)
    report = await _stored(request, report_id)
    values = {
        "von": report.period_from.isoformat(),
        "bis": report.period_to.isoformat(),
        "stadt": report.town or "",
    }
    return _page(request, account, report=report, values=values)


@router.get("/admin/bericht/{report_id}/datei")
async def report_file(request: Request, report_id: str, format: str = "pdf") -> Response:
    await logged_in(request, Role.ADMIN, Role.REPORTING)
    if format not in _FILES or format == ReportFormat.JSON:
        raise PageRefused(404, "Dieses Format gibt es nicht.")
    report = await _stored(request, report_id)
    media, make = _FILES[format]
    name = f"bericht_{report.period_from.isoformat()}_{report.period_to.isoformat()}.{format}"
    return Response(
        make(report),
        media_type=media,
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )
