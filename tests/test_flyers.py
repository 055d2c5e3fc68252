"""Flyer versions from the offer directory, on a real PostgreSQL (and a real worker).

Every town of the county gets a flyer (Lünen included, county-wide offers in each); a change
of an entry or of a text makes a new version while the old one stays stored byte for byte;
the same question twice, or at once, gives one stored version.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import re
import uuid
from datetime import timedelta
from pathlib import Path

import asyncpg
import httpx
import pypdf
import pytest
from temporalio import workflow
from temporalio.client import WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from documents.flyers import (
    EmptyDirectory,
    UnknownTown,
    issue_flyer,
    resolve_town,
    town_directory,
)
from documents.texts import LANGUAGES, TEXTS_DIR
from runtime.worker import build_activities
from schemas.documents import DocumentFlag, OfferCategory
from schemas.flyers import FlyerRequest, IssuedFlyer
from schemas.offers import COUNTY, COUNTY_TOWNS, OfferDraft
from schemas.partners import PartnerDraft
from schemas.records import ActivityName
from store import flyers as flyer_store
from store import offers as offer_store
from store import partners as partner_store
from tests.test_api import V1, locs
from tests.test_documents import copy_texts, edit, words


def pdf_words(pdf: bytes) -> str:
    """The PDF's text as extracted, invisible marks removed, whitespace folded."""
    raw = "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)
    for invisible in "\u2060\u200f\u2066\u2069":
        raw = raw.replace(invisible, "")
    return re.sub(r"\s+", " ", raw)


def shows(text: str, phrase: str) -> bool:
    """Every word of ``phrase`` is in ``text`` (a name may wrap inside its column)."""
    return all(word in text for word in words(phrase))


async def issue(
    pool: asyncpg.Pool, town: str, language: str, texts_dir: Path = TEXTS_DIR
) -> IssuedFlyer:
    return await issue_flyer(pool, FlyerRequest(town=town, language=language), texts_dir=texts_dir)


async def pdf_of(pool: asyncpg.Pool, flyer_id: str) -> bytes:
    async with pool.acquire() as con:
        pdf = await flyer_store.flyer_pdf(con, flyer_id)
    assert pdf is not None
    return pdf


# ------------------------------------------------------------------ every town


async def test_every_town_has_every_category_locally_or_county_wide(pool: asyncpg.Pool) -> None:
    for town in COUNTY_TOWNS:
        directory = await town_directory(pool, town)
        assert {offer.category for offer in directory.offers} == set(OfferCategory), town
        county_wide = {offer.name for offer in directory.offers if offer.town == COUNTY}
        assert "Integrationskurse und Deutschkurse der Volkshochschulen" in county_wide, town
        assert any(offer.town == town for offer in directory.offers), town  # its partner


async def test_every_town_gets_a_flyer_in_german_and_another_language(
    pool: asyncpg.Pool,
) -> None:
    others = [language for language in LANGUAGES if language != "de"]
    for index, town in enumerate(COUNTY_TOWNS):  # Lünen included
        directory = await town_directory(pool, town)
        for language in ("de", others[index % len(others)]):
            flyer = await issue(pool, town, language)
            assert flyer.town == town and flyer.requested_language == language
            assert flyer.languages == (["de"] if language == "de" else ["de", language])
            assert flyer.directory_version == directory.version
            assert DocumentFlag.EXAMPLE_DATA in flyer.flags  # the seed is sample data
            text = pdf_words(await pdf_of(pool, flyer.flyer_id))
            assert shows(text, f"Beratung und Unterstützung in {town}"), (town, language)
            for offer in directory.offers:
                assert shows(text, offer.name), (town, language, offer.name)
                assert shows(text, offer.hours), (town, language, offer.hours)
    assert await pool.fetchval("SELECT count(*) FROM flyer_versions") == 2 * len(COUNTY_TOWNS)


# ------------------------------------------------------------------ versions


async def test_asking_twice_gives_the_same_version(pool: asyncpg.Pool) -> None:
    first = await issue(pool, "Unna", "ar")
    again = await issue(pool, "unna ", "ar")  # the county's spelling is found
    assert again == first
    assert await pool.fetchval("SELECT count(*) FROM flyer_versions") == 1


async def test_concurrent_requests_store_one_version(pool: asyncpg.Pool) -> None:
    flyers = await asyncio.gather(*(issue(pool, "Selm", "tr") for _ in range(4)))
    assert len({flyer.flyer_id for flyer in flyers}) == 1
    assert await pool.fetchval("SELECT count(*) FROM flyer_versions") == 1


