"""Time rules for enforcement (DOMAIN.md item 8) as data, not code.

A rule applies to an enforcement when the household matches (a child under an age on the day
of the enforcement; a home is entered; a Duldung of a certain length) and it forbids either a
night window (local time, summer time included) or a time closer than a notice period. The
default set is in ``default_time_rules()``; the service can load another set from a JSON file.
"""

from __future__ import annotations

from datetime import date, time, timedelta

from pydantic import BaseModel, ConfigDict, Field


class TimeRule(BaseModel):
    model_config = ConfigDict(frozen=True)

    rule_id: str
    title: str = Field(description="German, shown to caseworkers.")
    source: str
    valid_from: date | None = None
    valid_to: date | None = None
    child_younger_than: int | None = Field(
        default=None, description="Applies when a child of the household is younger than this."
    )
    home_entry_only: bool = Field(
        default=False, description="Applies only when the enforcement enters a home."
    )
    lifted_by_court_order: bool = False
    tolerated_at_least: timedelta | None = Field(
        default=None, description="Applies only after a Duldung of at least this long."
    )
    night_from: time | None = None
    night_until: time | None = None
    min_notice: timedelta | None = None
    timezone: str = "Europe/Berlin"


def default_time_rules() -> tuple[TimeRule, ...]:
    return (
        TimeRule(
            rule_id="konsenspapier-kreis-unna",
            title="Keine Abschiebung mit Minderjährigen zur Nachtzeit (22:00–06:00)",
            source="Konsenspapier Kreis Unna, Praxiskonzept 2024",
            child_younger_than=18,
            night_from=time(22, 0),
            night_until=time(6, 0),
        ),
        TimeRule(
            rule_id="erlass-nrw-2016-01-13",
            title="Keine Vollstreckung bei Familien mit Kindern unter 14 (21:00–06:00)",
            source="Erlass MIK NRW vom 13.01.2016",
            valid_from=date(2016, 1, 13),
            child_younger_than=14,
            night_from=time(21, 0),
            night_until=time(6, 0),
        ),
        TimeRule(
            rule_id="aufenthg-58-7",
            title=(
                "Betreten einer Wohnung zur Nachtzeit (21:00–06:00) nur mit richterlicher Anordnung"
            ),
            source="§58 Abs. 7 AufenthG",
            home_entry_only=True,
            lifted_by_court_order=True,
            night_from=time(21, 0),
            night_until=time(6, 0),
        ),
        TimeRule(
            rule_id="aufenthg-60a-5a",
            title=(
                "Ankündigung mindestens einen Monat vorher (Duldung über ein Jahr, Kind unter 12)"
            ),
            source="§60a Abs. 5a AufenthG",
            child_younger_than=12,
            tolerated_at_least=timedelta(days=365),
            min_notice=timedelta(days=30),
        ),
    )
