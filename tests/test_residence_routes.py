"""Bleiberechtsregelungen as dated data: the versions in force on the days the rules changed."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from pydantic import ValidationError

from config.settings import Settings
from documents.texts import LANGUAGES, load_template
from schemas.documents import DocumentKind
from schemas.residence_routes import (
    DEFAULT_FILE,
    ResidenceRoutes,
    RoutePrerequisite,
    load_residence_routes,
)
from schemas.routes import Prerequisite, Route


def in_force(day: str) -> dict[str, str]:
    """Route → the valid_from of its version in force on ``day``."""
    routes = load_residence_routes()
    return {v.route.value: v.valid_from.isoformat() for v in routes.on(date.fromisoformat(day))}


def test_the_2022_reform_takes_effect_on_31_december() -> None:
    before, after = in_force("2022-12-30"), in_force("2022-12-31")
    assert before["§25b AufenthG"] == "2015-08-01" and after["§25b AufenthG"] == "2022-12-31"
    assert before["§25a AufenthG"] == "2015-08-01" and after["§25a AufenthG"] == "2022-12-31"
    assert "§104c AufenthG" not in before and after["§104c AufenthG"] == "2022-12-31"


def test_the_2024_changes_come_on_their_own_days() -> None:
    assert in_force("2024-02-26")["§60d AufenthG"] == "2020-01-01"
    assert in_force("2024-02-27")["§60d AufenthG"] == "2024-02-27"
    assert in_force("2024-02-29")["§60c AufenthG"] == "2020-01-01"
    assert in_force("2024-03-01")["§60c AufenthG"] == "2024-03-01"


def test_the_chancen_aufenthaltsrecht_ends_with_2025() -> None:
    assert "§104c AufenthG" in in_force("2025-12-30")
    assert "§104c AufenthG" not in in_force("2025-12-31")
    today = in_force("2026-11-27")
    assert set(today) == {route.value for route in Route} - {"§104c AufenthG"}


def test_what_a_person_is_told_names_prerequisites_and_source() -> None:
    routes = load_residence_routes()
    version = routes.of(Route.P25B, date(2026, 11, 27))
    assert version is not None
    assert any("sechs Jahre" in p.text for p in version.prerequisites)
    # the codes are what the person's copy prints in their language
    assert Prerequisite.YEARS_OF_RESIDENCE in version.codes()
    assert Prerequisite.LANGUAGE_SKILLS in version.codes()
    assert "Chancen-Aufenthaltsrechts" in version.source
    assert version.reviewed_by is None  # no one at the ABH has signed these texts off yet
    assert routes.review_by == date(2027, 7, 1)


def test_the_version_id_follows_the_text_not_the_reviewer() -> None:
    version = load_residence_routes().versions[0]
    reviewed = version.model_copy(update={"reviewed_by": "Rechtsamt, 2026-11-27"})
    reworded = RoutePrerequisite(code=version.prerequisites[0].code, text="neu gefasst")
    edited = version.model_copy(update={"prerequisites": (reworded, *version.prerequisites[1:])})
    assert reviewed.version_id == version.version_id
    assert edited.version_id != version.version_id
    assert version.version_id.startswith("§25a-2015-08-01-")


def test_every_prerequisite_of_every_version_is_printable_in_every_language() -> None:
    """A code without a template text would drop the person's copy into the fallback."""
    codes = {code for version in load_residence_routes().versions for code in version.codes()}
    for language in LANGUAGES:
        template = load_template(DocumentKind.GESPRAECHSPROTOKOLL, language)
        assert template is not None, language
        missing = {code for code in codes if f"prereq.{code.value}" not in template.texts}
        assert not missing, (language, missing)


def test_a_code_twice_in_one_version_is_refused() -> None:
    raw = json.loads(DEFAULT_FILE.read_text("utf-8"))
    version = raw["versions"][0]
    twice = dict(version, prerequisites=[*version["prerequisites"], version["prerequisites"][0]])
    with pytest.raises(ValidationError, match="appears twice"):
        ResidenceRoutes.model_validate({"versions": [twice]})


def test_overlapping_versions_of_a_route_are_refused() -> None:
    raw = json.loads(DEFAULT_FILE.read_text("utf-8"))
    clash = dict(raw["versions"][0], valid_from="2020-01-01", valid_to=None)
    with pytest.raises(ValidationError, match="overlap"):
        ResidenceRoutes.model_validate({"versions": [*raw["versions"], clash]})


