"""The enforcement time rules of DOMAIN.md item 8, at their edges.

Times are given in UTC on purpose: the rules must judge them in Europe/Berlin local time,
summer time included, and ages on the local day of the enforcement.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from schemas.events import age_on
from schemas.local_time import BERLIN
from schemas.time_rules import TimeRule, default_time_rules
from workflows.time_rules import Enforcement, broken_rules, earliest_after_notice

RULES = default_time_rules()
ANNOUNCED = date(2027, 1, 4)
TEEN = date(2011, 1, 1)  # 16 throughout 2027: only the under-18 rule applies
CHILD = date(2020, 1, 1)  # 7 throughout 2027: under 14 and under 12


def broken(at: datetime, *affected: date, **facts: object) -> set[str]:
    """The rules broken by a measure at ``at`` affecting people born on ``affected``."""
    facts.setdefault("announced_on", ANNOUNCED)
    enforcement = Enforcement(at=at, affected_born=affected, **facts)  # type: ignore[arg-type]
    return {rule.rule_id for rule in broken_rules(RULES, enforcement)}


def local(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (local(2027, 6, 14, 20, 59), set()),
        (local(2027, 6, 14, 21, 0), {"erlass-nrw-2016-01-13"}),
        (local(2027, 6, 14, 21, 59), {"erlass-nrw-2016-01-13"}),
        (local(2027, 6, 14, 22, 0), {"erlass-nrw-2016-01-13", "konsenspapier-kreis-unna"}),
        (local(2027, 6, 15, 5, 59), {"erlass-nrw-2016-01-13", "konsenspapier-kreis-unna"}),
        (local(2027, 6, 15, 6, 0), set()),
    ],
)
def test_windows_for_a_young_child_around_21_22_and_6(at: datetime, expected: set[str]) -> None:
    assert broken(at, CHILD) == expected


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (local(2027, 6, 14, 21, 30), set()),
        (local(2027, 6, 14, 22, 0), {"konsenspapier-kreis-unna"}),
        (local(2027, 6, 15, 6, 0), set()),
    ],
)
def test_a_teenager_is_protected_from_22_only(at: datetime, expected: set[str]) -> None:
    assert broken(at, TEEN) == expected


def test_no_minor_no_night_rule() -> None:
    assert broken(local(2027, 6, 14, 23, 0)) == set()
    assert broken(local(2027, 6, 14, 23, 0), date(2000, 1, 1)) == set()


def test_spring_forward_is_judged_in_summer_time() -> None:
    # 28 March 2027: clocks go from 02:00 CET to 03:00 CEST.
    allowed = datetime(2027, 3, 28, 4, 30, tzinfo=UTC)  # 06:30 CEST (05:30 if read as CET)
    forbidden = datetime(2027, 3, 28, 3, 30, tzinfo=UTC)  # 05:30 CEST
    assert broken(allowed, TEEN) == set()
    assert broken(forbidden, TEEN) == {"konsenspapier-kreis-unna"}
    assert allowed.astimezone(BERLIN).utcoffset() == timedelta(hours=2)


def test_fall_back_is_judged_in_winter_time() -> None:
    # 31 October 2027: clocks go from 03:00 CEST back to 02:00 CET.
    forbidden = datetime(2027, 10, 31, 4, 30, tzinfo=UTC)  # 05:30 CET (06:30 if read as CEST)
    allowed = datetime(2027, 10, 31, 5, 0, tzinfo=UTC)  # 06:00 CET
    assert broken(forbidden, TEEN) == {"konsenspapier-kreis-unna"}
    assert broken(allowed, TEEN) == set()
    evening = datetime(2027, 10, 30, 20, 30, tzinfo=UTC)  # Saturday 22:30 CEST
    assert broken(evening, TEEN) == {"konsenspapier-kreis-unna"}


def test_fourteenth_birthday_ends_the_21_oclock_rule_that_day() -> None:
    born = date(2013, 5, 10)
    assert broken(local(2027, 5, 9, 21, 30), born) == {"erlass-nrw-2016-01-13"}
    assert broken(local(2027, 5, 10, 21, 30), born) == set()
    assert broken(local(2027, 5, 10, 22, 30), born) == {"konsenspapier-kreis-unna"}


def test_eighteenth_birthday_ends_the_22_oclock_rule_that_day() -> None:
    born = date(2009, 5, 10)
    assert broken(local(2027, 5, 9, 23, 0), born) == {"konsenspapier-kreis-unna"}
    assert broken(local(2027, 5, 10, 23, 0), born) == set()
    # The local day counts: 01:00 on the birthday is already the day of majority.
    assert broken(local(2027, 5, 10, 1, 0), born) == set()


def test_every_matching_rule_is_named() -> None:
    rules = broken(local(2027, 6, 14, 23, 0), CHILD, enters_home=True)
    assert rules == {"konsenspapier-kreis-unna", "erlass-nrw-2016-01-13", "aufenthg-58-7"}


def test_home_entry_at_night_needs_a_court_order_for_anyone() -> None:
    assert broken(local(2027, 6, 14, 21, 30), enters_home=True) == {"aufenthg-58-7"}
    assert broken(local(2027, 6, 14, 21, 30), enters_home=True, court_order=True) == set()
    assert broken(local(2027, 6, 14, 20, 30), enters_home=True) == set()


def test_long_toleration_with_a_young_child_needs_a_month_notice() -> None:
    tolerated = date(2025, 6, 1)
    soon = local(2027, 1, 24, 9, 0)
    later = local(2027, 2, 5, 9, 0)  # announced 4 January: the month ends on 4 February
    assert broken(soon, CHILD, tolerated_since=tolerated) == {"aufenthg-60a-5a"}
    assert broken(later, CHILD, tolerated_since=tolerated) == set()
    assert broken(soon, CHILD, tolerated_since=date(2026, 12, 1)) == set()  # under a year
    assert broken(soon, TEEN, tolerated_since=tolerated) == set()  # no child under 12


def test_the_notice_is_a_calendar_month_from_the_announcement() -> None:
    tolerated = date(2025, 6, 1)
    # Announced on 15 January: the month ends on 15 February, the measure may follow on the 16th.
    assert earliest_after_notice(date(2027, 1, 15), 1) == date(2027, 2, 16)
    on_the_last_day = local(2027, 2, 15, 9, 0)
    day_after = local(2027, 2, 16, 9, 0)
    facts = {"tolerated_since": tolerated, "announced_on": date(2027, 1, 15)}
    assert broken(on_the_last_day, CHILD, **facts) == {"aufenthg-60a-5a"}
    assert broken(day_after, CHILD, **facts) == set()
    # February is shorter than 30 days: announced on 31 January, the month ends with February,
    # and 30 days (2 March) would have been a day too late, 28 days too early.
    assert earliest_after_notice(date(2027, 1, 31), 1) == date(2027, 3, 1)
    assert earliest_after_notice(date(2028, 1, 31), 1) == date(2028, 3, 1)  # 29 February
    assert earliest_after_notice(date(2027, 3, 31), 1) == date(2027, 5, 1)
    assert earliest_after_notice(date(2027, 12, 20), 1) == date(2028, 1, 21)


def test_no_announcement_known_breaks_a_notice_rule() -> None:
    tolerated = date(2025, 6, 1)
    far_ahead = local(2027, 9, 1, 9, 0)
    assert broken(far_ahead, CHILD, tolerated_since=tolerated, announced_on=None) == {
        "aufenthg-60a-5a"
    }


def test_the_persons_own_age_counts() -> None:
    # An unaccompanied 16-year-old: no children in the household, the person is the minor.
    person = date(2010, 9, 1)
    assert broken(local(2027, 6, 14, 23, 30), person) == {"konsenspapier-kreis-unna"}
    assert broken(local(2027, 6, 14, 23, 30), date(1990, 1, 1)) == set()


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        # Starts in the evening, runs into the night: the night hours of the measure count.
        (local(2027, 6, 14, 20, 0), local(2027, 6, 14, 22, 30), {"konsenspapier-kreis-unna"}),
        (local(2027, 6, 14, 19, 0), local(2027, 6, 14, 22, 0), set()),  # ends as night begins
        # Starts before 06:00 and goes on into the morning.
        (local(2027, 6, 15, 5, 0), local(2027, 6, 15, 9, 0), {"konsenspapier-kreis-unna"}),
        (local(2027, 6, 15, 6, 0), local(2027, 6, 15, 12, 0), set()),
        # A whole day spans the next night.
        (local(2027, 6, 15, 6, 0), local(2027, 6, 16, 5, 0), {"konsenspapier-kreis-unna"}),
    ],
)
def test_the_whole_duration_is_judged(start: datetime, end: datetime, expected: set[str]) -> None:
    assert broken(start, TEEN, until=end) == expected


def test_rule_sets_in_days_are_read_as_months() -> None:
    legacy = TimeRule.model_validate(
        {"rule_id": "x", "title": "x", "source": "x", "min_notice": "P30D"}
    )
    assert legacy.notice_months == 1
    from_python = TimeRule.model_validate(
        {"rule_id": "x", "title": "x", "source": "x", "min_notice": timedelta(days=60)}
    )
    assert from_python.notice_months == 2


def test_age_on_leap_day_birthday() -> None:
    assert age_on(date(2012, 2, 29), date(2026, 2, 28)) == 13
    assert age_on(date(2012, 2, 29), date(2026, 3, 1)) == 14


def test_the_statutory_rules_name_their_source_and_what_stays_open() -> None:
    by_id = {rule.rule_id: rule for rule in RULES}
    home, notice = by_id["aufenthg-58-7"], by_id["aufenthg-60a-5a"]
    assert home.source.startswith("§58 Abs. 7 AufenthG")
    assert "https://www.gesetze-im-internet.de/aufenthg_2004/__58.html" in home.source
    assert notice.source.startswith("§60a Abs. 5a AufenthG")
    assert "https://www.gesetze-im-internet.de/aufenthg_2004/__60a.html" in notice.source
    assert home.open_question and "Abs. 8" in home.open_question
    assert notice.open_question and notice.valid_from == date(2024, 2, 27)


def test_the_children_under_12_notice_holds_since_the_2024_reform() -> None:
    tolerated = date(2022, 6, 1)
    facts = {"tolerated_since": tolerated, "announced_on": date(2024, 2, 10)}
    child = date(2018, 1, 1)
    # Before, § 60a Abs. 5 Satz 4 (any Duldung over a year) applied: not a default rule.
    assert broken(local(2024, 2, 26, 9, 0), child, **facts) == set()
    assert broken(local(2024, 2, 27, 9, 0), child, **facts) == {"aufenthg-60a-5a"}
