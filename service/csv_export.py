"""CSV as German offices open it, for every export the service makes.

German Excel reads a CSV file with the system's list separator, which is ``;`` (the comma is
the decimal mark), and takes a file without a byte order mark for Windows-1252, so umlauts
break. So: ``;`` between cells, CRLF, UTF-8 with BOM, quotes where a cell holds ``;``, a quote
or a line break. A cell that starts like a formula (``=``, ``+``, ``-``, ``@``, tab, CR) gets
a leading apostrophe, so a spreadsheet shows it as text instead of running it (CSV injection).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

BOM = "\ufeff"
MEDIA_TYPE = "text/csv; charset=utf-8"
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> str:
    """One cell's text: nothing for None, lists joined by ", ", formulas defused."""
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        text = ", ".join(str(item) for item in value)
    else:
        text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def german_csv(rows: Iterable[Sequence[object]]) -> bytes:
    """The rows as one CSV file (BOM first)."""
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    for row in rows:
        writer.writerow([cell(value) for value in row])
    return out.getvalue().encode("utf-8")
