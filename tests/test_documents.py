"""documents/: every document in every language, fallback, versions, right-to-left, PNG.

No database and no Temporal: the renderer is a pure library, so these tests are plain and fast.

How right-to-left is verified: Typst writes the glyphs of a right-to-left run in visual order
(shaped, right to left) and marks the run as such, as the PDF standard provides (ISO 32000-2,
14.8.2.5: marked content ``/ReversedChars``; ``/ActualText`` for a glyph that stands for other
characters than its own). :func:`pdf_text` reads the pages with pypdf's content-stream parser
and the fonts' ToUnicode maps and honours those marks, as Acrobat and screen readers do;
pypdf's ``extract_text`` ignores them and guesses the order from the characters, which fails on
ligatures and joiners at the edge of a run. A known word (``المحادثة``, ``گفتگو``) must come out
in its logical spelling and its reversed spelling must not appear: a word laid out left to
right, or letters that lost their mapping, would fail that comparison. Invisible characters the
renderer keeps on purpose (U+2066/U+2069 around names inside right-to-left text) are removed
before comparing.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import shutil
from functools import cache
from pathlib import Path

import pypdf
import pypdfium2
import pytest
from pydantic import ValidationError
from pypdf.generic import ContentStream, DictionaryObject, StreamObject, TextStringObject

from documents import LANGUAGES, RTL_LANGUAGES, render
from documents.examples import (
    SAMPLE_CONSENT,
    SAMPLE_CONVERSATION,
    SAMPLE_FLYER,
    SAMPLE_LETTER,
    SAMPLE_OFFERS,
    SAMPLES,
)
from documents.texts import TEXTS_DIR, load_template
from documents.typeset import RowTooHigh
from schemas.conversation import Interpreter, InterpreterMode, Participant
from schemas.documents import (
    DocumentContext,
    DocumentFlag,
    DocumentKind,
    FlyerContext,
    RenderedDocument,
    TranslationReview,
)
from web import labels

CONSENT = SAMPLE_CONSENT
LETTER = SAMPLE_LETTER
CONTEXTS: dict[DocumentKind, DocumentContext] = SAMPLES
# Texts that must appear in every column of each kind (placeholders filled as rendered).
CHECKED_KEYS: dict[DocumentKind, tuple[str, ...]] = {
    DocumentKind.GESPRAECHSPROTOKOLL: (
        "title",
        "held_heading",
        "routes_heading",
        "consequence.deportation_costs",
    ),
    DocumentKind.AUSREISEINFORMATION: ("title", "instructions_heading", "warn.entry_ban"),
    DocumentKind.EINWILLIGUNG: ("title", "data.status", "sign_person", "withdraw_heading"),
    DocumentKind.FLYER: ("intro", "category.return_counselling", "label_hours"),
}


@cache
def rendered(kind: DocumentKind, language: str) -> RenderedDocument:
    """Each document once per test run: rendering is the slow part (about 0.3 s)."""
    return render(kind, language, CONTEXTS[kind])


def _to_unicode(font: DictionaryObject) -> dict[bytes, str]:
    """A font's ToUnicode map: two-byte glyph codes to their text (Typst writes bfchar lists)."""
    stream = font["/ToUnicode"].get_object()
    assert isinstance(stream, StreamObject)
    cmap = stream.get_data().decode("latin-1")
    mapping: dict[bytes, str] = {}
    for block in re.findall(r"beginbfchar(.*?)endbfchar", cmap, re.DOTALL):
        for code, text in re.findall(r"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]*)>", block):
            mapping[bytes.fromhex(code)] = bytes.fromhex(text).decode("utf-16-be")
    return mapping


_ARABIC_SCRIPT = re.compile("[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufeff]")


