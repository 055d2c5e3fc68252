"""Time rules for enforcement (DOMAIN.md item 8) as data, not code.

A rule applies to an enforcement when those it affects match (the person or a child of the
household under an age on the day of the enforcement; a home is entered; a Duldung of a certain
length) and it forbids either a night window (local time, summer time included) anywhere in the
measure's duration, or a start sooner than a notice period in calendar months after the
announcement to the person. The default set is in ``default_time_rules()``; the service can
load another set from a JSON file.
"""

from __future__ import annotations

from datetime import date, time, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from schemas.inputs import Line

_DURATION: TypeAdapter[timedelta] = TypeAdapter(timedelta)


class TimeRule(BaseModel):
    model_config = ConfigDict(frozen=True)

    rule_id: Line
    title: Line = Field(description="German, shown to caseworkers.")
    source: Line
    valid_from: date | None = None
    valid_to: date | None = None
    child_younger_than: int | None = Field(
        default=None,
        ge=0,
        le=120,
        description=(
            "Applies when anyone the measure affects (the person, a child of the household)"
            " is younger than this."
        ),
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
    notice_months: int | None = Field(
        default=None,
        ge=1,
        le=120,
        description=(
            "Calendar months between the announcement to the person and the measure"
            " (§§ 187, 188 BGB: the period ends on the same day number of the later month,"
            " or its last day; the measure may start the day after)."
        ),
    )
    timezone: Line = "Europe/Berlin"
    open_question: Line | None = Field(
        default=None,
        description="What the ABH's legal review still has to confirm (German); none: reviewed.",
    )

    @model_validator(mode="before")
    @classmethod
    def _notice_in_months(cls, data: Any) -> Any:
        """Rule sets written before notice periods were calendar months gave ``min_notice``
        in days (30 for "einen Monat"), and running cases carry them in their start: read
        as whole months, which is what the statute says."""
        if isinstance(data, dict) and "min_notice" in data:
            data = dict(data)
            legacy = data.pop("min_notice")
            if legacy is not None and data.get("notice_months") is None:
                days = legacy.days if isinstance(legacy, timedelta) else _days(legacy)
                data["notice_months"] = max(1, round(days / 30))
        return data


def _days(value: object) -> float:
    """Days of a duration as pydantic serialises it (ISO 8601 ``P30D``, or seconds)."""
    if isinstance(value, int | float):
        return value / 86400
    parsed = _DURATION.validate_python(value)
    return parsed.total_seconds() / 86400


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
            # The id stays as it was: incidents and running cases name rules by it.
            rule_id="aufenthg-58-7",
            title=(
                "Betreten einer Wohnung zur Nachtzeit (21:00–06:00) nur ausnahmsweise; hier"
                " nur mit richterlicher Anordnung"
            ),
            source=(
                "§58 Abs. 7 AufenthG, https://www.gesetze-im-internet.de/aufenthg_2004/__58.html;"
                " Nachtzeit 21–6 Uhr nach § 758a Abs. 4 ZPO und VG Düsseldorf, Beschl. v."
                " 16.11.2020 – 7 I 32/20"
            ),
            home_entry_only=True,
            lifted_by_court_order=True,
            open_question=(
                "§ 58 Abs. 7 AufenthG erlaubt das Betreten oder Durchsuchen zur Nachtzeit nur,"
                " wenn Tatsachen zeigen, dass die Ergreifung sonst vereitelt würde; eine"
                " richterliche Anordnung verlangt § 58 Abs. 8 nur für die Durchsuchung (bei"
                " Gefahr im Verzug auch die Behörde). Soll das bloße Betreten zur Nachtzeit wie"
                " hier nur mit richterlicher Anordnung zugelassen werden, oder genügt die"
                " dokumentierte Feststellung der Tatsachen nach Abs. 7 durch die ABH? Die"
                " Nachtzeit (21–6 Uhr) definiert § 58 nicht selbst."
            ),
            night_from=time(21, 0),
            night_until=time(6, 0),
        ),
        TimeRule(
            # The id stays as it was: incidents and running cases name rules by it.
            rule_id="aufenthg-60a-5a",
            title=(
                "Ankündigung mindestens einen Monat vorher (Duldung über ein Jahr, Kind unter 12)"
            ),
            source=(
                "§60a Abs. 5a AufenthG i. d. F. des Rückführungsverbesserungsgesetzes, in Kraft"
                " 27.02.2024, https://www.gesetze-im-internet.de/aufenthg_2004/__60a.html"
            ),
            valid_from=date(2024, 2, 27),
            child_younger_than=12,
            tolerated_at_least=timedelta(days=365),
            notice_months=1,
            open_question=(
                "Die Beschränkung auf Familien mit Kindern unter 12 ist nur aus der Beschreibung"
                " des Regierungsentwurfs bestätigt (https://www.jugend-check.de/alle-jugend-"
                "checks/rueckfuehrungsverbesserungsgesetz/), nicht am verkündeten Wortlaut: Muss"
                " das Kind mit der Person in häuslicher Gemeinschaft leben, und gilt die"
                " Ausnahme bei selbst verschuldeten Abschiebungshindernissen (früher § 60a"
                " Abs. 5 Satz 5) fort? Darf am letzten Tag der Monatsfrist vollstreckt werden"
                " (hier: erst am Tag danach)? Bis 26.02.2024 galt die Ankündigung nach § 60a"
                " Abs. 5 Satz 4 bei jeder über einjährigen Duldung, mit oder ohne Kind."
            ),
        ),
    )