def test_the_rules_can_come_from_another_file(tmp_path: Path) -> None:
    raw = json.loads(DEFAULT_FILE.read_text("utf-8"))
    raw["versions"] = [v for v in raw["versions"] if v["route"] == "§23a AufenthG"]
    path = tmp_path / "routes.json"
    path.write_text(json.dumps(raw, ensure_ascii=False))
    routes = Settings().model_copy(update={"residence_routes_file": path}).residence_routes()
    assert [v.route for v in routes.on(date(2026, 1, 1))] == [Route.P23A]


NEW_ROUTES = (Route.P25_5, Route.P16G, Route.P19D)
TODAY = date(2026, 12, 2)


def test_every_route_has_its_own_template_key() -> None:
    assert Route.P25_5.code == "25-5" and Route.P25A.code == "25a" and Route.P104C.code == "104c"
    assert len({route.code for route in Route}) == len(Route)


@pytest.mark.parametrize("route", NEW_ROUTES)
def test_a_new_route_is_offered_in_the_conversation_form_while_in_force(route: Route) -> None:
    from web.forms import fields_for

    routes = load_residence_routes()
    version = routes.of(route, TODAY)
    assert version is not None and version.reviewed_by is None and version.open_question
    fields = {f.name: f for f in fields_for("information_conversation", routes, TODAY)}
    assert route.value in [value for value, _ in fields["routes_discussed"].options]
    assert route.value in [value for value, _ in fields["route_pursued"].options]
    missing = [value for value, _ in fields["missing_prerequisites"].options]
    assert all(f"{route.value}|{code.value}" in missing for code in version.codes())
    assert version.version_id.startswith(f"§{route.code}-{version.valid_from.isoformat()}-")
    # Before it existed, §16g is not offered.
    if route is Route.P16G:
        before = fields_for("information_conversation", routes, date(2024, 2, 29))
        options = next(f.options for f in before if f.name == "routes_discussed")
        assert route.value not in [value for value, _ in options]


def test_every_version_names_its_source_with_a_url() -> None:
    for version in load_residence_routes().versions:
        assert "https://" in version.source, version.version_id
        # An unreviewed version says what the review still has to answer.
        assert version.reviewed_by is not None or version.open_question, version.version_id


def test_every_route_name_is_printable_in_every_language() -> None:
    for language in LANGUAGES:
        template = load_template(DocumentKind.GESPRAECHSPROTOKOLL, language)
        assert template is not None, language
        assert {f"route.{route.code}" for route in Route} <= set(template.texts), language


def test_the_open_question_is_a_review_note_not_part_of_the_text() -> None:
    version = load_residence_routes().versions[0]
    answered = version.model_copy(update={"open_question": None})
    assert answered.version_id == version.version_id


def test_the_statutes_as_checked() -> None:
    routes = load_residence_routes()
    # The twelve months of toleration belong to §25a, not to §25b.
    b25 = routes.of(Route.P25B, date(2023, 1, 1))
    a25 = routes.of(Route.P25A, date(2023, 1, 1))
    assert b25 is not None and a25 is not None
    assert Prerequisite.TOLERATION_PERIOD not in b25.codes()
    toleration = next(p.text for p in a25.prerequisites if p.code is Prerequisite.TOLERATION_PERIOD)
    assert "zwölf Monaten" in toleration and "§ 104c" in toleration
    assert Prerequisite.PASSPORT in a25.codes()
    assert any("14 Jahren" in p.text for p in a25.prerequisites if p.code is Prerequisite.AGE_LIMIT)
    # The §104c alternative leaves §25a and §25b with 31 December 2025.
    assert in_force("2025-12-30")["§25a AufenthG"] == "2022-12-31"
    assert in_force("2025-12-31")["§25a AufenthG"] == "2025-12-31"
    assert in_force("2025-12-31")["§25b AufenthG"] == "2025-12-31"
    # Three months of toleration for the Ausbildungsduldung since 2020.
    for day in (date(2020, 1, 1), TODAY):
        c60 = routes.of(Route.P60C, day)
        assert c60 is not None
        text = next(p.text for p in c60.prerequisites if p.code is Prerequisite.TOLERATION_PERIOD)
        assert "drei Monaten" in text