def _logical(parts: list[str]) -> str:
    """A line's runs, drawn left to right, in reading order: each stretch of right-to-left runs
    (and the spaces and punctuation between them) is read from its right end. A run's own
    characters are already in order (see :func:`_page_lines`)."""
    result: list[str] = []
    stretch: list[str] = []

    def end_stretch() -> None:
        trailing: list[str] = []
        while stretch and not _ARABIC_SCRIPT.search(stretch[-1]):  # neutrals after it stay
            trailing.insert(0, stretch.pop())
        result.extend(reversed(stretch))
        result.extend(trailing)
        stretch.clear()

    for part in parts:
        if _ARABIC_SCRIPT.search(part) or (stretch and not re.search(r"\w", part)):
            stretch.append(part)
        else:
            end_stretch()
            result.append(part)
    end_stretch()
    return "".join(result)


def _page_lines(page: pypdf.PageObject) -> list[str]:
    """The lines of a page in reading order, from its content stream and fonts' ToUnicode maps.

    A marked-content section ``/ReversedChars`` holds a right-to-left run's glyphs drawn left
    to right: they are read in reverse. ``/ActualText`` replaces its glyphs' own text. Runs are
    drawn left to right as well, inside a section and on a line: :func:`_logical` orders them.
    """
    resources = page["/Resources"].get_object()
    assert isinstance(resources, DictionaryObject)
    listed = resources["/Font"].get_object()
    assert isinstance(listed, DictionaryObject)
    fonts = {name: _to_unicode(entry.get_object()) for name, entry in listed.items()}
    font: dict[bytes, str] = {}
    # Open sections: how each is read when it closes, and what it collected.
    sections: list[tuple[str, list[str]]] = [("", [])]
    lines: list[list[str]] = [[]]
    line_y: float | None = None

    def show(operand: object) -> None:
        if isinstance(operand, TextStringObject):  # pypdf decoded it; the codes are the bytes
            string = operand.original_bytes
        elif isinstance(operand, bytes):
            string = operand
        else:  # a TJ array's kerning number
            return
        glyphs = [font.get(string[i : i + 2], "") for i in range(0, len(string), 2)]
        (sections[-1][1] if len(sections) > 1 else lines[-1]).extend(glyphs)

    for operands, operator in ContentStream(page.get_contents(), page.pdf).operations:
        if operator == b"cm":
            y = float(operands[5])
            if line_y is not None and abs(y - line_y) > 6:  # a new line, not a raised mark
                lines.append([])
            line_y = y
        elif operator == b"Tf":
            font = fonts[operands[0]]
        elif operator == b"Tj":
            show(operands[0])
        elif operator == b"TJ":
            for item in operands[0]:
                show(item)
        elif operator in (b"BDC", b"BMC"):
            properties = operands[1] if len(operands) > 1 else None
            if isinstance(properties, DictionaryObject) and "/ActualText" in properties:
                sections.append((f"={properties['/ActualText']}", []))
            else:
                sections.append(("reversed" if operands[0] == "/ReversedChars" else "", []))
        elif operator == b"EMC" and len(sections) > 1:
            how, parts = sections.pop()
            # A section (a tagged span, say) may hold several runs, drawn left to right too.
            text = (
                how[1:] if how.startswith("=") else "".join(parts[::-1]) if how else _logical(parts)
            )
            if text:
                (sections[-1][1] if len(sections) > 1 else lines[-1]).append(text)
    return [_logical(parts) for parts in lines]


def pdf_text(document: RenderedDocument | bytes) -> str:
    """The text of every page in logical order, as a reader of the PDF's marks reads it."""
    pdf = document if isinstance(document, bytes) else document.pdf
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    raw = "\n".join("\n".join(_page_lines(page)) for page in reader.pages)
    for invisible in "\u2066\u2069":
        raw = raw.replace(invisible, "")
    # A letter with a mark drawn apart (ناقصاً: alef and tanwin) is two glyphs, and Typst gives
    # both the cluster's text: read once what is written twice in a row.
    raw = re.sub(r"(\w[\u064b-\u065f\u0670]+)\1", r"\1", raw)
    return re.sub(r"\s+", " ", raw)


