"""What a downloaded or mailed PDF is called: one rule for the API, the pages and the mail.

``Gespraechsprotokoll-ABH-2026-0001-de-ar.pdf``, ``Faltblatt-Froendenberg-Ruhr-de-uk.pdf``: the
kind in German, the case id or the town, and the languages of the columns, so a saved file says
what it is. Case ids carry no personal data (they are the only key of a case), towns neither.
Only ASCII letters, digits and hyphens, so every browser, mail client and file system keeps it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from schemas.documents import DocumentKind
from schemas.flyers import IssuedFlyer

_TITLES: dict[DocumentKind, str] = {
    DocumentKind.GESPRAECHSPROTOKOLL: "Gespraechsprotokoll",
    DocumentKind.AUSREISEINFORMATION: "Ausreiseinformation",
    DocumentKind.EINWILLIGUNG: "Einwilligung",
    DocumentKind.FLYER: "Faltblatt",
}
_UMLAUTS = str.maketrans(
    {"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss"}
)


def _part(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", value.translate(_UMLAUTS)).strip("-")


def pdf_file_name(kind: DocumentKind, subject: str, languages: Sequence[str]) -> str:
    """``<Kind>-<case id or town>-<languages>.pdf``; a part with nothing left is left out."""
    parts = [_TITLES[kind], _part(subject), *(_part(language) for language in languages)]
    return "-".join(part for part in parts if part) + ".pdf"


def flyer_file_name(flyer: IssuedFlyer) -> str:
    """A flyer version's file: ``Faltblatt-<town>-de-<language>.pdf``."""
    return pdf_file_name(DocumentKind.FLYER, flyer.town, flyer.languages)


class PdfFile(BaseModel):
    """A PDF to hand out, and the name it is saved under."""

    model_config = ConfigDict(frozen=True)

    file_name: str
    pdf: bytes = Field(repr=False)
