"""The case workflow hands out its documents: the conversation record and the departure letter
after the conversation, the consent form with the referral offer; each stored once with the
template version, languages and content hash it was made from, and kept as it was received when
the texts change later."""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from temporalio.testing import WorkflowEnvironment

from activities.documents import CaseDocuments
from documents.texts import TEXTS_DIR
from schemas.case_documents import CaseDocument, DocumentRequest
from schemas.documents import DocumentKind
from schemas.process import ProcessTimings
from schemas.records import Entry
from schemas.routes import Route
from schemas.tasks import InformationConversation, ReferralConsent
from store import documents
from tests.casekit import HELD, ROUTES, CaseDriver, running_worker
from tests.test_documents import pdf_text

TIMINGS = ProcessTimings()


@pytest.fixture
async def case(time_env: WorkflowEnvironment, pool: asyncpg.Pool) -> AsyncIterator[CaseDriver]:
    async with running_worker(time_env, pool) as task_queue:
        driver = CaseDriver(time_env, pool, task_queue, TIMINGS)
        yield driver
        await driver.terminate()


async def listed(case: CaseDriver) -> dict[str, CaseDocument]:
    async with case.pool.acquire() as con:
        return {doc.kind: doc for doc in await documents.documents_of_case(con, case.case_id)}


async def pdf(case: CaseDriver, document_id: UUID) -> bytes:
    async with case.pool.acquire() as con:
        found = await documents.document_pdf(con, case.case_id, document_id)
    assert found is not None
    return found.pdf


def lacking_livelihood(held_on: date, **held: Any) -> InformationConversation:
    return InformationConversation.model_validate(
        {
            "held_on": held_on,
            "routes_discussed": ["§25b AufenthG", "§60d AufenthG"],
            "perspective": "none_evident",
            "missing_prerequisites": [
                {"route": "§25b AufenthG", "prerequisite": "livelihood"},
                {"route": "§25b AufenthG", "prerequisite": "years_of_residence"},
            ],
            **HELD,
            **held,
        }
    )


async def test_the_conversation_hands_out_the_record_and_the_letter_in_arabic_and_german(
    case: CaseDriver,
) -> None:
    await case.open()
    today = await case.today()
    await case.complete("information_conversation", lacking_livelihood(today))

    docs = await listed(case)
    assert set(docs) == {"gespraechsprotokoll", "ausreiseinformation", "einwilligung"}
    record = docs["gespraechsprotokoll"]
    assert record.languages == ["de", "ar"]  # the person's language beside German
    # Every translation is a draft until reviewed, and the document says so.
    assert "draft_translation" in record.flags and "language_fallback" not in record.flags
    assert len(record.content_hash) == 64 and record.template_version

    text = pdf_text(await pdf(case, record.document_id))
    # What the person still lacks, and what the rules in force ask and they have, per route.
    assert "Fehlt noch: Lebensunterhalt überwiegend selbst gesichert; genug Jahre" in text
    # §25b asks for years of residence, not for a minimum time with a Duldung (that is §25a).
    assert "Voraussetzungen: genug Jahre Aufenthalt in Deutschland; Bekenntnis zur" in text
    # Not ticked as lacking is not claimed as met: the record says only what was recorded.
    assert "Bereits erfüllt" not in text
    assert "ما زال ناقصاً: تأمين معيشتك بنفسك في الغالب" in text  # the same in Arabic
    version = ROUTES.of(Route.P25B, today)
    assert version is not None and version.version_id in text
    assert case.case_id in text  # the file reference, never the name, heads the record
    # How the conversation was held, as recorded: language, interpreter, who took part.
    assert "Gesprächssprache: Arabisch" in text and "لغة المحادثة: العربية" in text
    assert "Dolmetscher für Arabisch war beim Gespräch anwesend." in text
    assert "Außer der Ausländerbehörde haben teilgenommen: Sie selbst" in text

    letter_text = pdf_text(await pdf(case, docs["ausreiseinformation"].document_id))
    deadline = (await case.case_row())["departure_deadline"]
    assert deadline.strftime("%d.%m.%Y") in letter_text

    # The consent form comes with the referral offer: the person's name, the partners in
    # their town as recipients, how to withdraw.
    consent_text = pdf_text(await pdf(case, docs["einwilligung"].document_id))
    assert "Testvorname Testnachname" in consent_text
    assert "Der Paritätische Unna" in consent_text
    assert "Friedrich-Ebert-Straße 17" in consent_text

    kinds = await case.timeline_kinds()
    assert kinds.count("document") == 3
    details = await case.pool.fetch(
        "SELECT detail FROM timeline WHERE case_id = $1 AND kind = 'document'", case.case_id
    )
    # The timeline names the document, never the person.
    assert all("Testvorname" not in row["detail"] for row in details)

    # Interested or not, the process goes on as before.
    result = await case.complete("referral_consent", ReferralConsent(interested=False))
    assert result.stage == "follow_up"


