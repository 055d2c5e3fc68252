"""The CLI in-process against the real API app (real worker, Temporal dev server, PostgreSQL).

Checks what an operator sees: one line per event, the summary, the exit code, and that no
personal data from the input file is printed.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from schemas.accounts import Role
from starter import cli
from starter.csv_format import CsvFormatError, read_csv
from starter.session import load as saved_session
from tests.test_api import PASSWORD, V1, account_service, login_session, serving

FIXTURES = Path(__file__).parent / "fixtures"

# Everything personal in the fixtures: none of it may appear in the output.
PERSONAL = (
    "Leyla",
    "Beispielfrau",
    "Karim",
    "Musterhaft",
    "Olena",
    "Probestück",
    "Samir",
    "Vorlagemann",
    "Dilan",
    "Exempelkind",
    "Farid",
    "Platzhalter",
    "Rana",
    "Auswärtig",
    "Lindenweg",
    "Kirchplatz",
    "Bahnhofstraße",
    "555001",
    "example.org",
    "1991-02-03",
    "Irak",
    "irq",
)


@pytest.fixture(autouse=True)
def session_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where ``login`` keeps the session: per test, never the tester's own."""
    path = tmp_path / "config" / "sitzung.json"
    monkeypatch.setenv("CASE_CLI_SESSION_FILE", str(path))
    return path


@pytest.fixture
async def app(dev_env: WorkflowEnvironment, pool: asyncpg.Pool) -> AsyncIterator[FastAPI]:
    async with serving(dev_env, pool) as app:
        # The back office's API token (events) and an admin's session (partner commands).
        token = await account_service(app).create_api_token("backoffice")
        session = await login_session(app, Role.ADMIN)
        app.state.cli_auth = [f"--token={token}", f"--session={session}"]
        yield app


