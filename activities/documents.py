"""The documents a person receives during the case: rendered, stored once, listed with the case.

The renderer (``documents/``) is pure; this adapter adds what lives in the case file (the
person's language, name and town, the partners in the town) and stores the PDF with the
template version and content hash it was made from. A document is stored once per
``document_id`` (chosen by the workflow): a retried activity, or one retried after the texts
changed, answers with the document already stored, so the record of what the person received
never changes afterwards.
"""

from __future__ import annotations

from pathlib import Path

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError

from documents import render_off_loop
from documents.flyers import town_directory
from documents.texts import TEXTS_DIR
from schemas.case_documents import AUTHORITY_CONTACT, CaseDocument, DocumentRequest
from schemas.documents import (
    ConsentContext,
    Consequence,
    ConversationRecordContext,
    DepartureLetterContext,
    DocumentContext,
    DocumentKind,
)
from schemas.gdpr import PersonData
from schemas.partners import Partner
from schemas.records import ActivityName
from store import documents as document_store
from store import partners as partner_store
from store import records, timeline

# What the record tells everyone without a route (DOMAIN.md: the negative consequences).
CONSEQUENCES = list(Consequence)

_NAMES = {
    DocumentKind.GESPRAECHSPROTOKOLL: "Gesprächsprotokoll",
    DocumentKind.AUSREISEINFORMATION: "Ausreiseinformationsschreiben",
    DocumentKind.EINWILLIGUNG: "Einwilligung und Schweigepflichtentbindung (Vordruck)",
}
_LINE = 300


def _joined(partners: list[Partner]) -> tuple[str, list[int]]:
    """Names for one line of the form (at most 300 characters, whole names only), and the
    partners named: those the signed form covers, and no other."""
    line, named = "", []
    for partner in partners:
        candidate = f"{line} / {partner.name}" if line else partner.name
        if len(candidate) > _LINE:
            break
        line = candidate
        named.append(partner.partner_id)
    return line or "–", named


class CaseDocuments:
    """Renders and stores the case's documents; ``texts_dir`` and the ABH's address injected."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        authority_contact: str = AUTHORITY_CONTACT,
        texts_dir: Path | None = None,
    ) -> None:
        self._pool = pool
        self._authority = authority_contact
        self._texts_dir = texts_dir or TEXTS_DIR

    @activity.defn(name=ActivityName.PRODUCE_DOCUMENT)
    async def produce(self, request: DocumentRequest) -> CaseDocument:
        case_id = request.entry.case_id
        async with self._pool.acquire() as con:
            stored = await document_store.document(con, case_id, request.document_id)
            if stored is not None:
                return stored
            person = await records.person(con, case_id)
            if person is None:
                raise ApplicationError("the case has no person (erased?)", non_retryable=True)
        context, recipients = await self._context(request, person)
        rendered = await render_off_loop(
            request.kind, person.language, context, texts_dir=self._texts_dir
        )
        flags = [flag.value for flag in rendered.flags]
        detail = _NAMES[request.kind] + (f" ({', '.join(flags)})" if flags else "")
        made = CaseDocument(
            document_id=request.document_id,
            kind=request.kind.value,
            languages=rendered.languages,
            template_version=rendered.template_version,
            content_hash=rendered.content_hash,
            flags=flags,
            created_at=request.entry.at,
            size=len(rendered.pdf),
            recipients=recipients,
        )
        async with self._pool.acquire() as con, con.transaction():
            await timeline.add_entry(con, request.entry.model_copy(update={"detail": detail}))
            stored_id = await document_store.add_document(con, case_id, made, rendered.pdf)
            if stored_id == made.document_id:
                return made
            # The same text in the same version stored before (a conversation recorded twice
            # on one day) is kept once: its first id answers.
            found = await document_store.document(con, case_id, stored_id)
        assert found is not None
        return found

    async def _context(
        self, request: DocumentRequest, person: PersonData
    ) -> tuple[DocumentContext, list[int] | None]:
        """What the kind prints, and (the consent form) the partners it names; the directory
        is read only by the kinds that name it."""
        file_reference = request.entry.case_id
        if request.kind is DocumentKind.GESPRAECHSPROTOKOLL:
            facts = request.conversation
            assert facts is not None
            # The counselling offers named in the record: the town's part of the directory,
            # the same entries as on the town's flyer.
            offers = list((await town_directory(self._pool, person.town)).offers)
            return ConversationRecordContext(
                conversation_date=facts.held_on,
                file_reference=file_reference,
                rule_version=", ".join(facts.rule_versions) or "–",
                routes=facts.routes,
                consequences=CONSEQUENCES,
                offers=offers,
                language=facts.language,
                interpreter=facts.interpreter,
                participants=facts.participants,
            ), None
        if request.kind is DocumentKind.AUSREISEINFORMATION:
            assert request.departure_deadline is not None
            return DepartureLetterContext(
                letter_date=request.issued_on,
                file_reference=file_reference,
                departure_deadline=request.departure_deadline,
                authority_contact=self._authority,
            ), None
        async with self._pool.acquire() as con:
            partners = await partner_store.list_partners(con, person.town)
        line, named = _joined(partners)
        return ConsentContext(
            person_name=f"{person.given_name} {person.family_name}",
            file_reference=file_reference,
            partner_name=line,
            town=person.town,
            withdrawal_contact=self._authority,
        ), named
