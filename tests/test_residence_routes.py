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
