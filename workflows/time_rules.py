"""Which enforcement time rules a measure would break, or broke (pure, deterministic).

A rule looks at everyone the measure affects: the person and every child of the household,
each by age on the local day the measure starts; at the whole of its duration, not only its
first instant; and at the notice in calendar months from the announcement to the person.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from schemas.events import age_on
from schemas.time_rules import TimeRule

ADULT_AGE = 18


@dataclass(frozen=True)
class Enforcement:
    """The facts a time rule looks at."""

    at: datetime
    # The end of the measure (planned, or as carried out); none: only its start is known.
    until: datetime | None = None
    # The person and every child of the household: their dates of birth.
    affected_born: tuple[date, ...] = ()
    # A minor was there whose age is not known (recorded after the measure): under 18.
    minor_present: bool = False
    enters_home: bool = False
    court_order: bool = False
    tolerated_since: date | None = None
    announced_on: date | None = None


def months_after(day: date, months: int) -> date:
    """The last day of a period of ``months`` calendar months that began with ``day``'s event
    (§ 188 Abs. 2, 3 BGB): the same day number in the later month, or that month's last day
    (announced on 31 January: the month ends on 28 or 29 February)."""
    years, month_index = divmod(day.month - 1 + months, 12)
    year, month = day.year + years, month_index + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def earliest_after_notice(announced_on: date, months: int) -> date:
    """The first day a measure announced on ``announced_on`` may take place."""
    return months_after(announced_on, months) + timedelta(days=1)


def _night_overlaps(rule: TimeRule, start: datetime, end: datetime) -> bool:
    """Whether [start, end) touches the rule's night window on any local day it spans."""
    assert rule.night_from is not None and rule.night_until is not None
    zone = ZoneInfo(rule.timezone)
    first = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date()
    crosses_midnight = rule.night_from > rule.night_until
    day = first
    while day <= last:
        opens = datetime.combine(day, rule.night_from, tzinfo=zone)
        closes_on = day + timedelta(days=1) if crosses_midnight else day
        closes = datetime.combine(closes_on, rule.night_until, tzinfo=zone)
        if start < closes and end > opens:
            return True
        day += timedelta(days=1)
    return False


def _applies(rule: TimeRule, enforcement: Enforcement, day: date) -> bool:
    if (rule.valid_from and day < rule.valid_from) or (rule.valid_to and day > rule.valid_to):
        return False
    if rule.child_younger_than is not None and not (
        any(age_on(born, day) < rule.child_younger_than for born in enforcement.affected_born)
        or (enforcement.minor_present and rule.child_younger_than >= ADULT_AGE)
    ):
        return False
    if rule.home_entry_only and not enforcement.enters_home:
        return False
    if rule.lifted_by_court_order and enforcement.court_order:
        return False
    return rule.tolerated_at_least is None or (
        enforcement.tolerated_since is not None
        and day - enforcement.tolerated_since >= rule.tolerated_at_least
    )


def applies(rule: TimeRule, enforcement: Enforcement, day: date) -> bool:
    """Whether ``rule`` applies to those ``enforcement`` affects on ``day`` (not whether the
    measure breaks it): what a simulation can say before the ABH has decided."""
    return _applies(rule, enforcement, day)


def broken_rules(rules: tuple[TimeRule, ...], enforcement: Enforcement) -> list[TimeRule]:
    """Every rule that applies to those affected on that day and forbids this measure.

    A notice rule is broken too when no announcement is known: it cannot be shown to hold.
    """
    broken = []
    for rule in rules:
        day = enforcement.at.astimezone(ZoneInfo(rule.timezone)).date()
        if not _applies(rule, enforcement, day):
            continue
        if rule.night_from is not None and rule.night_until is not None:
            # A start without a known end is judged as an instant.
            end = enforcement.until or enforcement.at + timedelta(microseconds=1)
            if _night_overlaps(rule, enforcement.at, max(end, enforcement.at)):
                broken.append(rule)
                continue
        if rule.notice_months is not None and (
            enforcement.announced_on is None
            or day < earliest_after_notice(enforcement.announced_on, rule.notice_months)
        ):
            broken.append(rule)
    return broken