async def test_without_a_future_departure_deadline_no_letter_is_made(case: CaseDriver) -> None:
    await case.open(status="geduldet", no_deadline=True)
    await case.complete(
        "information_conversation", lacking_livelihood(await case.today(), departure_letter=None)
    )
    assert set(await listed(case)) == {"gespraechsprotokoll", "einwilligung"}
    assert "document_skipped" in await case.timeline_kinds()


async def test_the_record_prints_the_interpreter_as_recorded(case: CaseDriver) -> None:
    """By video, in Farsi, with the representative: the person's copy says so (German beside
    Arabic, the person's language); how the copy reached them stays in the record."""
    await case.open()
    held = {
        "language": "fa",
        "interpreter": {"language": "fa", "mode": "by_video"},
        "participants": ["representative", "person"],
        "record_copy": "sent",
    }
    await case.complete("information_conversation", lacking_livelihood(await case.today(), **held))
    text = pdf_text(await pdf(case, (await listed(case))["gespraechsprotokoll"].document_id))
    assert "Gesprächssprache: Farsi/Dari" in text and "لغة المحادثة: الفارسية/الدارية" in text
    # (The line breaks after "Farsi/": the reader of the marks keeps the break as a space.)
    assert "Dolmetscher für Farsi/ Dari war per Video zugeschaltet." in text
    assert "teilgenommen: Sie selbst; Ihre bevollmächtigte Vertretung" in text
    assert "zugesandt" not in text and "sent" not in text
    completion = await case.pool.fetchval(
        "SELECT completion FROM tasks WHERE case_id = $1 AND kind = 'information_conversation'",
        case.case_id,
    )
    assert completion["record_copy"] == "sent" and completion["departure_letter"] == "handed_over"


def changed_texts(root: Path) -> Path:
    """A copy of the templates in which the German conversation record says something else."""
    texts = root / "texts"
    shutil.copytree(TEXTS_DIR, texts)
    path = texts / "gespraechsprotokoll" / "de.json"
    raw = json.loads(path.read_text("utf-8"))
    raw["texts"]["closing"] = "Neu gefasst: Bitte kommen Sie mit Ihren Unterlagen zur Beratung."
    path.write_text(json.dumps(raw, ensure_ascii=False), "utf-8")
    return texts


async def test_a_case_keeps_the_version_it_received_when_the_texts_change(
    dev_env: WorkflowEnvironment,
    pool: asyncpg.Pool,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # On the dev server: a workflow moving from a stopped worker to a new one waits out the
    # sticky-queue timeout, which the time-skipping server never lets pass during an update.
    async with running_worker(dev_env, pool) as task_queue:
        before = CaseDriver(dev_env, pool, task_queue, TIMINGS)
        await before.open()
        await before.complete("information_conversation", lacking_livelihood(await before.today()))
    received = (await listed(before))["gespraechsprotokoll"]
    received_pdf = await pdf(before, received.document_id)

    # The ABH changes the text; the worker is restarted with it.
    monkeypatch.setenv("CASE_DOCUMENT_TEXTS_DIR", str(changed_texts(tmp_path)))
    async with running_worker(dev_env, pool, task_queue=task_queue):
        after = CaseDriver(dev_env, pool, task_queue, TIMINGS)
        await after.open()
        await after.complete("information_conversation", lacking_livelihood(await after.today()))
        # The earlier case goes on under the new texts without touching what it received.
        await before.complete("referral_consent", ReferralConsent(interested=False))
    try:
        new = (await listed(after))["gespraechsprotokoll"]
        assert new.template_version != received.template_version
        assert "Neu gefasst" in pdf_text(await pdf(after, new.document_id))

        kept = (await listed(before))["gespraechsprotokoll"]
        assert kept == received
        assert await pdf(before, received.document_id) == received_pdf
        assert "Neu gefasst" not in pdf_text(received_pdf)

        # A retry of the earlier request (same document id) after the change answers with
        # what was stored, not with a new rendering.
        retried = await CaseDocuments(pool, texts_dir=tmp_path / "texts").produce(
            DocumentRequest(
                entry=Entry(
                    case_id=before.case_id,
                    seq=999,
                    at=datetime.now(UTC),
                    kind="document",
                    detail="gespraechsprotokoll",
                ),
                document_id=received.document_id,
                kind=DocumentKind.GESPRAECHSPROTOKOLL,
                issued_on=await before.today(),
                conversation={
                    "held_on": await before.today(),
                    "routes": [{"route": "§25b AufenthG"}],
                },
            )
        )
        assert retried == received
    finally:
        await before.terminate()
        await after.terminate()