async def test_a_changed_partner_makes_a_new_version_and_the_old_one_stays(
    pool: asyncpg.Pool,
) -> None:
    old = await issue(pool, "Kamen", "uk")
    old_pdf = await pdf_of(pool, old.flyer_id)
    assert "Di 9:00–12:00" not in pdf_words(old_pdf)

    async with pool.acquire() as con:
        partner = (await partner_store.list_partners(con, "Kamen"))[0]
        draft = PartnerDraft.model_validate(
            {
                **partner.model_dump(include=set(PartnerDraft.model_fields)),
                "address": "Am Markt 1",
                "hours": "Di 9:00–12:00",
            }
        )
        changed = await partner_store.update_partner(con, partner.partner_id, draft)
    assert changed is not None and not changed.example  # an admin's edit: no longer a sample

    new = await issue(pool, "Kamen", "uk")
    assert new.flyer_id != old.flyer_id
    assert new.directory_version != old.directory_version
    assert new.template_version == old.template_version
    text = pdf_words(await pdf_of(pool, new.flyer_id))
    assert shows(text, "Di 9:00–12:00") and shows(text, "Am Markt 1")

    # The version handed out before is still there, unchanged, and listed.
    assert await pdf_of(pool, old.flyer_id) == old_pdf
    async with pool.acquire() as con:
        listed = await flyer_store.list_flyers(con, "Kamen")
    assert [flyer.flyer_id for flyer in listed] == [new.flyer_id, old.flyer_id]
    # Other towns' flyers do not change with Kamen's partner.
    assert (await issue(pool, "Werne", "uk")).directory_version == (
        await town_directory(pool, "Werne")
    ).version


async def test_a_changed_county_wide_offer_changes_every_town(pool: asyncpg.Pool) -> None:
    before = {town: (await town_directory(pool, town)).version for town in COUNTY_TOWNS}
    old = await issue(pool, "Lünen", "de")
    async with pool.acquire() as con:
        courses = next(
            o for o in await offer_store.list_offers(con) if o.category == "language_course"
        )
        draft = OfferDraft.model_validate(
            {**courses.model_dump(include=set(OfferDraft.model_fields)), "hours": "Mo–Fr 8–16 Uhr"}
        )
        assert await offer_store.update_offer(con, courses.offer_id, draft) is not None
    after = {town: (await town_directory(pool, town)).version for town in COUNTY_TOWNS}
    assert all(before[town] != after[town] for town in COUNTY_TOWNS)
    new = await issue(pool, "Lünen", "de")
    assert new.flyer_id != old.flyer_id
    assert shows(pdf_words(await pdf_of(pool, new.flyer_id)), "Mo–Fr 8–16 Uhr")


