"""The committee report as a German PDF (landscape A4): what it rests on, the table, and
bar charts of the outcomes and of the conversations per town. Suppressed values are drawn
as no bar: a chart shows nothing the table hides."""

from __future__ import annotations

import json

from documents.typeset import _COMPILING, _string, compiler
from schemas.report import OUTCOME_LINES, CommitteeReport


def committee_pdf(
    report: CommitteeReport, title: str, legend: str, about: list[tuple[str, str]]
) -> bytes:
    lines = {line.key: line for line in report.lines}
    last = len(report.columns) - 1  # the county's total, or the one town
    outcome_bars = [
        {
            "label": lines[key].label,
            "value": lines[key].values[last] or 0,
            "shown": lines[key].shown[last],
        }
        for key in OUTCOME_LINES
    ]
    charts = [{"title": f"Abschlüsse – {report.columns[last]}", "bars": outcome_bars}]
    if len(report.columns) > 1:
        conversations = lines["conversations"]
        charts.append(
            {
                "title": "Informationsgespräche je Stadt",
                "bars": [
                    {"label": column, "value": value or 0, "shown": shown}
                    for column, value, shown in zip(
                        report.columns[:-1],
                        conversations.values[:-1],
                        conversations.shown[:-1],
                        strict=True,
                    )
                ],
            }
        )
    document = {
        "title": title,
        "date": report.generated_at.date().isoformat(),
        "about": about,
        "legend": legend,
        "columns": report.columns,
        "lines": [
            {"label": line.label, "level": line.level, "shown": line.shown} for line in report.lines
        ],
        "charts": charts,
    }
    data = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    main = f'#import "bericht.typ": layout\n#layout(json(bytes({_string(data)})))\n'
    with _COMPILING:
        pdf = compiler().compile(input=main.encode())
    if not isinstance(pdf, bytes):
        raise TypeError("Typst returned no single PDF")
    return pdf
