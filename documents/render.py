"""``render(kind, language, context)``: one document as PDF, German beside the person's language.

The content hash is the sha256 of the rendered *text* (every row of every column, in order),
not of the PDF bytes: it names what the person was told, independent of the fonts' subsetting,
the typesetter's version or PDF object numbering, so a change of layout or engine does not make
the same content look changed, and two documents with the same hash say the same words.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import hashlib
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from documents.texts import (
    FALLBACK_LANGUAGE,
    RTL_LANGUAGES,
    SOURCE_LANGUAGE,
    TEXTS_DIR,
    Template,
    load_template,
)
from documents.typeset import Role, Row, Style, typeset, warm_up
from schemas.conversation import Participant
from schemas.documents import (
    ConsentContext,
    ConversationRecordContext,
    DepartureLetterContext,
    DocumentContext,
    DocumentFlag,
    DocumentKind,
    FlyerContext,
    OfferCategory,
    RenderedDocument,
    ReviewStatus,
    SupportOffer,
    TemplateRef,
)
from schemas.routes import Prerequisite


class MissingSourceText(RuntimeError):
    """The German template of a kind is missing or incomplete: nothing can be rendered."""


def _date(value: dt.date) -> str:
    return value.strftime("%d.%m.%Y")


def _isolated(template: Template, values: dict[str, str]) -> dict[str, str]:
    """Data (names, places, numbers) inside right-to-left text, as left-to-right isolates.

    Without LEFT-TO-RIGHT ISOLATE ... POP DIRECTIONAL ISOLATE a name's trailing full stop or a
    bracket would be pulled to the wrong side of the name by the bidi algorithm.
    """
    if template.language not in RTL_LANGUAGES:
        return values
    return {key: f"\u2066{value}\u2069" for key, value in values.items()}


class _Rows:
    """Collects rows; each text key becomes one cell per column, in that column's language."""

    def __init__(self, columns: Sequence[Template]) -> None:
        self.columns = columns
        self.rows: list[Row] = []

    def add(self, style: Style, key: str, role: Role | None = None, **values: str) -> None:
        cells = tuple(t.text(key, **_isolated(t, values)) for t in self.columns)
        self.rows.append(Row(style, cells, role))

    def each(self, style: Style, make: Callable[[Template], str], role: Role | None = None) -> None:
        self.rows.append(Row(style, tuple(make(t) for t in self.columns), role))


def _offer_rows(rows: _Rows, offers: Sequence[SupportOffer]) -> None:
    for category in OfferCategory:
        chosen = [o for o in offers if o.category is category]
        if not chosen:
            continue
        rows.add("heading", f"category.{category.value}")
        for offer in chosen:

            def lines(t: Template, offer: SupportOffer = offer) -> str:
                parts = [
                    offer.name,
                    f"{t.text('label_address')}: {offer.address}, {offer.town}",
                    f"{t.text('label_hours')}: {offer.hours}",
                ]
                if offer.contact:
                    parts.append(f"{t.text('label_contact')}: {offer.contact}")
                return "\n".join(parts)

            rows.each("text", lines, role="offer")


def _conversation(rows: _Rows, ctx: ConversationRecordContext) -> None:
    rows.add("text", "file_reference", ref=ctx.file_reference)
    rows.add("text", "intro", date=_date(ctx.conversation_date))
    rows.add("small", "rule_version", version=ctx.rule_version)
    _held(rows, ctx)
    rows.add("heading", "routes_heading")
    if not ctx.routes:
        rows.add("text", "no_routes")
    for route in ctx.routes:
        rows.add("text", f"route.{route.route.code}")
        for label, items in (
            ("required", route.required),
            ("met", route.met),
            ("missing", route.missing),
        ):
            if items:

                def line(t: Template, label: str = label, items: list[Prerequisite] = items) -> str:
                    separator = "؛ " if t.language in RTL_LANGUAGES else "; "
                    names = separator.join(t.text(f"prereq.{p}") for p in items)
                    return f"{t.text(label)} {names}"

                rows.each("bullet", line)
    rows.add("heading", "consequences_heading")
    for consequence in ctx.consequences:
        rows.add("bullet", f"consequence.{consequence.value}")
    if ctx.offers:
        rows.add("heading", "offers_heading")
        _offer_rows(rows, ctx.offers)
    rows.add("notice", "closing")


def _language_name(t: Template, code: str) -> str:
    """A language in the column's language; a code the texts do not name is printed as such."""
    name = t.texts.get(f"language.{code}")
    if name is not None:
        return name
    return f"\u2066{code}\u2069" if t.language in RTL_LANGUAGES else code


