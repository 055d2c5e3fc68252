"""Typesetting: the rows of a document, laid out by Typst from ``documents/layouts/<kind>.typ``.

The layouts are Typst source files (one per kind, sharing ``layouts/common.typ``); the rows come
as JSON data, so no text ever becomes Typst markup. Typst shapes Arabic and Farsi (HarfBuzz's
rules, ported to Rust) and orders right-to-left text by the Unicode bidi algorithm.

The data is a string literal in a two-line main source that imports the kind's layout, not
``sys.inputs``: new inputs make Typst rebuild its standard library, and with it forget
everything it remembered of earlier compilations (the layouts' code, paragraphs laid out
before), which cost a third of every document's time.

Fonts come from PyPI packages (SIL OFL 1.1), handed to the compiler as the only fonts it knows:
no system fonts, none of Typst's own, and no network (the layouts import no package), so a fresh
machine renders the same document. Noto Sans sets Latin and Cyrillic; Arabic script is set in IBM
Plex Sans Arabic, whose dotted letters are whole glyphs. Noto Sans Arabic draws the dots as
marks placed by the font, and Typst writes every placed mark as a text object of its own: viewers
and text extraction then see the letters of a word scattered and out of order.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Literal

import typst

from documents.texts import RTL_LANGUAGES
from schemas.documents import DocumentKind

Style = Literal["title", "heading", "text", "bullet", "notice", "small", "signature"]
# How a row is drawn beyond its style: the authority line closes the document's head, an offer
# of the directory is drawn as one entry. Layout only: not part of the text or its hash.
Role = Literal["authority", "offer"]

LAYOUTS = Path(__file__).resolve().parent / "layouts"
FONT_FOLDERS: tuple[Path, ...] = (
    Path(str(files("fontpkg_noto_sans") / "files")),
    Path(str(files("fontpkg_ibm_plex_sans_arabic") / "files")),
)
AUTHOR = "Kreis Unna – Ausländerbehörde"


@dataclass(frozen=True)
class Row:
    style: Style
    cells: tuple[str, ...]  # one per column, in column order
    role: Role | None = None


class LayoutWarning(RuntimeError):
    """Typst warned while laying out a document: a layout file needs fixing, not the data."""


class RowTooHigh(ValueError):
    """A row (a sentence and its translation, kept on one page) is higher than a page."""


@cache
def compiler() -> typst.Compiler:
    """The process's one compiler, with its fonts loaded: made on first use, then reused (Typst
    keeps parsed fonts and layouts between compilations; a new compiler costs twice the time)."""
    fonts = typst.Fonts(
        include_system_fonts=False,
        include_embedded_fonts=False,
        font_paths=[str(folder) for folder in FONT_FOLDERS],
    )
    return typst.Compiler(root=str(LAYOUTS), font_paths=fonts, ignore_system_fonts=True)


def warm_up() -> None:
    """Make the compiler and have it read both fonts, so that the first document a renderer
    process sets does not wait for that (about 40 ms)."""
    with _COMPILING:
        compiler().compile(
            input='#text(font: ("Noto Sans", "IBM Plex Sans Arabic"))[Aa ا]'.encode()
        )


# A compilation replaces the compiler's main source: one at a time per process.
_COMPILING = threading.Lock()
_CONTROL = re.compile(r"[\x00-\x1f]")


def _string(text: str) -> str:
    """``text`` as a Typst string literal: only a backslash, a quote or a control character
    could end it or change it, and each is escaped."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + _CONTROL.sub(lambda m: f"\\u{{{ord(m.group()):x}}}", escaped) + '"'


def typeset(
    kind: DocumentKind,
    title: str,
    languages: list[str],
    rows: list[Row],
    footer: str,
    date: dt.date | None,
) -> bytes:
    """The PDF of ``rows``, one column per language, laid out by the kind's layout.

    ``date`` is the document's own date (or none): it is the PDF's creation date, so that the
    same input gives the same bytes.
    """
    document = {
        "title": title,
        "author": AUTHOR,
        "date": date.isoformat() if date else None,
        "footer": footer,
        "columns": [{"lang": lang, "rtl": lang in RTL_LANGUAGES} for lang in languages],
        "rows": [{"style": r.style, "role": r.role, "cells": list(r.cells)} for r in rows],
    }
    data = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    layout = f"{kind.value}.typ"
    main = f'#import "{layout}": layout\n#layout(json(bytes({_string(data)})))\n'
    with _COMPILING:
        try:
            pdf, warnings = compiler().compile_with_warnings(input=main.encode())
        except typst.TypstError as error:
            if "too high for a page" in error.message:
                raise RowTooHigh(error.message.removeprefix("panicked with: ")) from None
            raise
    if warnings:
        raise LayoutWarning(f"{layout}: {warnings[0].message}")
    if not isinstance(pdf, bytes):
        raise TypeError("Typst returned no single PDF")
    return pdf
