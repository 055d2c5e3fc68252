"""Which enforcement time rules an ABH decision would break (pure, deterministic)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from schemas.time_rules import TimeRule


@dataclass(frozen=True)
class Enforcement:
    """The facts a time rule looks at."""

    at: datetime
    decided_at: datetime
    children_born: tuple[date, ...] = ()
    enters_home: bool = False
    court_order: bool = False
    tolerated_since: date | None = None


def age_on(born: date, day: date) -> int:
    """Completed years on ``day``; someone born on 29 February ages on 1 March in other years."""
    had_birthday = (day.month, day.day) >= (born.month, born.day)
    return day.year - born.year - (0 if had_birthday else 1)


def _in_window(local: time, start: time, end: time) -> bool:
    if start <= end:
        return start <= local < end
    return local >= start or local < end  # the window crosses midnight


def broken_rules(rules: tuple[TimeRule, ...], enforcement: Enforcement) -> list[TimeRule]:
    """Every rule that applies to this household on that day and forbids this time."""
    broken = []
    for rule in rules:
        local = enforcement.at.astimezone(ZoneInfo(rule.timezone))
        day = local.date()
        if (rule.valid_from and day < rule.valid_from) or (rule.valid_to and day > rule.valid_to):
            continue
        if rule.child_younger_than is not None and not any(
            age_on(born, day) < rule.child_younger_than for born in enforcement.children_born
        ):
            continue
        if rule.home_entry_only and not enforcement.enters_home:
            continue
        if rule.lifted_by_court_order and enforcement.court_order:
            continue
        if rule.tolerated_at_least is not None and (
            enforcement.tolerated_since is None
            or day - enforcement.tolerated_since < rule.tolerated_at_least
        ):
            continue
        night = rule.night_from is not None and rule.night_until is not None
        if night and _in_window(local.time(), rule.night_from, rule.night_until):  # type: ignore[arg-type]
            broken.append(rule)
        elif rule.min_notice is not None and (
            enforcement.at - enforcement.decided_at < rule.min_notice
        ):
            broken.append(rule)
    return broken