async def test_a_new_local_offer_and_a_removed_one(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as con:
        cafe = await offer_store.add_offer(
            con,
            OfferDraft(
                name="Sprachcafé Bönen",
                category=OfferCategory.LANGUAGE_COURSE,
                town="Bönen",
                address="Bahnhofstraße 5",
                hours="Fr 10:00–12:00",
                languages=["de", "ar"],
            ),
        )
    assert not cafe.example
    with_cafe = await issue(pool, "Bönen", "de")
    assert shows(pdf_words(await pdf_of(pool, with_cafe.flyer_id)), "Sprachcafé Bönen")
    elsewhere = await issue(pool, "Selm", "de")
    assert "Sprachcafé Bönen" not in pdf_words(await pdf_of(pool, elsewhere.flyer_id))

    async with pool.acquire() as con:
        assert await offer_store.deactivate_offer(con, cafe.offer_id)
    without = await issue(pool, "Bönen", "de")
    assert without.flyer_id != with_cafe.flyer_id
    assert "Sprachcafé" not in pdf_words(await pdf_of(pool, without.flyer_id))


async def test_a_changed_text_makes_a_new_version(pool: asyncpg.Pool, tmp_path: Path) -> None:
    old = await issue(pool, "Schwerte", "fr")
    texts = copy_texts(tmp_path)
    edit(texts / "flyer" / "fr.json", {"intro": "Ces services vous conseillent gratuitement."})
    new = await issue(pool, "Schwerte", "fr", texts_dir=texts)
    assert new.flyer_id != old.flyer_id
    assert new.directory_version == old.directory_version
    assert new.template_version != old.template_version
    assert new.content_hash != old.content_hash
    # Asking again with the edited texts finds the version just made.
    assert (await issue(pool, "Schwerte", "fr", texts_dir=texts)).flyer_id == new.flyer_id


async def test_a_language_without_texts_gives_german_and_english(pool: asyncpg.Pool) -> None:
    flyer = await issue(pool, "Holzwickede", "ps")
    assert flyer.languages == ["de", "en"]
    assert DocumentFlag.LANGUAGE_FALLBACK in flyer.flags


async def test_the_directory_version_is_the_hash_of_what_was_stored(pool: asyncpg.Pool) -> None:
    flyer = await issue(pool, "Fröndenberg/Ruhr", "ru")
    async with pool.acquire() as con:
        directory = await flyer_store.flyer_directory(con, flyer.flyer_id)
        assert await flyer_store.flyer_pdf(con, "not-a-uuid") is None
        assert await flyer_store.flyer_pdf(con, str(uuid.uuid4())) is None
    assert directory is not None
    assert hashlib.sha256(directory.encode("utf-8")).hexdigest() == flyer.directory_version


async def test_an_unknown_town_is_refused(pool: asyncpg.Pool) -> None:
    with pytest.raises(UnknownTown) as refused:
        await issue(pool, "Dortmund", "de")
    assert refused.value.field == "town" and "Lünen" in refused.value.message
    assert resolve_town("LÜNEN") == "Lünen"
    assert await pool.fetchval("SELECT count(*) FROM flyer_versions") == 0


async def test_a_town_without_any_entry_is_refused(pool: asyncpg.Pool) -> None:
    await pool.execute("UPDATE offers SET active = false")
    await pool.execute("UPDATE partners SET active = false WHERE town = 'Bergkamen'")
    with pytest.raises(EmptyDirectory):
        await issue(pool, "Bergkamen", "de")


# ------------------------------------------------------------- the activity


@workflow.defn(sandboxed=False)
class FlyerProbe:
    """What the arrival workflow does with the activity: ask, record the id."""

    @workflow.run
    async def run(self, request: FlyerRequest) -> IssuedFlyer:
        issued: IssuedFlyer = await workflow.execute_activity(
            ActivityName.ISSUE_FLYER,
            request,
            result_type=IssuedFlyer,
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=RetryPolicy(maximum_attempts=3),
        )
        return issued


async def test_the_activity_through_a_real_worker(
    time_env: WorkflowEnvironment, pool: asyncpg.Pool
) -> None:
    task_queue = f"flyers-{uuid.uuid4().hex}"
    async with Worker(
        time_env.client,
        task_queue=task_queue,
        workflows=[FlyerProbe],
        activities=build_activities(pool, None),  # type: ignore[arg-type]  # flyers need no keys
    ):
        issued = await time_env.client.execute_workflow(
            FlyerProbe.run,
            FlyerRequest(town="Lünen", language="ar"),
            id=f"flyer-probe-{uuid.uuid4().hex}",
            task_queue=task_queue,
        )
        assert issued.town == "Lünen" and issued.languages == ["de", "ar"]
        assert (await pdf_of(pool, issued.flyer_id)).startswith(b"%PDF")
        assert issued == await issue(pool, "Lünen", "ar")

        with pytest.raises(WorkflowFailureError) as failed:
            await time_env.client.execute_workflow(
                FlyerProbe.run,
                FlyerRequest(town="Dortmund", language="de"),
                id=f"flyer-probe-{uuid.uuid4().hex}",
                task_queue=task_queue,
            )
    cause = failed.value.cause
    assert isinstance(cause, ActivityError)
    assert isinstance(cause.cause, ApplicationError)
    assert cause.cause.type == "UnknownTown" and cause.cause.non_retryable


# ------------------------------------------------------------------ the API


async def test_the_offer_directory_over_the_api(
    http: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    draft = {
        "name": f"Sprachcafé {uuid.uuid4().hex[:6]}",
        "category": "language_course",
        "address": "Stadtbücherei, Markt 2",
        "hours": "Fr 10:00–12:00",
    }
    created = await admin.post(f"{V1}/offers", json=draft)  # no town: county-wide
    assert created.status_code == 201, created.text
    offer = created.json()
    assert offer == {
        **draft,
        "town": None,
        "contact": None,
        "languages": [],
        "offer_id": offer["offer_id"],
        "active": True,
        "example": False,
    }
    offer_id = offer["offer_id"]
    for town in ("Unna", "Lünen"):  # county-wide: listed for every town
        listed = (await http.get(f"{V1}/offers", params={"town": town})).json()
        assert offer in listed
    assert (await admin.post(f"{V1}/offers", json=draft)).status_code == 409

    local = {**draft, "town": "selm", "languages": ["de", "ar"], "contact": "02592 0"}
    updated = await admin.put(f"{V1}/offers/{offer_id}", json=local)
    assert updated.status_code == 200, updated.text
    assert updated.json()["town"] == "Selm"  # the county's spelling
    assert offer_id not in [
        o["offer_id"] for o in (await http.get(f"{V1}/offers", params={"town": "Unna"})).json()
    ]

    assert (await admin.delete(f"{V1}/offers/{offer_id}")).status_code == 204
    assert (await http.get(f"{V1}/offers/{offer_id}")).json()["active"] is False
    assert (await admin.delete(f"{V1}/offers/999999")).status_code == 404
    assert (await admin.put(f"{V1}/offers/999999", json=draft)).status_code == 404
    assert (await http.get(f"{V1}/offers/999999")).status_code == 404

    # Bad input: 422 naming each field.
    assert locs(await admin.post(f"{V1}/offers", json={**draft, "category": "verein"})) == [
        ["body", "category"]
    ]
    assert locs(await admin.post(f"{V1}/offers", json={**draft, "town": "Dortmund"})) == [
        ["body", "town"]
    ]
    assert locs(
        await admin.post(f"{V1}/offers", json={**draft, "hours": " ", "languages": ["Deutsch"]})
    ) == [["body", "hours"], ["body", "languages", 0]]
    missing = {key: value for key, value in draft.items() if key != "address"}
    assert locs(await admin.post(f"{V1}/offers", json=missing)) == [["body", "address"]]
    assert locs(await admin.post(f"{V1}/offers", json={**draft, "extra": 1})) == [["body", "extra"]]
    assert locs(await http.get(f"{V1}/offers", params={"town": "Dortmund"})) == [["query", "town"]]
    assert locs(await http.get(f"{V1}/offers/0")) == [["path", "offer_id"]]


async def test_flyers_over_the_api(
    http: httpx.AsyncClient, ki: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    first = await ki.get(f"{V1}/flyers/Unna", params={"language": "ar"})
    assert first.status_code == 200, first.text
    assert first.headers["content-type"] == "application/pdf"
    assert first.headers["content-disposition"] == 'inline; filename="Faltblatt-Unna-de-ar.pdf"'
    flyer_id = first.headers["x-flyer-id"]
    assert first.content.startswith(b"%PDF")
    again = await http.get(f"{V1}/flyers/Unna", params={"language": "ar"})
    assert again.headers["x-flyer-id"] == flyer_id and again.content == first.content

    # A town with a slash in its name, encoded or not; German by default.
    for path in ("Fr%C3%B6ndenberg%2FRuhr", "Fröndenberg/Ruhr"):
        response = await http.get(f"{V1}/flyers/{path}")
        assert response.status_code == 200, response.text
        assert response.headers["content-disposition"].endswith(
            '"Faltblatt-Froendenberg-Ruhr-de.pdf"'
        )

    listed = (await http.get(f"{V1}/flyers", params={"town": "Unna"})).json()
    assert [item["flyer_id"] for item in listed] == [flyer_id]
    assert set(listed[0]) == set(IssuedFlyer.model_fields)  # metadata, no PDF
    assert len((await http.get(f"{V1}/flyers")).json()) == 2

    # An admin changes the town's partner: a new version; the old one is still there.
    partner = (await http.get(f"{V1}/partners", params={"town": "Unna"})).json()[0]
    changed = {
        key: partner[key] for key in ("name", "kind", "town", "contact", "languages", "address")
    }
    changed["hours"] = "Mi 14:00–16:00"
    assert (
        await admin.put(f"{V1}/partners/{partner['partner_id']}", json=changed)
    ).status_code == 200
    newer = await http.get(f"{V1}/flyers/Unna", params={"language": "ar"})
    assert newer.headers["x-flyer-id"] != flyer_id
    assert shows(pdf_words(newer.content), "Mi 14:00–16:00")
    old = await http.get(f"{V1}/flyer-versions/{flyer_id}")
    assert old.status_code == 200 and old.content == first.content
    assert old.headers["x-flyer-id"] == flyer_id
    assert (await http.get(f"{V1}/flyer-versions/{uuid.uuid4()}")).status_code == 404

    assert locs(await http.get(f"{V1}/flyers/Dortmund")) == [["path", "town"]]
    assert locs(await http.get(f"{V1}/flyers/Unna", params={"language": "Arabisch"})) == [
        ["query", "language"]
    ]
    assert locs(await http.get(f"{V1}/flyers", params={"town": "Dortmund"})) == [["query", "town"]]
    assert locs(await http.get(f"{V1}/flyer-versions/kein-flyer")) == [["path", "flyer_id"]]
