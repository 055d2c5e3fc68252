"""Durations come from one settings object, each overridable by an ISO 8601 environment value."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from config.settings import Settings


def test_defaults_are_days(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CASE_CONVERSATION_DUE", raising=False)
    timings = Settings().timings()
    assert timings.conversation_due == timedelta(days=14)
    assert timings.reminder_lead == timedelta(days=2)


def test_a_demo_can_shrink_days_to_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASE_CONVERSATION_DUE", "PT30S")
    monkeypatch.setenv("CASE_FOLLOW_UP_INTERVAL", "PT1M")
    timings = Settings().timings()
    assert timings.conversation_due == timedelta(seconds=30)
    assert timings.follow_up_interval == timedelta(minutes=1)
    assert timings.consent_deadline == timedelta(days=14)


def test_a_bad_duration_is_refused_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASE_CONVERSATION_DUE", "two weeks")
    with pytest.raises(ValidationError, match="conversation_due"):
        Settings().timings()


def test_towns_and_time_rules_are_configurable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    from pathlib import Path

    rules = Path(str(tmp_path)) / "rules.json"
    rules.write_text(
        '[{"rule_id": "x", "title": "Test", "source": "Test", "child_younger_than": 16,'
        ' "night_from": "20:00:00", "night_until": "07:00:00"}]'
    )
    monkeypatch.setenv("CASE_TIME_RULES_FILE", str(rules))
    monkeypatch.setenv("CASE_TOWNS", '["Unna", "Lünen"]')
    settings = Settings()
    assert [rule.rule_id for rule in settings.time_rules()] == ["x"]
    assert settings.towns == ("Unna", "Lünen")


def test_towns_are_read_in_the_countys_spelling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASE_TOWNS", '["unna", "Froendenberg/Ruhr", "Dortmund"]')
    monkeypatch.setenv("CASE_ARRIVAL_TOWNS", '["BONEN"]')
    settings = Settings()
    assert settings.towns == ("Unna", "Fröndenberg/Ruhr", "Dortmund")
    assert settings.arrival_towns == ("Bönen",)
