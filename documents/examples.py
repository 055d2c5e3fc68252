"""``python -m documents.examples``: the example renderings in ``docs/`` (PDF page 1 as PNG).

The offers are made up and marked as examples (``example=True``), so the flyer says so on its
face; the real offers come from the partner directory.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pypdfium2

from documents.render import render
from schemas.documents import (
    Consequence,
    ConversationRecordContext,
    DocumentKind,
    FlyerContext,
    OfferCategory,
    RenderedDocument,
    RouteDiscussed,
    SupportOffer,
)
from schemas.residence_routes import load_residence_routes
from schemas.routes import Prerequisite, Route

DOCS = Path(__file__).resolve().parent.parent / "docs"

SAMPLE_OFFERS = [
    SupportOffer(
        name="Beispiel: Migrationsberatung für Erwachsene",
        category=OfferCategory.MIGRATION_COUNSELLING,
        town="Unna",
        address="Musterstraße 1",
        hours="Mo–Do 9:00–12:00",
        contact="02303 000000",
        example=True,
    ),
    SupportOffer(
        name="Beispiel: Wohlfahrtsverband, Beratungsstelle",
        category=OfferCategory.WELFARE_ASSOCIATION,
        town="Unna",
        address="Beispielweg 2",
        hours="Di 14:00–17:00",
        example=True,
    ),
    SupportOffer(
        name="Beispiel: Ehrenamtliche Flüchtlingshilfe",
        category=OfferCategory.VOLUNTEER_GROUP,
        town="Unna",
        address="Gemeindehaus, Musterplatz 3",
        hours="Mi 16:00–18:00",
        example=True,
    ),
    SupportOffer(
        name="Beispiel: Sprachcafé",
        category=OfferCategory.LANGUAGE_COURSE,
        town="Unna",
        address="Stadtbücherei, Musterstraße 4",
        hours="Fr 10:00–12:00",
        example=True,
    ),
    SupportOffer(
        name="Beispiel: Rückkehrberatung",
        category=OfferCategory.RETURN_COUNSELLING,
        town="Unna",
        address="Musterallee 5",
        hours="nach Vereinbarung",
        contact="rueckkehr@example.org",
        example=True,
    ),
]


def _sample_conversation() -> ConversationRecordContext:
    """The record as the case workflow makes it: each route with what the rules in force ask
    (from the dated rules) and what the caseworker ticked as lacking."""
    day = dt.date(2026, 11, 20)
    rules = load_residence_routes()
    lacking = {
        Route.P25B: [Prerequisite.YEARS_OF_RESIDENCE, Prerequisite.LIVELIHOOD],
        Route.P60D: [Prerequisite.IDENTITY_CLARIFIED, Prerequisite.EMPLOYMENT],
    }
    routes, versions = [], []
    for route, missing in lacking.items():
        version = rules.of(route, day)
        assert version is not None
        routes.append(RouteDiscussed(route=route, required=version.codes(), missing=missing))
        versions.append(version.version_id)
    return ConversationRecordContext(
        conversation_date=day,
        file_reference="ABH-2026-0001 (Beispiel)",
        rule_version=", ".join(versions),
        routes=routes,
        consequences=list(Consequence),
        offers=SAMPLE_OFFERS[:2],
    )


SAMPLE_CONVERSATION = _sample_conversation()

SAMPLE_FLYER = FlyerContext(town="Unna", as_of=dt.date(2026, 11, 1), offers=SAMPLE_OFFERS)


def first_page_png(document: RenderedDocument, path: Path, scale: float = 1.4) -> None:
    pdf = pypdfium2.PdfDocument(document.pdf)
    try:
        pdf[0].render(scale=scale).to_pil().save(path)
    finally:
        pdf.close()


def main() -> None:
    DOCS.mkdir(exist_ok=True)
    record = render(DocumentKind.GESPRAECHSPROTOKOLL, "ar", SAMPLE_CONVERSATION)
    flyer = render(DocumentKind.FLYER, "uk", SAMPLE_FLYER)
    for document, name in ((record, "gespraechsprotokoll-de-ar"), (flyer, "flyer-de-uk")):
        first_page_png(document, DOCS / f"{name}.png")
        print(f"docs/{name}.png  {document.template_version}  {[f.value for f in document.flags]}")


if __name__ == "__main__":
    main()