def _held(rows: _Rows, ctx: ConversationRecordContext) -> None:
    """In which language, with which interpreter (and how) and with whom the conversation was
    held; a record made before that was asked has no language and leaves it out."""
    if ctx.language is None:
        return
    language, interpreter = ctx.language, ctx.interpreter
    rows.add("heading", "held_heading")
    rows.each("text", lambda t: t.text("held_language", language=_language_name(t, language)))
    if interpreter is None:
        rows.add("text", "no_interpreter")
    else:
        rows.each(
            "text",
            lambda t: t.text(
                f"interpreter.{interpreter.mode.value}",
                language=_language_name(t, interpreter.language),
            ),
        )
    # In the order of the roles, whatever the order they were ticked in: the same people
    # give the same text (and content hash).
    present = [role for role in Participant if role in ctx.participants]
    if present:

        def line(t: Template) -> str:
            separator = "؛ " if t.language in RTL_LANGUAGES else "; "
            names = separator.join(t.text(f"participant.{role.value}") for role in present)
            return f"{t.text('participants')} {names}"

        rows.each("text", line)


def _departure(rows: _Rows, ctx: DepartureLetterContext) -> None:
    deadline = _date(ctx.departure_deadline)
    rows.add("text", "file_reference", ref=ctx.file_reference)
    rows.add("text", "date", date=_date(ctx.letter_date))
    rows.add("notice", "intro", deadline=deadline)
    rows.add("heading", "instructions_heading")
    rows.add("bullet", "step.leave", deadline=deadline)
    for step in ("passport", "certificate", "extension", "counselling", "changes"):
        rows.add("bullet", f"step.{step}")
    rows.add("heading", "warnings_heading")
    for warning in ("deportation", "no_announcement", "entry_ban", "costs"):
        rows.add("bullet", f"warn.{warning}")
    rows.add("text", "contact", contact=ctx.authority_contact)


def _consent(rows: _Rows, ctx: ConsentContext) -> None:
    rows.add("text", "file_reference", ref=ctx.file_reference)
    rows.add("text", "intro", name=ctx.person_name)
    rows.add("text", "purpose")
    rows.add("heading", "recipients_heading")
    rows.add("bullet", "recipient_ki")
    rows.add("bullet", "recipient_partner", partner=ctx.partner_name, town=ctx.town)
    rows.add("heading", "categories_heading")
    for category in ("personal", "contact", "status"):
        rows.add("bullet", f"data.{category}")
    rows.add("text", "release")
    rows.add("text", "voluntary")
    rows.add("heading", "withdraw_heading")
    rows.add("text", "withdraw", contact=ctx.withdrawal_contact)
    rows.add("signature", "sign_place_date")
    rows.add("signature", "sign_person")


def _flyer(rows: _Rows, ctx: FlyerContext) -> None:
    rows.add("text", "intro")
    _offer_rows(rows, ctx.offers)
    rows.add("small", "as_of", date=_date(ctx.as_of))


def _columns(kind: DocumentKind, language: str, texts_dir: Path) -> tuple[list[Template], bool]:
    """The templates of the columns and whether the requested language had to be replaced."""
    source = load_template(kind, SOURCE_LANGUAGE, texts_dir)
    if source is None:
        raise MissingSourceText(f"no complete German template for {kind.value}")
    if language == SOURCE_LANGUAGE:
        return [source], False
    wanted = load_template(kind, language, texts_dir)
    if wanted is not None:
        return [source, wanted], False
    english = load_template(kind, FALLBACK_LANGUAGE, texts_dir)
    if english is None:
        raise MissingSourceText(f"no complete English template for {kind.value}")
    return [source, english], True


def _template_version(kind: DocumentKind, columns: Sequence[Template]) -> str:
    return " ".join(f"{kind.value}/{t.language}@{t.version}" for t in columns)


def template_version(kind: DocumentKind, language: str, *, texts_dir: Path = TEXTS_DIR) -> str:
    """The ``template_version`` that ``render(kind, language, ...)`` would record, without
    rendering: a stored document can be looked up by it before paying for a rendering."""
    columns, _ = _columns(kind, language, texts_dir)
    return _template_version(kind, columns)


def _document_date(context: DocumentContext) -> dt.date | None:
    """The date the document bears (the PDF's creation date), if it has one of its own."""
    if isinstance(context, ConversationRecordContext):
        return context.conversation_date
    if isinstance(context, DepartureLetterContext):
        return context.letter_date
    if isinstance(context, FlyerContext):
        return context.as_of
    return None  # the consent form is dated by hand when it is signed


_EXPECTED: dict[DocumentKind, type[DocumentContext]] = {
    DocumentKind.GESPRAECHSPROTOKOLL: ConversationRecordContext,
    DocumentKind.AUSREISEINFORMATION: DepartureLetterContext,
    DocumentKind.EINWILLIGUNG: ConsentContext,
    DocumentKind.FLYER: FlyerContext,
}