async def run_cli(app: FastAPI, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = await cli.run(
        ["--api", "http://test", *app.state.cli_auth, *argv],
        transport=httpx.ASGITransport(app=app),
        out=out,
    )
    return code, out.getvalue()


def fresh_copy(name: str, folder: Path) -> tuple[Path, str]:
    """The fixture with its case and event ids made unique, so reruns never collide."""
    prefix = f"CLI{uuid.uuid4().hex[:8]}-"
    target = folder / name
    target.write_text((FIXTURES / name).read_text("utf-8").replace("CLI-", prefix), "utf-8")
    return target, prefix


def assert_no_personal_data(output: str) -> None:
    for value in PERSONAL:
        assert value not in output


async def test_a_csv_file_is_sent_row_by_row(app: FastAPI, tmp_path: Path) -> None:
    path, prefix = fresh_copy("events.csv", tmp_path)
    code, output = await run_cli(app, "events", str(path))
    lines = output.splitlines()
    assert lines == [
        f"line 2: event {prefix}CSV-001-e1, case {prefix}CSV-001: opened, "
        "stage information_conversation",
        f"line 3: event {prefix}CSV-002-e1, case {prefix}CSV-002: opened, "
        "stage information_conversation",
        f"line 4: event {prefix}CSV-001-e2, case {prefix}CSV-001: updated, "
        "stage information_conversation",
        f"line 5: event {prefix}CSV-001-e1, case {prefix}CSV-001: duplicate, "
        "stage information_conversation",
        "line 6: refused, not sent: nationality: String should match pattern '^[A-Z]{3}$'",
        "summary: sent 4, opened 2, updated 1, duplicate 1, refused 1",
    ]
    assert code == 1
    assert_no_personal_data(output)


async def test_a_jsonl_file_reports_local_and_api_refusals(
    app: FastAPI, tmp_path: Path, pool: asyncpg.Pool
) -> None:
    path, prefix = fresh_copy("events.jsonl", tmp_path)
    code, output = await run_cli(app, "events", str(path))
    lines = output.splitlines()
    assert lines[:3] == [
        f"line 1: event {prefix}JSONL-001-e1, case {prefix}JSONL-001: opened, "
        "stage information_conversation",
        f"line 2: event {prefix}JSONL-002-e1, case {prefix}JSONL-002: opened, "
        "stage information_conversation",
        f"line 3: event {prefix}JSONL-001-e1, case {prefix}JSONL-001: duplicate, "
        "stage information_conversation",
    ]
    assert lines[3] == (
        "line 4: refused, not sent: person.nationality: String should match pattern '^[A-Z]{3}$'"
    )
    assert lines[4].startswith(
        f"line 5: event {prefix}JSONL-004-e1, case {prefix}JSONL-004: refused (422): "
        "person.address.town: not in the ABH's jurisdiction"
    )
    assert lines[5] == "summary: sent 4, opened 2, updated 0, duplicate 1, refused 2"
    assert code == 1
    assert_no_personal_data(output)
    # The refused lines never reached the case store.
    cases = await pool.fetchval(
        "SELECT count(*) FROM cases WHERE case_id LIKE $1", f"{prefix}JSONL-%"
    )
    assert cases == 2


async def test_one_event_from_the_command_line(app: FastAPI) -> None:
    case_id = f"CLI{uuid.uuid4().hex[:8]}-ONE"
    body = json.loads((FIXTURES / "events.jsonl").read_text("utf-8").splitlines()[0])
    body.update(event_id=f"{case_id}-e1", case_id=case_id)
    code, output = await run_cli(app, "event", json.dumps(body))
    assert code == 0
    assert output.splitlines() == [
        f"line 1: event {case_id}-e1, case {case_id}: opened, stage information_conversation",
        "summary: sent 1, opened 1, updated 0, duplicate 0, refused 0",
    ]


async def test_a_later_run_tells_an_update_of_a_case_the_token_reported(app: FastAPI) -> None:
    """The token reads back the cases it reported: a second run knows the case existed."""
    case_id = f"CLI{uuid.uuid4().hex[:8]}-TWO"
    body = json.loads((FIXTURES / "events.jsonl").read_text("utf-8").splitlines()[0])
    body.update(event_id=f"{case_id}-e1", case_id=case_id)
    assert (await run_cli(app, "event", json.dumps(body)))[0] == 0
    body.update(event_id=f"{case_id}-e2", status="geduldet")
    code, output = await run_cli(app, "event", json.dumps(body))
    assert code == 0
    assert output.splitlines()[-1] == "summary: sent 1, opened 0, updated 1, duplicate 0, refused 0"


async def test_a_token_reads_back_the_cases_it_reported_and_no_other(app: FastAPI) -> None:
    token = app.state.cli_auth[0].removeprefix("--token=")
    other = await account_service(app).create_api_token(f"other-{uuid.uuid4().hex[:6]}")
    case_id = f"CLI{uuid.uuid4().hex[:8]}-RB"
    body = json.loads((FIXTURES / "events.jsonl").read_text("utf-8").splitlines()[0])
    body.update(event_id=f"{case_id}-e1", case_id=case_id)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as http:
        sent = await http.post(
            f"{V1}/status-events", json=body, headers={"authorization": f"Bearer {token}"}
        )
        assert sent.status_code == 202, sent.text
        mine = await http.get(
            f"{V1}/reported-cases/{case_id}", headers={"authorization": f"Bearer {token}"}
        )
        theirs = await http.get(
            f"{V1}/reported-cases/{case_id}", headers={"authorization": f"Bearer {other}"}
        )
        unknown = await http.get(
            f"{V1}/reported-cases/{case_id}-X", headers={"authorization": f"Bearer {token}"}
        )
        anonymous = await http.get(f"{V1}/reported-cases/{case_id}")
    assert mine.status_code == 200
    assert mine.json() == {
        "case_id": case_id,
        "stage": "information_conversation",
        "residence_status": "ausreisepflichtig",
        "outcome": None,
    }
    assert_no_personal_data(mine.text)
    # Another token learns nothing: the answer of a case that does not exist.
    assert (theirs.status_code, theirs.json()["detail"]) == (404, "unknown case")
    assert (unknown.status_code, unknown.json()["detail"]) == (404, "unknown case")
    assert anonymous.status_code == 401


async def test_an_arrival_from_the_command_line(app: FastAPI) -> None:
    """Neu zugewandert: no case is opened, the arrival is taken in; nothing personal printed."""
    reference = f"CLI{uuid.uuid4().hex[:8]}-NZ"
    body = {
        "event_id": f"{reference}-a1",
        "case_id": reference,
        "status": "neu_zugewandert",
        "effective_date": "2026-11-27",
        "person": {
            "given_name": "Olena",
            "family_name": "Probestück",
            "date_of_birth": "1991-02-03",
            "nationality": "UKR",
            "language": "uk",
            "email": "olena@example.org",
            "address": {"street": "Lindenweg 1", "postal_code": "59423", "town": "Unna"},
        },
    }
    code, output = await run_cli(app, "event", json.dumps(body))
    assert code == 0
    assert output.splitlines() == [
        f"line 1: event {reference}-a1, arrival {reference}: taken in, stage arrival_information",
        "summary: sent 1, opened 0, updated 0, duplicate 0, refused 0, arrivals 1",
    ]
    code, output = await run_cli(app, "event", json.dumps(body))
    assert output.splitlines()[0].endswith(": duplicate, stage arrival_information")
    assert_no_personal_data(output)


async def test_nothing_refused_exits_zero(app: FastAPI, tmp_path: Path) -> None:
    path, _ = fresh_copy("events.csv", tmp_path)
    rows = path.read_text("utf-8").splitlines()
    path.write_text("\n".join(rows[:3]) + "\n", "utf-8")
    code, output = await run_cli(app, "events", str(path))
    assert code == 0
    assert output.splitlines()[-1] == "summary: sent 2, opened 2, updated 0, duplicate 0, refused 0"


async def test_the_partner_commands(app: FastAPI) -> None:
    name = f"Nachbarschaftshilfe {uuid.uuid4().hex[:8]}"
    code, output = await run_cli(
        app,
        "partners", "add", "--name", name, "--kind", "ehrenamt", "--town", "Werne",
        "--contact", "werne@example.org", "--language", "de", "ar",
    )  # fmt: skip
    assert code == 0, output
    assert output.startswith("added: ") and name in output and "[de,ar]" in output
    partner_id = output.split()[1]

    code, output = await run_cli(app, "partners", "list", "--town", "Werne")
    assert code == 0 and name in output
    assert all("Werne" in line for line in output.splitlines())

    code, output = await run_cli(app, "partners", "update", partner_id, "--language", "fa")
    assert code == 0, output
    assert output.startswith("updated: ") and "[fa]" in output and "werne@example.org" in output

    code, output = await run_cli(app, "partners", "remove", partner_id)
    assert (code, output) == (0, f"partner {partner_id} deactivated\n")
    code, output = await run_cli(app, "partners", "list", "--town", "Werne")
    assert name not in output

    code, output = await run_cli(app, "partners", "remove", "999999")
    assert (code, output) == (1, "refused (404): unknown partner\n")
    code, output = await run_cli(app, "partners", "update", partner_id, "--contact", " ")
    assert code == 1 and output.startswith("refused, not sent: contact: ")


async def test_partners_take_address_and_hours(app: FastAPI) -> None:
    name = f"Flüchtlingshilfe {uuid.uuid4().hex[:8]}"
    code, output = await run_cli(
        app,
        "partners", "add", "--name", name, "--kind", "ehrenamt", "--town", "Lünen",
        "--contact", "0231 000", "--address", "Markt 1", "--hours", "Do 15-18 Uhr",
    )  # fmt: skip
    assert code == 0, output
    assert "Markt 1; Do 15-18 Uhr" in output
    partner_id = output.split()[1]
    code, output = await run_cli(app, "partners", "update", partner_id, "--hours", "Do 16-19 Uhr")
    assert code == 0 and "Markt 1; Do 16-19 Uhr" in output, output
    code, output = await run_cli(app, "partners", "update", partner_id, "--town", "Dortmund")
    assert code == 1 and output.startswith("refused, not sent: town: "), output


async def test_the_offer_commands(app: FastAPI) -> None:
    name = f"Sprachcafé {uuid.uuid4().hex[:8]}"
    code, output = await run_cli(
        app,
        "offers", "add", "--name", name, "--category", "language_course",
        "--address", "Stadtbücherei", "--hours", "Fr 10-12 Uhr", "--language", "de", "uk",
    )  # fmt: skip
    assert code == 0, output
    assert output.startswith("added: ") and name in output and "county-wide" in output
    assert "[de,uk]" in output and "Stadtbücherei; Fr 10-12 Uhr" in output
    offer_id = output.split()[1]

    code, output = await run_cli(app, "offers", "list", "--town", "Lünen")
    assert code == 0 and name in output  # county-wide: in every town's list
    assert "(example)" in output  # the seed entries are still examples

    code, output = await run_cli(
        app, "offers", "update", offer_id, "--town", "Kamen", "--contact", "02307 0"
    )
    assert code == 0, output
    assert "Kamen" in output and "; 02307 0" in output and "[de,uk]" in output
    code, output = await run_cli(app, "offers", "list", "--town", "Lünen")
    assert name not in output
    code, output = await run_cli(app, "offers", "update", offer_id, "--county-wide", "--no-contact")
    assert code == 0 and "county-wide" in output and "02307" not in output, output

    with pytest.raises(SystemExit) as usage:  # argparse refuses the choice: nothing is sent
        await run_cli(app, "offers", "update", offer_id, "--category", "verein")
    assert usage.value.code == 2
    code, output = await run_cli(app, "offers", "update", offer_id, "--hours", " ")
    assert code == 1 and output.startswith("refused, not sent: hours: "), output
    code, output = await run_cli(app, "offers", "remove", offer_id)
    assert (code, output) == (0, f"offer {offer_id} deactivated\n")
    code, output = await run_cli(app, "offers", "list")
    assert name not in output
    code, output = await run_cli(app, "offers", "remove", "999999")
    assert (code, output) == (1, "refused (404): unknown offer\n")


async def test_without_a_token_events_are_refused_with_401(app: FastAPI) -> None:
    case_id = f"CLI{uuid.uuid4().hex[:8]}-ANON"
    body = json.loads((FIXTURES / "events.jsonl").read_text("utf-8").splitlines()[0])
    body.update(event_id=f"{case_id}-e1", case_id=case_id)
    out = io.StringIO()
    code = await cli.run(
        ["--api", "http://test", "event", json.dumps(body)],
        transport=httpx.ASGITransport(app=app),
        out=out,
    )
    assert code == 1
    assert "refused (401)" in out.getvalue()


async def test_login_keeps_the_session_for_the_partner_commands_until_logout(
    app: FastAPI, session_file: Path, pool: asyncpg.Pool
) -> None:
    sessions_before = await pool.fetchval("SELECT count(*) FROM sessions")
    username = f"admin-{uuid.uuid4().hex[:6]}"
    await account_service(app).create_account(username, "Admin", Role.ADMIN, PASSWORD)
    transport = httpx.ASGITransport(app=app)

    async def cli_as_person(*argv: str, stdin: str = "") -> tuple[int, str]:
        out = io.StringIO()
        code = await cli.run(
            ["--api", "http://test", *argv],
            transport=transport,
            out=out,
            stdin=io.StringIO(stdin),
        )
        return code, out.getvalue()

    code, output = await cli_as_person("partners", "remove", "1")
    assert code == 1 and "log in first: python -m starter login" in output

    code, output = await cli_as_person(
        "login", "--username", username, "--password-stdin", stdin="falsch\n"
    )
    assert (code, output) == (1, "refused (401): wrong username or password\n")
    assert not session_file.exists()

    code, output = await cli_as_person(
        "login", "--username", username, "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert code == 0 and f"logged in as {username}" in output
    assert session_file.stat().st_mode & 0o777 == 0o600
    assert PASSWORD not in session_file.read_text()

    code, output = await cli_as_person(
        "partners", "add", "--name", "Ehrenamt Login", "--kind", "ehrenamt",
        "--town", "Holzwickede", "--contact", "Rathausplatz", "--language", "de",
    )  # fmt: skip
    assert code == 0 and output.startswith("added: "), output
    # The session belongs to its API: another server does not get it.
    assert saved_session(session_file, "http://elsewhere") is None

    code, output = await cli_as_person("logout")
    assert code == 0 and not session_file.exists()
    assert await pool.fetchval("SELECT count(*) FROM sessions") == sessions_before
    code, output = await cli_as_person("partners", "remove", "1")
    assert code == 1 and "refused (401)" in output


async def test_an_unreachable_api_exits_two(capsys: pytest.CaptureFixture[str]) -> None:
    code = await cli.run(["--api", "http://127.0.0.1:9", "partners", "list"], out=io.StringIO())
    assert code == 2
    assert "cannot reach the API" in capsys.readouterr().err


# ------------------------------------------------------------- the CSV format alone


def test_a_csv_with_a_wrong_header_is_refused_as_a_whole() -> None:
    with pytest.raises(CsvFormatError, match="missing columns: children; unknown columns: kids"):
        list(read_csv(["event_id,case_id,status,effective_date,departure_deadline,given_name,"
                       "family_name,date_of_birth,nationality,language,phone,email,street,"
                       "postal_code,town,kids\n"]))  # fmt: skip


def test_csv_rows_become_the_api_model() -> None:
    text = (FIXTURES / "events.csv").read_text("utf-8").splitlines(keepends=True)
    first, _, update, *_ = read_csv(text)
    assert first.event is not None and first.event.person is not None
    assert first.event.person.address.town == "Unna"
    assert first.event.household is not None
    assert [str(child.date_of_birth) for child in first.event.household.children] == [
        "2015-03-01",
        "2019-07-12",
    ]
    assert first.event.person.email is not None and update.event is not None
    assert update.event.person is None and update.event.household is None


def test_a_bad_child_date_names_the_children_column() -> None:
    text = (FIXTURES / "events.csv").read_text("utf-8").splitlines(keepends=True)
    header, row = text[0], text[1].replace("2019-07-12", "2019-13-12")
    [parsed] = read_csv([header, row])
    assert parsed.event is None
    assert [problem.field for problem in parsed.problems] == ["children"]


async def test_the_token_can_come_from_a_file_but_not_from_both(
    app: FastAPI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A mounted secret (docs/deployment.md): ``--token-file`` or ``CASE_API_TOKEN_FILE``."""
    token_arg, session_arg = app.state.cli_auth
    token_file = tmp_path / "token"
    token_file.write_text(token_arg.removeprefix("--token=") + "\n")
    path, prefix = fresh_copy("events.csv", tmp_path)
    out = io.StringIO()
    transport = httpx.ASGITransport(app=app)
    base = ["--api", "http://test", session_arg, f"--token-file={token_file}"]
    code = await cli.run([*base, "events", str(path)], transport=transport, out=out)
    assert f"event {prefix}CSV-001-e1, case {prefix}CSV-001: opened" in out.getvalue()
    assert code == 1  # the sample's last line is refused on purpose, the rest went in
    both = await cli.run([*base, token_arg, "events", str(path)], transport=transport, out=out)
    assert both == cli.EXIT_UNUSABLE
    assert "the token or the token file, not both" in capsys.readouterr().err
