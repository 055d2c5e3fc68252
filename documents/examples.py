"""``python -m documents.examples``: the example renderings in ``docs/`` (PDF page 1 as PNG).

    python -m documents.examples                 # docs/<kind>-de-<language>.png, one per kind
    python -m documents.examples --all /tmp/look # every page of every kind in every language

The offers are made up and marked as examples (``example=True``), so the flyer says so on its
face; the real offers come from the partner directory.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import pypdfium2

from documents.render import render
from documents.texts import LANGUAGES
from schemas.conversation import Interpreter, InterpreterMode, Participant
from schemas.documents import (
    ConsentContext,
    Consequence,
    ConversationRecordContext,
    DepartureLetterContext,
    DocumentContext,
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
        language="ar",
        interpreter=Interpreter(language="ar", mode=InterpreterMode.PRESENT),
        participants=[Participant.PERSON, Participant.SUPPORTER],
    )


SAMPLE_CONVERSATION = _sample_conversation()

SAMPLE_FLYER = FlyerContext(town="Unna", as_of=dt.date(2026, 11, 1), offers=SAMPLE_OFFERS)

SAMPLE_LETTER = DepartureLetterContext(
    letter_date=dt.date(2026, 11, 20),
    file_reference="ABH-2026-0001",
    departure_deadline=dt.date(2026, 12, 20),
    authority_contact="Ausländerbehörde Kreis Unna, Telefon 02303 27-0",
)

SAMPLE_CONSENT = ConsentContext(
    person_name="Max Mustermann",
    file_reference="ABH-2026-0001",
    partner_name="Beispielverein e. V.",
    town="Kamen",
    withdrawal_contact="Kreis Unna, Ausländerbehörde, Friedrich-Ebert-Straße 17, 59425 Unna",
)

SAMPLES: dict[DocumentKind, DocumentContext] = {
    DocumentKind.GESPRAECHSPROTOKOLL: SAMPLE_CONVERSATION,
    DocumentKind.AUSREISEINFORMATION: SAMPLE_LETTER,
    DocumentKind.EINWILLIGUNG: SAMPLE_CONSENT,
    DocumentKind.FLYER: SAMPLE_FLYER,
}

# The examples in docs/: each kind once, beside a language of each script and direction.
DOCS_EXAMPLES: dict[DocumentKind, str] = {
    DocumentKind.GESPRAECHSPROTOKOLL: "ar",
    DocumentKind.AUSREISEINFORMATION: "ru",
    DocumentKind.EINWILLIGUNG: "fa",
    DocumentKind.FLYER: "uk",
}


def page_png(document: RenderedDocument, path: Path, page: int = 0, scale: float = 1.4) -> None:
    pdf = pypdfium2.PdfDocument(document.pdf)
    try:
        pdf[page].render(scale=scale).to_pil().save(path)
    finally:
        pdf.close()


def page_count(document: RenderedDocument) -> int:
    pdf = pypdfium2.PdfDocument(document.pdf)
    try:
        return len(pdf)
    finally:
        pdf.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m documents.examples", description=__doc__)
    parser.add_argument("--all", type=Path, metavar="FOLDER", help="every kind and language")
    args = parser.parse_args()
    if args.all is not None:
        args.all.mkdir(parents=True, exist_ok=True)
        for kind, context in SAMPLES.items():
            for language in LANGUAGES:
                document = render(kind, language, context)
                for page in range(page_count(document)):
                    name = f"{kind.value}-{'-'.join(document.languages)}-{page + 1}.png"
                    page_png(document, args.all / name, page)
        print(f"{args.all}: {len(SAMPLES) * len(LANGUAGES)} documents")
        return
    for kind, language in DOCS_EXAMPLES.items():
        document = render(kind, language, SAMPLES[kind])
        name = f"{kind.value}-de-{language}.png"
        page_png(document, DOCS / name)
        print(f"docs/{name}  {document.template_version}  {[f.value for f in document.flags]}")


if __name__ == "__main__":
    main()
