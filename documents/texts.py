"""Text templates: JSON files under ``documents/texts/<kind>/<language>.json``.

Texts are data, not code, so that translators and the ABH can change them without a release of
the renderer and so that every change is visible as a new version. The version is derived from
the file's content (sha256 of its canonical JSON), so it cannot be forgotten: any edit of a text,
of its review status or of its reviewer makes a new version, and a case that recorded the old
version still names exactly what the person received.

A file looks like::

    {"language": "ar",
     "review": {"status": "drafted", "note": "..."},
     "texts": {"title": "...", "intro": "... {date} ..."}}

``texts/common/<language>.json`` holds what every document shares (markers, labels).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from schemas.documents import DocumentKind, TranslationReview

TEXTS_DIR = Path(__file__).resolve().parent / "texts"
COMMON = "common"
SOURCE_LANGUAGE = "de"
FALLBACK_LANGUAGE = "en"

# The first set of languages (DOMAIN.md); the renderer accepts any code and falls back.
LANGUAGES: tuple[str, ...] = ("de", "en", "ar", "fa", "ku", "tr", "ru", "uk", "fr", "sq")
RTL_LANGUAGES: frozenset[str] = frozenset({"ar", "fa"})


class TemplateError(ValueError):
    """A template file is malformed (wrong language, missing fields)."""


@dataclass(frozen=True)
class TemplateFile:
    path: Path
    language: str
    review: TranslationReview
    texts: dict[str, str]
    version: str


@dataclass(frozen=True)
class Template:
    """The texts of one document kind in one language: common texts plus the kind's own."""

    kind: DocumentKind
    language: str
    texts: dict[str, str]
    review: TranslationReview
    version: str

    def text(self, key: str, **values: str) -> str:
        return self.texts[key].format(**values) if values else self.texts[key]


def content_version(raw: object) -> str:
    """The version of a template: the first 12 hex digits of its canonical JSON's sha256."""
    canonical = json.dumps(raw, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]


def parse_template_file(path: Path, raw: object) -> TemplateFile:
    if not isinstance(raw, dict) or set(raw) != {"language", "review", "texts"}:
        raise TemplateError(f"{path}: expected exactly language, review, texts")
    language = raw["language"]
    if language != path.stem:
        raise TemplateError(f"{path}: language {language!r} does not match the file name")
    texts = raw["texts"]
    if not isinstance(texts, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in texts.items()
    ):
        raise TemplateError(f"{path}: texts must map keys to non-empty strings")
    review = TranslationReview.model_validate(raw["review"])
    return TemplateFile(path, language, review, dict(texts), content_version(raw))


@cache
def load_file(folder: str, language: str, texts_dir: Path = TEXTS_DIR) -> TemplateFile | None:
    path = texts_dir / folder / f"{language}.json"
    if not path.is_file():
        return None
    return parse_template_file(path, json.loads(path.read_text(encoding="utf-8")))


def load_template(
    kind: DocumentKind, language: str, texts_dir: Path = TEXTS_DIR
) -> Template | None:
    """The complete template, or None when any text of the German source is missing.

    Incomplete translations are refused whole: a document that switches language in the middle
    would be a silent wrong language for the part the person cannot read.
    """
    common = load_file(COMMON, language, texts_dir)
    own = load_file(kind.value, language, texts_dir)
    if common is None or own is None:
        return None
    texts = {**common.texts, **own.texts}
    if language != SOURCE_LANGUAGE:
        source = load_template(kind, SOURCE_LANGUAGE, texts_dir)
        if source is None or not set(source.texts) <= set(texts):
            return None
    # The weaker review status of the two files is the status of the document's texts.
    review = own.review if own.review.status == "drafted" else common.review
    return Template(kind, language, texts, review, f"{common.version}.{own.version}")


@dataclass(frozen=True)
class TemplateStatus:
    """One document in one language as an admin sees it: usable, reviewed, which version."""

    kind: DocumentKind
    language: str
    complete: bool  # False: the language falls back to German and English
    review: TranslationReview | None
    version: str | None


def template_overview(texts_dir: Path = TEXTS_DIR) -> list[TemplateStatus]:
    """Every document kind in every language of the first set, German first."""
    found = []
    for kind in DocumentKind:
        for language in LANGUAGES:
            template = load_template(kind, language, texts_dir)
            own = load_file(kind.value, language, texts_dir)
            review = template.review if template else own.review if own else None
            found.append(
                TemplateStatus(
                    kind=kind,
                    language=language,
                    complete=template is not None,
                    review=review,
                    version=template.version if template else None,
                )
            )
    return found
