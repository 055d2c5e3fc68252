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
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Literal

from fontTools.ttLib import TTFont
from fpdf import FPDF
from fpdf.fonts import FontFace
from fpdf.line_break import Fragment
from fpdf.util import Padding

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

    def _preload_bidirectional_text(self, text: str, markdown: bool) -> Sequence[Fragment]:
        """fpdf2's fragments of a text, with neighbours of the same style and link joined.

        fpdf2 splits a run at characters the font has no glyph for, such as the ZERO WIDTH
        NON-JOINER inside Persian words (راه‌ها); ``multi_cell``'s line breaker joins such pieces
        again before shaping, ``cell()`` does not, and shaped apart the non-joiner lost its place
        in the text layer (copying or reading out "راهها"). Lines are printed with ``cell()``
        here, so they are joined here, as ``multi_cell`` did.
        """
        joined: list[Fragment] = []
        for fragment in super()._preload_bidirectional_text(text, markdown):
            previous = joined[-1] if joined else None
            if (
                previous is not None
                and previous.has_same_style(fragment)
                and previous.link == fragment.link
            ):
                joined[-1] = previous.clone(
                    previous.characters + fragment.characters, link=previous.link
                )
            else:
                joined.append(fragment)
        return joined

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


# The layout of the former ``pdf.table(...)``: columns of equal width over the text area, cell
# padding (top/bottom, left/right) and the distance between lines of a cell, in mm.
_PAD_Y = 1.2
_PAD_X = 2.5
_LINE_HEIGHT = 5.2

# Shaped widths of words, per font and size: the same words recur in every document (templates,
# labels), and shaping is what costs. Bounded so that data (names, addresses) cannot grow it
# without end in a long-running renderer process.
_WIDTHS: dict[tuple[str, float, str], tuple[float, float]] = {}
_WIDTHS_MAX = 100_000


def _width(pdf: FPDF, word: str) -> tuple[float, float]:
    """The shaped width of ``word``, and the width fpdf2's line breaker tests it against the
    line's room with: the word without its last character, shaped, plus that character alone."""
    key = (pdf.font_family, pdf.font_size_pt, word)
    widths = _WIDTHS.get(key)
    if widths is None:
        if len(_WIDTHS) >= _WIDTHS_MAX:
            _WIDTHS.clear()
        full = pdf.get_string_width(word)
        fit = pdf.get_string_width(word[:-1]) + pdf.get_string_width(word[-1:]) if word else 0.0
        widths = _WIDTHS[key] = (full, fit)
    return widths


_ISOLATE_STARTS = "\u2066\u2067\u2068"  # LEFT-TO-RIGHT, RIGHT-TO-LEFT, FIRST STRONG ISOLATE
_ISOLATE_END = "\u2069"  # POP DIRECTIONAL ISOLATE


def _open_isolates(line: str) -> str:
    """The isolates that ``line`` starts and does not close, to open again on the next line: a
    name or an address (see ``render._isolated``) broken over two lines stays left to right on
    both (its comma after "17" stays right of the number, not at the far left of the line)."""
    stack: list[str] = []
    for character in line:
        if character in _ISOLATE_STARTS:
            stack.append(character)
        elif character == _ISOLATE_END and stack:
            stack.pop()
    return "".join(stack)


def _lines(pdf: FPDF, text: str, width: float, rtl: bool) -> list[str]:
    """The lines of a cell's text in the current font, broken greedily at spaces.

    The same breaks as fpdf2's ``multi_cell`` (which adds character after character and tests
    the shaped line so far plus the next character against the room), but from cached shaped
    widths of words instead of shaping the line again for every character of every cell. A word
    wider than the column is left to fpdf2's breaker, which breaks inside words. In right-to-left
    text every line starts with a RIGHT-TO-LEFT MARK, as every paragraph does (see
    ``_cell_text``), so that a continuation line starting with a digit or a Latin name is right to
    left too, and reopens the isolates the line before left open.
    """
    space = _width(pdf, " ")[0]
    result: list[str] = []
    for paragraph in text.split("\n"):
        words = paragraph.split(" ")
        widths = [_width(pdf, word) for word in words]
        if max(fit for _, fit in widths) > width + 1e-9:
            broken = pdf.multi_cell(
                width + 2 * _PAD_X,
                _LINE_HEIGHT,
                paragraph,
                padding=Padding(0, _PAD_X, 0, _PAD_X),
                dry_run=True,
                output="LINES",
            )
            assert isinstance(broken, list)
            for number, piece in enumerate(broken or [""]):
                if rtl and number > 0:
                    piece = f"\u200f{_open_isolates(result[-1])}{piece}"
                result.append(piece)
            continue
        line = [words[0]]
        used = widths[0][0]
        for word, (full, fit) in zip(words[1:], widths[1:], strict=True):
            if used + space + fit <= width + 1e-9:  # fpdf2's FloatTolerance
                line.append(word)
                used += space + full
            else:
                result.append(" ".join(line))
                line = [f"\u200f{_open_isolates(result[-1])}{word}" if rtl else word]
                used = full
        result.append(" ".join(line))
    return result


def build_pdf(title: str, languages: list[str], rows: list[Row], footer: str) -> bytes:
    """The document: one row per ``Row``, one column per language.

    Laid out here rather than with ``pdf.table(...)``, which runs fpdf2's line breaker over every
    cell twice (once to measure the row, once to print it), shaping the text character by
    character: that was three quarters of a document's time. Here each cell's lines are broken
    once over shaped word widths and each line is printed with one ``cell()``; positions, padding,
    line height, fills and page breaks are those the table gave.
    """
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
    column_width = pdf.epw / len(languages)
    text_width = column_width - 2 * _PAD_X
    c_margin = pdf.c_margin
    pdf.c_margin = 0  # the padding is the margin, as in a table cell with padding
    for row in rows:
        cells: list[tuple[FontFace, list[str], str]] = []
        for language, text in zip(languages, row.cells, strict=True):
            face = _face(row.style, language)
            rtl = language in RTL_LANGUAGES
            with pdf.use_font_face(face):
                lines = _lines(pdf, _cell_text(row.style, text, language), text_width, rtl)
            cells.append((face, lines, "R" if rtl else "L"))
        height = max(len(lines) for _, lines, _ in cells) * _LINE_HEIGHT + 2 * _PAD_Y
        if pdf.will_page_break(height):
            pdf.add_page()
            if pdf.will_page_break(height):  # as fpdf2's table: a row is never split
                raise ValueError(f"a {row.style} row is too high for a page")
        top = pdf.y
        for column, (face, lines, align) in enumerate(cells):
            left = pdf.l_margin + column * column_width
            with pdf.use_font_face(face):
                if face.fill_color is not None:
                    pdf.rect(left, top, column_width, height, style="F")
                for number, line in enumerate(lines):
                    pdf.set_xy(left + _PAD_X, top + _PAD_Y + number * _LINE_HEIGHT)
                    if line:
                        pdf.cell(text_width, _LINE_HEIGHT, line, align=align)
        pdf.set_xy(pdf.l_margin, top + height)
    pdf.c_margin = c_margin
    _map_orphan_glyphs(pdf)
    return bytes(pdf.output())
