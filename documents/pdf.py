"""PDF layout: rows of text, one column per language, German on the left.

Side by side rather than in sequence so that staff and the person point at the same line while
talking. Fonts come from PyPI packages (Noto Sans, Noto Sans Arabic, OFL-1.1) so that a fresh
machine renders the same document; text shaping (HarfBuzz via uharfbuzz) joins Arabic letters
and orders right-to-left runs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import tempfile
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Literal

from fontTools.ttLib import TTFont
from fpdf import FPDF
from fpdf.fonts import FontFace

from documents.texts import RTL_LANGUAGES

Style = Literal["title", "heading", "text", "bullet", "notice", "small", "signature"]

# The variable fonts' default instance is the regular weight; instancing other weights with
# fontTools costs seconds per document, so emphasis is size and colour, not bold.
SANS = "notosans"
ARABIC = "notosansarabic"
FONT_SOURCES: dict[str, Path] = {
    SANS: Path(str(files("fontpkg_noto_sans") / "files" / "NotoSans[wdth,wght].ttf")),
    ARABIC: Path(
        str(files("fontpkg_noto_sans_arabic") / "files" / "NotoSansArabic[wdth,wght].ttf")
    ),
}
_VARIATION_TABLES = ("fvar", "gvar", "avar", "cvar", "HVAR", "MVAR", "STAT")


@cache
def _static_fonts() -> dict[str, Path]:
    """The fonts without their variation tables, written once per process to a temporary folder.

    The default outlines (regular weight) stay; the variation data would otherwise be subset into
    every PDF (three times its size) and slow the subsetting down.
    """
    folder = Path(_TEMPORARY.name)
    result: dict[str, Path] = {}
    for family, source in FONT_SOURCES.items():
        font = TTFont(source)
        for tag in _VARIATION_TABLES:
            if tag in font:
                del font[tag]
        target = folder / f"{family}.ttf"
        font.save(target)
        result[family] = target
    return result


_TEMPORARY = tempfile.TemporaryDirectory(prefix="documents-fonts-")

# An invisible, joining-transparent character (WORD JOINER) for glyphs that HarfBuzz split off a
# letter (Arabic dots, marks): without a ToUnicode entry, text extraction and screen readers
# would read the glyph's internal code as a stray Latin character.
_ORPHAN_GLYPH_TEXT = (0x2060,)
# A fixed creation date: the same input gives the same bytes (the date is in the text anyway).
_FIXED_CREATION = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)

_BLUE = (0, 70, 130)
_NOTICE_FILL = (255, 236, 179)


@dataclass(frozen=True)
class Row:
    style: Style
    cells: tuple[str, ...]  # one per column, in column order


class _Pdf(FPDF):
    footer_text = ""

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(SANS, size=7)
        self.set_text_color(90, 90, 90)
        self.cell(0, 5, f"{self.footer_text} · Seite {self.page_no()}/{{nb}}", align="C")


def _face(style: Style, language: str) -> FontFace:
    family = ARABIC if language in RTL_LANGUAGES else SANS
    if style == "title":
        return FontFace(family=family, size_pt=15, color=_BLUE)
    if style == "heading":
        return FontFace(family=family, size_pt=12, color=_BLUE)
    if style == "notice":
        return FontFace(family=family, size_pt=10, color=(110, 40, 0), fill_color=_NOTICE_FILL)
    if style == "small":
        return FontFace(family=family, size_pt=8, color=(70, 70, 70))
    return FontFace(family=family, size_pt=10, color=(0, 0, 0))


def _cell_text(style: Style, text: str, language: str) -> str:
    if style == "bullet":
        text = f"• {text}"
    elif style == "signature":
        text = f"{text}\n\n\n________________________________"
    if language in RTL_LANGUAGES:
        # A leading RIGHT-TO-LEFT MARK makes every paragraph of the cell right to left, even one
        # that starts with a bullet, a digit or a Latin name (the bidi algorithm would take the
        # first strong character otherwise, and put the bullet on the left).
        text = "\n".join(f"\u200f{line}" for line in text.split("\n"))
    return text


def _map_orphan_glyphs(pdf: FPDF) -> None:
    """Give glyphs without text of their own an invisible character in the ToUnicode map.

    fpdf2 maps a HarfBuzz cluster's text onto its first glyph only and leaves the rest out of
    the font's ToUnicode CMap; readers then print the raw glyph code. This reaches into the
    subset map (fpdf2 < 3, covered by tests/test_documents.py) instead of patching fpdf2.
    """
    for font in pdf.fonts.values():
        subset = getattr(font, "subset", None)
        mapping = getattr(subset, "_char_id_per_glyph", None)
        if not isinstance(mapping, dict):
            continue
        for glyph, char_id in list(mapping.items()):
            if glyph is not None and not glyph.unicode:
                del mapping[glyph]
                mapping[dataclasses.replace(glyph, unicode=_ORPHAN_GLYPH_TEXT)] = char_id


def build_pdf(title: str, languages: list[str], rows: list[Row], footer: str) -> bytes:
    pdf = _Pdf(format="A4")
    pdf.footer_text = footer
    pdf.set_title(title)
    pdf.set_author("Kreis Unna – Ausländerbehörde")
    pdf.set_lang(languages[-1])
    pdf.set_creation_date(_FIXED_CREATION)
    for family, path in _static_fonts().items():
        pdf.add_font(family, fname=path)
    pdf.set_fallback_fonts([ARABIC, SANS], exact_match=False)
    pdf.set_text_shaping(True)
    pdf.set_margins(15, 15, 15)
    pdf.set_auto_page_break(True, margin=18)
    pdf.add_page()
    pdf.set_font(SANS, size=10)
    aligns = tuple("RIGHT" if lang in RTL_LANGUAGES else "LEFT" for lang in languages)
    with pdf.table(
        col_widths=tuple(1 for _ in languages),
        first_row_as_headings=False,
        borders_layout="NONE",
        text_align=aligns,
        padding=(1.2, 2.5),
        line_height=5.2,
        v_align="TOP",
    ) as table:
        for row in rows:
            out = table.row()
            for language, text in zip(languages, row.cells, strict=True):
                out.cell(_cell_text(row.style, text, language), style=_face(row.style, language))
    _map_orphan_glyphs(pdf)
    return bytes(pdf.output())
