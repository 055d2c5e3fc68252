"""What one document costs to render, per kind and language (no database, no Temporal).

    .venv/bin/python -m bench.documents            # --repeat 5 --languages de uk ar

Renders each document kind (the sample contexts of documents.examples and tests) in each
language in this process, after one warm-up rendering (fonts written, caches filled), and
prints the best of ``--repeat`` wall-clock times in milliseconds, with the page count. The case
workflow renders three documents per case (record, departure letter, consent).
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

import pypdfium2

from documents.examples import SAMPLE_CONVERSATION, SAMPLE_FLYER
from documents.render import render
from schemas.documents import (
    ConsentContext,
    DepartureLetterContext,
    DocumentContext,
    DocumentKind,
)

CONTEXTS: dict[DocumentKind, DocumentContext] = {
    DocumentKind.GESPRAECHSPROTOKOLL: SAMPLE_CONVERSATION,
    DocumentKind.AUSREISEINFORMATION: DepartureLetterContext(
        letter_date=dt.date(2026, 11, 20),
        file_reference="ABH-2026-0001",
        departure_deadline=dt.date(2026, 12, 20),
        authority_contact="Ausländerbehörde Kreis Unna, Telefon 02303 27-0",
    ),
    DocumentKind.EINWILLIGUNG: ConsentContext(
        person_name="Max Mustermann",
        file_reference="ABH-2026-0001",
        partner_name="Beispielverein e. V.",
        town="Kamen",
        withdrawal_contact="Kreis Unna, Ausländerbehörde, Friedrich-Ebert-Straße 17, 59425 Unna",
    ),
    DocumentKind.FLYER: SAMPLE_FLYER,
}


def best_of(kind: DocumentKind, language: str, repeat: int) -> tuple[float, int]:
    """Milliseconds of the fastest of ``repeat`` renderings, and the document's page count."""
    document = render(kind, language, CONTEXTS[kind])
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        render(kind, language, CONTEXTS[kind])
        best = min(best, time.perf_counter() - started)
    pdf = pypdfium2.PdfDocument(document.pdf)
    try:
        pages = len(pdf)
    finally:
        pdf.close()
    return best * 1000, pages


def bench(repeat: int, languages: list[str]) -> int:
    render(DocumentKind.FLYER, "de", SAMPLE_FLYER)  # warm-up: fonts written once per process
    print(f"{'kind':<22}" + "".join(f"{lang:>14}" for lang in languages))
    for kind in DocumentKind:
        cells = []
        for language in languages:
            ms, pages = best_of(kind, language, repeat)
            cells.append(f"{ms:8.1f} ms/{pages}p")
        print(f"{kind.value:<22}" + "".join(f"{c:>14}" for c in cells))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.documents", description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--languages", nargs="+", default=["de", "uk", "ar"])
    args = parser.parse_args()
    return bench(args.repeat, args.languages)


if __name__ == "__main__":
    raise SystemExit(main())