def words(text: str) -> list[str]:
    """The words of a text that extraction must reproduce (punctuation may move in mixed runs)."""
    return [w for w in re.findall(r"\w+", text) if len(w) > 2]


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", list(DocumentKind))
def test_every_document_in_every_language(kind: DocumentKind, language: str) -> None:
    document = rendered(kind, language)
    expected_languages = ["de"] if language == "de" else ["de", language]
    assert document.languages == expected_languages
    assert DocumentFlag.LANGUAGE_FALLBACK not in document.flags
    assert document.pdf.startswith(b"%PDF")
    text = pdf_text(document)
    for column in expected_languages:
        template = load_template(kind, column)
        assert template is not None
        for key in CHECKED_KEYS[kind]:
            for word in words(template.texts[key]):
                assert word in text, (kind, column, key, word)
    if language != "de":
        # Every translation is drafted so far: the document says so in both languages.
        assert DocumentFlag.DRAFT_TRANSLATION in document.flags
        assert "Maschinell/vorläufig übersetzt – nicht geprüft" in text
        marker = load_template(kind, language)
        assert marker is not None
        for word in words(marker.texts["draft_marker"]):
            assert word in text


@pytest.mark.parametrize(
    ("language", "word"),
    [("ar", "المحادثة"), ("ar", "نسختك"), ("fa", "گفتگو"), ("fa", "نسخه")],
)
def test_right_to_left_words_come_out_in_logical_order(language: str, word: str) -> None:
    text = pdf_text(rendered(DocumentKind.GESPRAECHSPROTOKOLL, language))
    assert language in RTL_LANGUAGES
    assert word in text
    assert word[::-1] not in text


def test_missing_language_gives_german_and_english_with_a_visible_flag() -> None:
    document = render(DocumentKind.AUSREISEINFORMATION, "ps", LETTER)  # Pashto: not yet written
    assert document.requested_language == "ps"
    assert document.languages == ["de", "en"]
    assert DocumentFlag.LANGUAGE_FALLBACK in document.flags
    text = pdf_text(document)
    assert "Dieses Dokument liegt in Ihrer Sprache noch nicht vor" in text
    assert "This document is not yet available in your language" in text
    assert "Departure information letter" in text


def test_the_record_says_how_the_conversation_was_held() -> None:
    """Language, interpreter and who took part, in both columns; a record made before that
    was asked (no language) leaves the part out."""
    record = render(DocumentKind.GESPRAECHSPROTOKOLL, "ar", SAMPLE_CONVERSATION)
    text = pdf_text(record)
    assert "So wurde das Gespräch geführt" in text and "Gesprächssprache: Arabisch" in text
    assert (
        "Eine Dolmetscherin oder ein Dolmetscher für Arabisch war beim Gespräch anwesend." in text
    )
    assert "Außer der Ausländerbehörde haben teilgenommen: Sie selbst; eine Person, die" in text
    assert "لغة المحادثة: العربية" in text and "حاضراً في المحادثة" in text
    # The roles in their order, whatever order they were ticked in: the same text.
    ticked = SAMPLE_CONVERSATION.model_copy(
        update={"participants": [Participant.SUPPORTER, Participant.PERSON]}
    )
    assert render(DocumentKind.GESPRAECHSPROTOKOLL, "ar", ticked).text == record.text

    # By phone, in a language the texts have no name for: its code; none when in German.
    somali = SAMPLE_CONVERSATION.model_copy(
        update={
            "language": "so",
            "interpreter": Interpreter(language="so", mode=InterpreterMode.BY_PHONE),
        }
    )
    text = pdf_text(render(DocumentKind.GESPRAECHSPROTOKOLL, "de", somali))
    assert "Gesprächssprache: so " in text and "für so war telefonisch zugeschaltet" in text
    german = SAMPLE_CONVERSATION.model_copy(update={"language": "de", "interpreter": None})
    text = pdf_text(render(DocumentKind.GESPRAECHSPROTOKOLL, "en", german))
    assert "Gesprächssprache: Deutsch" in text and "Language of the conversation: German" in text
    assert "The conversation was held without an interpreter." in text

    before = SAMPLE_CONVERSATION.model_copy(
        update={"language": None, "interpreter": None, "participants": []}
    )
    text = pdf_text(render(DocumentKind.GESPRAECHSPROTOKOLL, "ar", before))
    assert "So wurde das Gespräch geführt" not in text and "Gesprächssprache" not in text


