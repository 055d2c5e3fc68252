"""The texts the documents are made of, as the pages need them: the admins' overview of every
document in every language, and the German names of a residence route's prerequisites."""

from __future__ import annotations

from documents.texts import SOURCE_LANGUAGE, TemplateStatus, load_template
from documents.texts import template_overview as _template_overview
from schemas.documents import DocumentKind


def template_overview() -> list[TemplateStatus]:
    """Every document kind in every language of the first set, German first."""
    return _template_overview()


def prerequisite(code: str) -> str:
    """A prerequisite's German name, from the person's copy of the record (one wording)."""
    template = load_template(DocumentKind.GESPRAECHSPROTOKOLL, SOURCE_LANGUAGE)
    return template.texts.get(f"prereq.{code}", code) if template else code
