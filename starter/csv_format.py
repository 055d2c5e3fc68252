"""Status events from a CSV export, parsed into the one :class:`schemas.events.StatusEvent`.

Back-office systems export flat rows; the API takes nested JSON. This module only reshapes a
row (person and address columns into ``person``, ``children`` into ``household``) and lets
the model validate it, so the CSV accepts exactly what the API accepts. A refused row is
reported with its line number and the *column* to correct, never with its values: they are
personal data.

Columns: event_id, case_id, status, effective_date, departure_deadline, given_name,
family_name, date_of_birth, nationality, language, phone, email, street, postal_code, town,
children (dates of birth separated by ``;``). Empty person columns mean no person; an empty
``children`` column leaves the household as it is.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from schemas.events import StatusEvent

COLUMNS: tuple[str, ...] = (
    "event_id",
    "case_id",
    "status",
    "effective_date",
    "departure_deadline",
    "given_name",
    "family_name",
    "date_of_birth",
    "nationality",
    "language",
    "phone",
    "email",
    "street",
    "postal_code",
    "town",
    "children",
)
_PERSON = (
    "given_name",
    "family_name",
    "date_of_birth",
    "nationality",
    "language",
    "phone",
    "email",
)
_ADDRESS = ("street", "postal_code", "town")


class CsvFormatError(ValueError):
    """The file as a whole cannot be read as status events (e.g. its header is wrong)."""


@dataclass(frozen=True)
class FieldProblem:
    """Why an input was refused: the field (or column) to correct, and the reason."""

    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}" if self.field else self.reason


@dataclass(frozen=True)
class ParsedEvent:
    """One input line: the event, or what is wrong with it (then it is not sent)."""

    line: int
    event: StatusEvent | None
    problems: tuple[FieldProblem, ...] = ()


def _column_of(path: list[str]) -> str:
    """person.address.town -> town; household.children.0.date_of_birth -> children."""
    if "children" in path:
        return "children"
    columns = [part for part in path if part in COLUMNS]
    return columns[-1] if columns else ".".join(path)


def problems_of(error: ValidationError, *, to_column: bool = False) -> tuple[FieldProblem, ...]:
    """The field paths and messages of a validation error, without the submitted values."""
    found = []
    for detail in error.errors(include_input=False, include_url=False):
        path = [str(part) for part in detail["loc"]]
        name = _column_of(path) if to_column else ".".join(path)
        found.append(FieldProblem(name, detail["msg"]))
    return tuple(found)


def _value(row: dict[str, str], column: str) -> str:
    return (row.get(column) or "").strip()


def row_to_payload(row: dict[str, str]) -> dict[str, Any]:
    """Reshape a flat row into the nested JSON shape of :class:`StatusEvent`."""
    payload: dict[str, Any] = {
        column: _value(row, column)
        for column in ("event_id", "case_id", "status", "effective_date")
    }
    if deadline := _value(row, "departure_deadline"):
        payload["departure_deadline"] = deadline
    if any(_value(row, column) for column in (*_PERSON, *_ADDRESS)):
        person: dict[str, Any] = {c: _value(row, c) for c in _PERSON if _value(row, c)}
        address = {c: _value(row, c) for c in _ADDRESS if _value(row, c)}
        person["address"] = address
        payload["person"] = person
    if children := _value(row, "children"):
        payload["household"] = {
            "children": [{"date_of_birth": born.strip()} for born in children.split(";")]
        }
    return payload


def parse_row(row: dict[str, str], line: int) -> ParsedEvent:
    try:
        event = StatusEvent.model_validate(row_to_payload(row))
    except ValidationError as error:
        return ParsedEvent(line, None, problems_of(error, to_column=True))
    return ParsedEvent(line, event)


def read_csv(lines: Iterable[str]) -> Iterator[ParsedEvent]:
    """Parse CSV text (with a header row) into events, one per data row, in file order."""
    reader = csv.DictReader(lines)
    header = reader.fieldnames or []
    missing = [column for column in COLUMNS if column not in header]
    unknown = [column for column in header if column not in COLUMNS]
    if missing or unknown:
        parts = []
        if missing:
            parts.append("missing columns: " + ", ".join(missing))
        if unknown:
            parts.append("unknown columns: " + ", ".join(unknown))
        raise CsvFormatError("; ".join(parts))
    for row in reader:
        if None in row:  # more cells than the header has columns
            yield ParsedEvent(reader.line_num, None, (FieldProblem("", "too many cells"),))
            continue
        if not any(_value(row, column) for column in COLUMNS):
            continue  # blank line
        yield parse_row(row, reader.line_num)