def test_every_language_the_form_offers_is_named_in_every_record() -> None:
    for language in LANGUAGES:
        template = load_template(DocumentKind.GESPRAECHSPROTOKOLL, language)
        assert template is not None
        named = {key.removeprefix("language.") for key in template.texts if "language." in key}
        assert named == set(labels.CONVERSATION_LANGUAGES), language


def copy_texts(tmp_path: Path) -> Path:
    target = tmp_path / "texts"
    shutil.copytree(TEXTS_DIR, target)
    return target


def edit(path: Path, change: dict[str, object]) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    for key, value in change.items():
        if key == "review":
            data["review"] = value
        elif value is None:
            del data["texts"][key]
        else:
            data["texts"][key] = value
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def test_an_incomplete_translation_is_refused_whole(tmp_path: Path) -> None:
    texts = copy_texts(tmp_path)
    edit(texts / "einwilligung" / "tr.json", {"sign_person": None})
    document = render(DocumentKind.EINWILLIGUNG, "tr", CONSENT, texts_dir=texts)
    assert document.languages == ["de", "en"]
    assert DocumentFlag.LANGUAGE_FALLBACK in document.flags


def test_changing_a_text_changes_version_and_hash(tmp_path: Path) -> None:
    before = rendered(DocumentKind.FLYER, "uk")
    texts = copy_texts(tmp_path)
    edit(texts / "flyer" / "uk.json", {"intro": "Ці служби консультують вас безкоштовно."})
    after = render(DocumentKind.FLYER, "uk", SAMPLE_FLYER, texts_dir=texts)
    assert after.templates[0] == before.templates[0]  # German unchanged
    assert after.templates[1].version != before.templates[1].version
    assert after.template_version != before.template_version
    assert after.content_hash != before.content_hash


def test_the_same_input_renders_the_same_document() -> None:
    one = rendered(DocumentKind.EINWILLIGUNG, "fa")
    two = render(DocumentKind.EINWILLIGUNG, "fa", CONSENT)
    assert one.content_hash == two.content_hash
    assert one.pdf == two.pdf


def test_data_is_printed_as_it_is_never_read_as_layout() -> None:
    """Names and addresses reach the layout as data: quotes, backslashes and Typst's markup
    characters are printed, not interpreted."""
    name = 'Anna "A." #Müller \\ [x] $y$ <z> */ ")'
    document = render(
        DocumentKind.EINWILLIGUNG, "ar", CONSENT.model_copy(update={"person_name": name})
    )
    assert pdf_text(document).count(name) == 2  # the German and the Arabic column


def test_a_row_higher_than_a_page_is_refused_not_cut_off() -> None:
    """A row is never split, so one higher than a page would run off its foot: refused."""
    endless = CONSENT.model_copy(update={"withdrawal_contact": "Sehr lange Adresse " * 900})
    with pytest.raises(RowTooHigh, match="text row is too high for a page"):
        render(DocumentKind.EINWILLIGUNG, "de", endless)
    long = CONSENT.model_copy(update={"withdrawal_contact": "Sehr lange Adresse " * 90})
    assert render(DocumentKind.EINWILLIGUNG, "ar", long).pdf.startswith(b"%PDF")


def test_the_pdf_bears_the_documents_own_date_or_none() -> None:
    """No clock in the PDF: the letter is dated as the letter, the consent form (dated by hand
    when signed) not at all."""
    letter = pypdf.PdfReader(io.BytesIO(rendered(DocumentKind.AUSREISEINFORMATION, "ar").pdf))
    assert letter.metadata is not None and letter.metadata.creation_date is not None
    assert letter.metadata.creation_date.date() == LETTER.letter_date
    consent = pypdf.PdfReader(io.BytesIO(rendered(DocumentKind.EINWILLIGUNG, "ar").pdf))
    assert consent.metadata is not None and "/CreationDate" not in consent.metadata


