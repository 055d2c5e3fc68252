"""Attachments on a case (issue 14, point 4): the signed consent, a Grenzübertrittsbescheinigung.

On real PostgreSQL and the dev server, through the API: a file is taken only as PDF, JPEG or
PNG by its content (a PNG named ``.pdf`` is refused), only up to the limit (a larger body is
not read to its end), stored sealed with the case's key (the stored bytes do not hold the
file, and do not open under another attachment), downloaded with its detected type and logged
as an opening; erasure leaves nothing readable. The KI attaches to a case disclosed to it and
sees only its own; without the disclosure the case does not exist for it.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from api.uploads import FORM_ROOM, MALFORMED
from config.settings import Settings
from protection.erasure import erase_case
from protection.keyring import case_scope
from protection.sealed import SealBroken, unseal
from schemas.accounts import Role
from schemas.attachments import DEFAULT_MAX_BYTES
from service.attachments import AttachmentService
from tests.sitekit import Site
from tests.test_api import V1, event, open_case, to_follow_up, today
from tests.test_retention import wait_until
from tests.test_web import field_block, referred_on_the_pages

MiB = 1024 * 1024


def pdf(marker: str) -> bytes:
    return (
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Title (" + marker.encode() + b") >> endobj\n"
        b"trailer << /Root 1 0 R >>\n%%EOF\n"
    )


def png(size: int = 64) -> bytes:
    head = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
    return head + secrets.token_bytes(max(size - len(head), 0))


def jpeg(size: int = 64) -> bytes:
    head = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
    return head + secrets.token_bytes(max(size - len(head), 0))


async def upload(
    client: httpx.AsyncClient,
    case_id: str,
    content: bytes,
    *,
    name: str = "scan.pdf",
    content_type: str = "application/pdf",
    kind: str | None = "consent",
    description: str | None = None,
) -> httpx.Response:
    fields = {"kind": kind, "description": description}
    return await client.post(
        f"{V1}/cases/{case_id}/attachments",
        data={key: value for key, value in fields.items() if value is not None},
        files={"file": (name, content, content_type)},
    )


def refused_at(response: httpx.Response, field: str) -> str:
    assert response.status_code == 422, response.text
    where = ["body"] if field == "body" else ["body", field]
    found = [e for e in response.json()["errors"] if e["loc"] == where]
    assert found, response.text
    message: str = found[0]["msg"]
    return message


async def test_an_attachment_is_kept_sealed_and_downloaded_as_it_was(
    app: FastAPI, http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    case_id = await open_case(http)
    marker = f"Einwilligung-{secrets.token_hex(6)}"
    content = pdf(marker)
    created = await upload(
        http, case_id, content, name=f"{marker}.pdf", description="Unterschrieben im Gespräch"
    )
    assert created.status_code == 201, created.text
    listed = created.json()
    assert listed["kind"] == "consent" and listed["content_type"] == "application/pdf"
    assert listed["size_bytes"] == len(content) and listed["uploader_role"] == "abh"
    assert listed["uploaded_by"] and listed["description"] == "Unterschrieben im Gespräch"

    # At rest: ciphertext under the case's own key; neither the file nor its name is there.
    row = await pool.fetchrow("SELECT * FROM case_attachments WHERE case_id = $1", case_id)
    assert row is not None
    assert content not in row["sealed"] and marker.encode() not in row["sealed"]
    assert len(row["sealed"]) == len(content) + 12 + 16  # nonce, ciphertext, tag
    assert row["key_id"] == await pool.fetchval(
        "SELECT key_id FROM data_keys WHERE scope = $1 AND shredded_at IS NULL",
        case_scope(case_id),
    )
    whole_row = await pool.fetchval("SELECT to_jsonb(t)::text FROM case_attachments t")
    assert marker not in whole_row
    audit = await pool.fetchval(
        "SELECT detail::text FROM audit_log WHERE action = 'attachment_added' AND case_id = $1",
        case_id,
    )
    assert listed["attachment_id"] in audit and marker not in audit
    assert "Unterschrieben" not in audit

    [entry] = (await http.get(f"{V1}/cases/{case_id}/attachments")).json()
    assert entry == listed
    got = await http.get(f"{V1}/cases/{case_id}/attachments/{listed['attachment_id']}")
    assert got.status_code == 200, got.text
    assert got.content == content
    assert got.headers["content-type"] == "application/pdf"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-disposition"] == (
        f'attachment; filename="Einwilligung-{case_id}-{today().isoformat()}-'
        f'{uuid.UUID(listed["attachment_id"]).hex[:8]}.pdf"'
    )
    assert "no-store" in got.headers["cache-control"]
    opened = await pool.fetch(
        "SELECT username, role FROM access_log WHERE case_id = $1 AND what = 'api: attachment'",
        case_id,
    )
    assert [r["role"] for r in opened] == ["abh"]

    # The sealed bytes belong to this attachment: copied to another, they do not open.
    service: AttachmentService = app.state.attachments
    moved = uuid.uuid4()
    await pool.execute(
        "INSERT INTO case_attachments SELECT $2, case_id, kind, description, content_type,"
        " size_bytes, key_id, sealed, uploaded_by, uploader_role, uploaded_at"
        " FROM case_attachments WHERE case_id = $1",
        case_id,
        moved,
    )
    with pytest.raises(SealBroken):
        await unseal(
            app.state.keys, row["key_id"], row["sealed"], f"case-attachment|{case_id}|{moved}"
        )
    # Listed under the copy's id, the moved bytes do not open: a refusal that says so, no 500.
    broken = await http.get(f"{V1}/cases/{case_id}/attachments/{moved}")
    assert broken.status_code == 409, broken.text
    assert "integrity" in broken.text
    unknown = await http.get(f"{V1}/cases/{case_id}/attachments/{uuid.uuid4()}")
    assert unknown.status_code == 404
    assert service.max_bytes == DEFAULT_MAX_BYTES == 10 * MiB


async def test_the_type_is_judged_by_the_content(
    http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    case_id = await open_case(http)
    # A PNG renamed .pdf (and sent as a PDF), or only named so: refused.
    assert "PNG" in refused_at(await upload(http, case_id, png()), "file")
    renamed = await upload(http, case_id, png(), name="scan.pdf", content_type="image/png")
    assert (
        refused_at(renamed, "file") == "the content is PNG, the file name's ending says otherwise"
    )
    mislabelled = await upload(
        http, case_id, png(), name="scan.png", content_type="application/pdf"
    )
    assert refused_at(mislabelled, "file") == (
        "the content is PNG, the declared content type says otherwise"
    )
    text = await upload(http, case_id, b"Hallo, kein PDF", name="a.pdf")
    assert "PDF, JPEG or PNG" in refused_at(text, "file")
    html = await upload(http, case_id, b"<html><script>x</script>", name="a.png", content_type="")
    assert "PDF, JPEG or PNG" in refused_at(html, "file")
    assert refused_at(await upload(http, case_id, b""), "file") == "the file is empty"
    # The other fields, and a body that is no form.
    assert refused_at(await upload(http, case_id, pdf("x"), kind=None), "kind")
    assert refused_at(await upload(http, case_id, pdf("x"), kind="passport"), "kind")
    long = await upload(http, case_id, pdf("x"), description="x" * 201)
    assert refused_at(long, "description")
    nul = await upload(http, case_id, pdf("x"), description="A\u0000B")
    assert refused_at(nul, "description")
    no_file = await http.post(f"{V1}/cases/{case_id}/attachments", files={"kind": (None, "other")})
    assert refused_at(no_file, "file")
    as_json = await http.post(f"{V1}/cases/{case_id}/attachments", json={"kind": "other"})
    assert refused_at(as_json, "body") == "must be multipart/form-data"
    assert await pool.fetchval("SELECT count(*) FROM case_attachments") == 0
    # What is taken: a JPEG photo (any case of the ending, a type of its aliases), a PNG scan
    # without a name's ending, a PDF sent as octet-stream.
    for content, name, declared in (
        (jpeg(), "Foto.JPG", "image/jpeg"),
        (jpeg(), "foto.jpeg", "image/pjpeg"),
        (png(), "scan", "image/png"),
        (pdf("y"), "brief.pdf", "application/octet-stream"),
    ):
        taken = await upload(http, case_id, content, name=name, content_type=declared, kind="other")
        assert taken.status_code == 201, (name, taken.text)
    kinds = [
        a["content_type"] for a in (await http.get(f"{V1}/cases/{case_id}/attachments")).json()
    ]
    assert sorted(kinds) == ["application/pdf", "image/jpeg", "image/jpeg", "image/png"]
    assert (await upload(http, "GIBT-ES-NICHT", pdf("z"))).status_code == 404


async def test_the_size_limit_refuses_without_reading_the_rest(
    http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    case_id = await open_case(http)
    limit = DEFAULT_MAX_BYTES
    just = await upload(http, case_id, png(limit), name="gross.png", content_type="image/png")
    assert just.status_code == 201, just.text
    over = await upload(
        http, case_id, png(limit + 1), name="zu-gross.png", content_type="image/png"
    )
    assert refused_at(over, "file") == f"larger than the limit of {limit} bytes"

    # A body without a length that would go on and on (64 MiB): refused once it passes the
    # limit and the form's room, the rest never read.
    sent = 0
    boundary = "grenze"

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="kind"\r\n\r\nother\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode() + png(1024)
        for _ in range(64):
            sent += MiB
            yield bytes(MiB)

    streamed = await http.post(
        f"{V1}/cases/{case_id}/attachments",
        content=endless(),
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert refused_at(streamed, "file") == f"larger than the limit of {limit} bytes"
    assert sent <= limit + FORM_ROOM + MiB
    assert await pool.fetchval("SELECT count(*) FROM case_attachments") == 1


async def test_erasure_leaves_nothing_readable(
    app: FastAPI, http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    case_id = await open_case(http)
    departed = event(case_id, 2, status="ausgereist", departure_deadline=None)
    assert (await http.post(f"{V1}/status-events", json=departed)).status_code == 202
    await wait_until(
        "SELECT closed_at IS NOT NULL FROM cases WHERE case_id = $1", case_id, pool=pool
    )
    # After the departure: the border crossing certificate comes in.
    content = pdf(f"Grenzuebertritt-{secrets.token_hex(6)}")
    created = await upload(http, case_id, content, kind="border_crossing")
    assert created.status_code == 201, created.text
    attachment_id = created.json()["attachment_id"]
    backup = await pool.fetchrow("SELECT key_id, sealed FROM case_attachments")  # a backup's copy
    assert backup is not None
    report = (await http.get(f"{V1}/cases/{case_id}/access-report")).json()
    assert [a["kind"] for a in report["attachments"]] == ["border_crossing"]
    assert report["attachments"][0]["attachment_id"] == attachment_id

    result = await erase_case(pool, app.state.keys, case_id, reason="manual")
    assert result.rows_removed["case_attachments"] == 1
    assert await pool.fetchval("SELECT count(*) FROM case_attachments") == 0
    context = f"case-attachment|{case_id}|{attachment_id}"
    assert await unseal(app.state.keys, backup["key_id"], backup["sealed"], context) is None
    assert (
        await pool.fetchval("SELECT wrapped FROM data_keys WHERE key_id = $1", backup["key_id"])
        is None
    )
    gone = await http.get(f"{V1}/cases/{case_id}/attachments/{attachment_id}")
    assert gone.status_code == 404
    assert (await http.get(f"{V1}/cases/{case_id}/attachments")).json() == []
    again = await upload(http, case_id, content, kind="border_crossing")
    assert again.status_code == 409, again.text
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM data_keys WHERE scope = $1 AND shredded_at IS NULL",
            case_scope(case_id),
        )
        == 0
    )  # no new key for an erased case


async def test_the_ki_attaches_to_a_disclosed_case_and_sees_only_its_own(
    http: httpx.AsyncClient, ki: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    # Without a disclosure the case does not exist for the KI: as an unknown case.
    hidden = await open_case(http)
    abh_file = await upload(http, hidden, pdf("abh"))
    assert abh_file.status_code == 201
    unknown = await ki.get(f"{V1}/cases/GIBT-ES-NICHT/attachments")
    for response in (
        await ki.get(f"{V1}/cases/{hidden}/attachments"),
        await ki.get(f"{V1}/cases/{hidden}/attachments/{abh_file.json()['attachment_id']}"),
        await upload(ki, hidden, pdf("ki")),
    ):
        assert (response.status_code, response.json()["type"], response.json()["detail"]) == (
            404,
            "/problems/not-found",
            "unknown case",
        )
    assert unknown.status_code == 404

    case_id = await to_follow_up(http, ki)
    consent = await upload(http, case_id, pdf("consent"), kind="consent")
    crossing = await upload(ki, case_id, jpeg(), name="foto.jpg", content_type="image/jpeg",
                            kind="border_crossing", description="Foto vom Flughafen")  # fmt: skip
    assert crossing.status_code == 201, crossing.text
    assert crossing.json()["uploader_role"] == "ki"
    ki_list = (await ki.get(f"{V1}/cases/{case_id}/attachments")).json()
    assert [a["attachment_id"] for a in ki_list] == [crossing.json()["attachment_id"]]
    abh_list = (await http.get(f"{V1}/cases/{case_id}/attachments")).json()
    assert {a["uploader_role"] for a in abh_list} == {"abh", "ki"}
    theirs = await ki.get(f"{V1}/cases/{case_id}/attachments/{consent.json()['attachment_id']}")
    assert theirs.status_code == 404
    own = await ki.get(f"{V1}/cases/{case_id}/attachments/{crossing.json()['attachment_id']}")
    assert own.status_code == 200 and own.headers["content-type"] == "image/jpeg"
    roles = await pool.fetch(
        "SELECT role, what FROM access_log WHERE case_id = $1 AND what LIKE 'api: attachment%'"
        " ORDER BY access_id",
        case_id,
    )
    assert [(r["role"], r["what"]) for r in roles] == [
        ("ki", "api: attachments"),
        ("abh", "api: attachments"),
        ("ki", "api: attachment"),
    ]

    # The consent withdrawn: the case is gone for the KI, its own attachment too.
    withdrawn = await http.post(
        f"{V1}/cases/{case_id}/consent-withdrawal", json={"withdrawn_on": str(today())}
    )
    assert withdrawn.status_code == 200, withdrawn.text
    assert (await ki.get(f"{V1}/cases/{case_id}/attachments")).status_code == 404
    assert (await upload(ki, case_id, pdf("later"))).status_code == 404


def test_the_limit_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASE_ATTACHMENT_MAX_BYTES", str(2 * MiB))
    assert Settings().attachment_max_bytes == 2 * MiB
    monkeypatch.setenv("CASE_ATTACHMENT_MAX_BYTES", "0")
    with pytest.raises(ValueError, match="CASE_ATTACHMENT_MAX_BYTES"):
        Settings()


# ----------------------------------------------------------------------------- pages


def _attachment_form(html: str, case_id: str) -> str:
    return html.split(f'action="/faelle/{case_id}/anlagen"')[1].split("</form>")[0]


async def test_the_case_pages_list_take_and_refuse_attachments_in_german(site: Site) -> None:
    case_id = await site.open_case()
    async with await site.person(Role.ABH) as abh:
        page = await abh.get(f"/faelle/{case_id}")
        assert '<h2 id="anlagen">Anlagen</h2>' in page.text and "Noch keine Anlagen." in page.text
        assert 'enctype="multipart/form-data"' in page.text
        url = f"/faelle/{case_id}/anlagen"

        # A PNG renamed .pdf: the page again (422), the reason at the file, the input kept.
        renamed = await abh.post(
            url,
            data={"kind": "border_crossing", "description": "Ausreise über Düsseldorf"},
            files={"file": ("bescheinigung.pdf", png(), "application/pdf")},
        )
        assert renamed.status_code == 422
        form = _attachment_form(renamed.text, case_id)
        file_field = field_block(form, "file")
        assert 'aria-invalid="true"' in file_field
        assert "Die Datei ist nach ihrem Inhalt PNG, der angegebene Dateityp sagt" in file_field
        assert '<option value="border_crossing" selected>' in form
        assert 'value="Ausreise über Düsseldorf"' in form
        assert '<details class="action" open>' in renamed.text
        # Nothing chosen: both fields say so, in German (a browser sends the empty file part).
        empty = await abh.post(
            url, data={"kind": "", "description": ""}, files={"file": ("", b"", "")}
        )
        assert empty.status_code == 422
        form = _attachment_form(empty.text, case_id)
        assert "Bitte eine Datei auswählen (PDF, JPEG oder PNG)." in field_block(form, "file")
        assert "Bitte ausfüllen." in field_block(form, "kind")
        big = await abh.post(
            url, data={"kind": "other"}, files={"file": ("gross.png", png(DEFAULT_MAX_BYTES + 1))}
        )
        assert big.status_code == 422
        assert "Die Datei ist zu groß: höchstens 10 MiB." in big.text

        content = pdf("Grenzuebertritt")
        done = await abh.post(
            url,
            data={"kind": "border_crossing", "description": "Ausreise über Düsseldorf"},
            files={"file": ("bescheinigung.pdf", content, "application/pdf")},
        )
        assert done.status_code == 303, done.text
        assert done.headers["location"] == f"/faelle/{case_id}?meldung=anlage_gespeichert"
        shown = (await abh.get(done.headers["location"])).text
        assert "Die Anlage ist gespeichert (verschlüsselt)." in shown
        assert "Grenzübertrittsbescheinigung" in shown and "Ausreise über Düsseldorf" in shown
        link = shown.split(f'href="/faelle/{case_id}/anlagen/')[1].split('"')[0]
        got = await abh.get(f"/faelle/{case_id}/anlagen/{link}")
        assert got.status_code == 200 and got.content == content
        assert got.headers["content-type"] == "application/pdf"
        assert got.headers["content-disposition"].startswith(
            'attachment; filename="Grenzuebertrittsbescheinigung-'
        )
        assert got.headers["x-content-type-options"] == "nosniff"
        for wrong in (str(uuid.uuid4()), "kein-uuid"):
            missing = await abh.get(f"/faelle/{case_id}/anlagen/{wrong}")
            assert missing.status_code == 404 and "Diese Anlage gibt es nicht." in missing.text
    logged = await site.pool.fetchval(
        "SELECT count(*) FROM access_log WHERE case_id = $1 AND what = 'Anlage'", case_id
    )
    assert logged == 1

    # The KI: not this case (no disclosure); on a referred one, its own only.
    async with await site.person(Role.KI) as ki:
        refused = await ki.post(url, data={"kind": "other"}, files={"file": ("a.pdf", pdf("k"))})
        assert refused.status_code == 404
        assert (await ki.get(f"/faelle/{case_id}/anlagen/{link}")).status_code == 404
        referred = await referred_on_the_pages(site)
        page = await ki.get(f"/faelle/{referred}")
        assert "Sie sehen hier nur die Anlagen, die das KI hochgeladen hat." in page.text
        taken = await ki.post(
            f"/faelle/{referred}/anlagen",
            data={"kind": "other"},
            files={"file": ("foto.jpg", jpeg(), "image/jpeg")},
        )
        assert taken.status_code == 303, taken.text
        page = await ki.get(taken.headers["location"])
        assert "JPEG-Bild" in page.text and "(KI)" in page.text


async def test_a_form_with_more_or_other_fields_is_refused_naming_them(
    http: httpx.AsyncClient,
) -> None:
    case_id = await open_case(http)
    url = f"{V1}/cases/{case_id}/attachments"
    two = await http.post(
        url,
        data={"kind": "other"},
        files=[
            ("file", ("a.pdf", pdf("a"), "application/pdf")),
            ("file", ("b.pdf", pdf("b"), "application/pdf")),
        ],
    )
    assert refused_at(two, "file") == "given more than once"
    extra = await http.post(
        url, data={"kind": "other", "title": "x"}, files={"file": ("a.pdf", pdf("a"))}
    )
    assert refused_at(extra, "title") == "not a field of this form"
    text_file = await http.post(url, files={"kind": (None, "other"), "file": (None, "kein")})
    assert refused_at(text_file, "file") == "must be a file"
    broken = await http.post(
        url, content=b"--x\r\nnonsense", headers={"content-type": "multipart/form-data"}
    )
    assert refused_at(broken, "body") == MALFORMED
    assert (await http.get(f"{V1}/cases/{case_id}/attachments")).json() == []