def render(
    kind: DocumentKind,
    language: str,
    context: DocumentContext,
    *,
    texts_dir: Path = TEXTS_DIR,
) -> RenderedDocument:
    """Render one document; a language without complete texts gives German and English.

    The fallback is flagged on the result and printed at the top of the document, never silent.
    ``texts_dir`` exists for tests and for trying out changed texts before they are committed.
    """
    if not isinstance(context, _EXPECTED[kind]):
        raise TypeError(f"{kind.value} needs {_EXPECTED[kind].__name__}")
    columns, fallback = _columns(kind, language, texts_dir)
    rows = _Rows(columns)
    flags: list[DocumentFlag] = []
    rows.add("title", "title", town=context.town if isinstance(context, FlyerContext) else "")
    rows.add("small", "authority", role="authority")
    if fallback:
        flags.append(DocumentFlag.LANGUAGE_FALLBACK)
        rows.add("notice", "fallback_notice")
    if columns[0].review.status is ReviewStatus.DRAFTED:
        flags.append(DocumentFlag.DRAFT_SOURCE_TEXT)
        rows.add("notice", "source_draft_marker")
    if any(t.review.status is ReviewStatus.DRAFTED for t in columns[1:]):
        flags.append(DocumentFlag.DRAFT_TRANSLATION)
        rows.add("notice", "draft_marker")
    offers = getattr(context, "offers", [])
    if any(offer.example for offer in offers):
        flags.append(DocumentFlag.EXAMPLE_DATA)
        rows.add("notice", "example_marker")
    if isinstance(context, ConversationRecordContext):
        _conversation(rows, context)
    elif isinstance(context, DepartureLetterContext):
        _departure(rows, context)
    elif isinstance(context, ConsentContext):
        _consent(rows, context)
    else:
        _flyer(rows, context)

    languages = [t.language for t in columns]
    text = "\n".join(f"[{row.style}] " + " | ".join(row.cells) for row in rows.rows)
    version = _template_version(kind, columns)
    title = rows.rows[0].cells[0]
    pdf = typeset(
        kind, title, languages, rows.rows, f"Textversion {version}", _document_date(context)
    )
    return RenderedDocument(
        kind=kind,
        requested_language=language,
        languages=languages,
        templates=[
            TemplateRef(language=t.language, version=t.version, review=t.review) for t in columns
        ],
        template_version=version,
        content_hash=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        flags=flags,
        text=text,
        pdf=pdf,
    )


# Rendering runs in processes of their own, shared by every caller in the process (the case
# documents, the flyers): in a thread it would take the GIL from the worker's event loop for the
# Python around each compilation (workflow tasks once waited seconds behind renderings). As many
# processes as this process may use cores: a Typst compilation takes a few milliseconds of one
# core, and with fewer processes a burst (a case's three documents, a directory change's hundred
# flyers) would queue behind itself while a core sat idle. The executor starts a process only when
# none is idle, so a quiet worker keeps one. Each makes its compiler once, fonts loaded, when it
# starts. "spawn", not fork: the worker's process runs threads (Temporal's core) that fork would
# copy in whatever state they are in.
_RENDERER: ProcessPoolExecutor | None = None
# Renderings asked for and not yet finished (waiting for a renderer, or being drawn): the
# renderer queue of this process's metrics (case_renderer_in_flight).
_IN_FLIGHT = 0


def renderer_load() -> tuple[int, int]:
    """Renderings under way or waiting in this process, and the renderer processes allowed."""
    return _IN_FLIGHT, _renderers()


def _renderers() -> int:
    """The cores this process may run on (a container's or taskset's share, not the host's)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _start_renderer(parent: int) -> None:
    """In a renderer: end with the process that started it, and load the compiler."""
    _exit_with_parent(parent)
    warm_up()


def _exit_with_parent(parent: int) -> None:
    """In the renderer: end when the process that started it is gone. A worker killed outright
    (SIGKILL, a crash) cannot stop its renderer, which would otherwise live on as an orphan.

    Ctrl-C reaches the whole process group: the renderer ignores it and ends when its parent
    shuts the pool down (or is gone), instead of printing a KeyboardInterrupt traceback.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _renderer() -> ProcessPoolExecutor:
    global _RENDERER
    if _RENDERER is None:
        _RENDERER = ProcessPoolExecutor(
            max_workers=_renderers(),
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_renderer,
            initargs=(os.getpid(),),
        )
    return _RENDERER


async def render_off_loop(
    kind: DocumentKind,
    language: str,
    context: DocumentContext,
    *,
    texts_dir: Path = TEXTS_DIR,
) -> RenderedDocument:
    """:func:`render` in the renderer process, for async callers (activities, the API)."""
    global _RENDERER, _IN_FLIGHT
    draw = functools.partial(render, kind, language, context, texts_dir=texts_dir)
    _IN_FLIGHT += 1
    try:
        return await asyncio.get_running_loop().run_in_executor(_renderer(), draw)
    except BrokenProcessPool:
        # The renderer died (killed, out of memory): the next call starts a new one; this one
        # fails and its activity is retried.
        _RENDERER = None
        raise
    finally:
        _IN_FLIGHT -= 1


def shutdown_renderer() -> None:
    """Stop the renderer processes, waiting for renderings under way; the next rendering starts
    them again."""
    global _RENDERER
    if _RENDERER is not None:
        _RENDERER.shutdown()
        _RENDERER = None