@pytest.mark.parametrize("offers", range(len(SAMPLE_OFFERS) + 1))
def test_a_row_and_its_translation_stay_on_one_page(offers: int) -> None:
    """Every row (German and Arabic side by side) has one page that holds all of it; with
    0 to 5 offers the page break falls in different places of the record."""

    def tokens(text: str) -> set[str]:
        # Latin beside Arabic (a name, the other column) may come out without a space between.
        apart = r"(?<=[\u0600-\u06ff])(?=[^\u0600-\u06ff])|(?<=[^\u0600-\u06ff])(?=[\u0600-\u06ff])"
        return set(words(re.sub(apart, " ", text)))

    context = SAMPLE_CONVERSATION.model_copy(update={"offers": SAMPLE_OFFERS[:offers]})
    document = render(DocumentKind.GESPRAECHSPROTOKOLL, "ar", context)
    reader = pypdf.PdfReader(io.BytesIO(document.pdf))
    pages = [tokens(" ".join(_page_lines(page))) for page in reader.pages]
    assert len(pages) > 1
    for row in re.split(r"\n(?=\[\w+\] )", document.text):  # an offer's cells hold lines
        cells = row.split("] ", 1)[1].split(" | ")
        holding = [{n for n, page in enumerate(pages) if tokens(c) <= page} for c in cells]
        assert set.intersection(*holding), row


def test_the_pdf_is_text_for_any_reader() -> None:
    """Without reading the right-to-left marks too: pypdf's own extraction finds the German
    sentences and the Arabic letters (as letters, not glyph numbers)."""
    reader = pypdf.PdfReader(io.BytesIO(rendered(DocumentKind.GESPRAECHSPROTOKOLL, "ar").pdf))
    plain = " ".join(page.extract_text() for page in reader.pages)
    assert "Gesprächsprotokoll – Ihre" in plain
    assert "Ausfertigung" in plain
    assert set("محضر المحادثة نسختك") <= set(plain)


def test_a_reviewed_translation_drops_the_draft_marker(tmp_path: Path) -> None:
    texts = copy_texts(tmp_path)
    review = {"status": "reviewed", "reviewer": "Testprüferin", "reviewed_on": "2026-11-01"}
    for folder in ("common", "flyer"):
        edit(texts / folder / "en.json", {"review": review})
    document = render(DocumentKind.FLYER, "en", SAMPLE_FLYER, texts_dir=texts)
    assert DocumentFlag.DRAFT_TRANSLATION not in document.flags
    assert document.templates[1].review.reviewer == "Testprüferin"
    assert "Maschinell/vorläufig übersetzt" not in pdf_text(document)


def test_a_reviewed_status_needs_reviewer_and_date() -> None:
    with pytest.raises(ValidationError):
        TranslationReview.model_validate({"status": "reviewed"})


def test_example_offers_are_marked_and_real_ones_are_not() -> None:
    example = rendered(DocumentKind.FLYER, "de")
    assert DocumentFlag.EXAMPLE_DATA in example.flags
    assert "Beispielangaben" in pdf_text(example)
    real = FlyerContext(
        town="Unna",
        as_of=dt.date(2026, 11, 1),
        offers=[o.model_copy(update={"example": False}) for o in SAMPLE_OFFERS],
    )
    assert DocumentFlag.EXAMPLE_DATA not in render(DocumentKind.FLYER, "de", real).flags


def test_a_context_of_the_wrong_kind_is_refused() -> None:
    with pytest.raises(TypeError):
        render(DocumentKind.FLYER, "de", CONSENT)


@pytest.mark.parametrize("kind", list(DocumentKind))
def test_every_document_renders_to_png(kind: DocumentKind) -> None:
    document = rendered(kind, "ar")
    pdf = pypdfium2.PdfDocument(document.pdf)
    try:
        image = pdf[0].render(scale=0.5).to_pil()
    finally:
        pdf.close()
    assert image.size[0] > 200
    assert image.convert("L").getextrema()[0] < 100  # something dark was drawn
