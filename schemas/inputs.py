"""What a text or a number that enters the service may hold: one definition for every input.

PostgreSQL cannot store U+0000 in text, asyncpg cannot encode a lone surrogate (U+D800 to
U+DFFF) as UTF-8, and a PDF, a page or a log viewer shows other control characters as
garbage or not at all. Such a value used to be taken in and then refused by the database
inside an activity that retried for ever, blocking its case (issue 10). So it is refused
where it enters, with the field and the character named (never the value: it is personal
data), by the types below. Every str that enters through the API, the pages, the CLIs, the
CSV import or a workflow update is one of them or has a pattern that excludes these
characters; ``tests/test_inputs.py`` walks the input models and checks that.

Refused everywhere: C0 controls (U+0000 to U+001F), DEL (U+007F), C1 controls (U+0080 to
U+009F) and lone surrogates. Multi-line fields (notes, reasons, comments) keep newline and
tab; a CR LF pair from a browser's textarea becomes a newline there, a lone CR is refused.
The check runs on the value as sent, before surrounding spaces are stripped, so a control
character is never silently dropped either.

Integers are bounded by their columns: ids are ``integer`` (int4) columns generated from 1
(``store/migrations``), so an id outside 1 to 2**31-1 names no row and is refused before a
query is made (asyncpg would raise on it: a 500).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from pydantic import (
    BeforeValidator,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import PydanticCustomError

INT4_MAX = 2**31 - 1
"""The largest value of a PostgreSQL ``integer`` column."""

RowId = Annotated[int, Field(ge=1, le=INT4_MAX)]
"""The id of a row in an int4 identity column (partners, offers, accounts)."""

LanguageCode = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}$")]
"""An ISO 639 language code: 639-1 (ar, fa, tr), or 639-3 where there is none (ckb, Sorani)."""

# C0, DEL, C1 and the surrogate range; newline and tab are let through only in multi-line text.
_SINGLE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_MULTI_LINE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")

# The same rule for clients reading the OpenAPI document (JSON Schema cannot name surrogates).
SINGLE_LINE_SCHEMA = {"pattern": "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"}
MULTI_LINE_SCHEMA = {"pattern": "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"}

FORBIDDEN_CHARACTER = "forbidden_character"
"""The pydantic error type of a refused character (web/labels.py says it in German)."""


def forbidden_character(value: str, *, multiline: bool = False) -> str | None:
    """The first character of ``value`` that cannot be stored, as ``U+0000``; None if none."""
    found = (_MULTI_LINE if multiline else _SINGLE_LINE).search(value)
    return None if found is None else f"U+{ord(found.group()):04X}"


def describe(character: str) -> str:
    """``U+0000`` as the English reason of a refusal (the API's and the CLIs' wording)."""
    if 0xD800 <= int(character[2:], 16) <= 0xDFFF:
        return f"must not contain {character} (a lone surrogate, not UTF-8)"
    return f"must not contain {character} (a control character)"


def describe_de(character: str) -> str:
    """The same in German, for the pages and the German messages of the services."""
    if 0xD800 <= int(character[2:], 16) <= 0xDFFF:
        return f"Das Zeichen {character} ist kein gültiges Unicode-Zeichen; bitte entfernen."
    return f"Das Steuerzeichen {character} ist hier nicht erlaubt; bitte entfernen."


def _refuse(value: Any, *, multiline: bool) -> Any:
    if not isinstance(value, str):
        return value  # not text: the str schema after this refuses it with its own error
    if multiline:
        value = value.replace("\r\n", "\n")
    character = forbidden_character(value, multiline=multiline)
    if character is not None:
        raise PydanticCustomError(
            FORBIDDEN_CHARACTER, describe(character), {"character": character}
        )
    return value


def _one_line(value: Any) -> Any:
    return _refuse(value, multiline=False)


def _lines(value: Any) -> Any:
    return _refuse(value, multiline=True)


OneLine = BeforeValidator(_one_line)
"""Refuses control characters and lone surrogates: for any str annotation that enters."""

Lines = BeforeValidator(_lines)
"""The same, letting newline and tab through: for notes, reasons and comments."""

Line = Annotated[str, OneLine, Field(json_schema_extra=SINGLE_LINE_SCHEMA)]
"""Text of one line as given, no length of its own: query and path parameters."""

Text = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    OneLine,
    Field(json_schema_extra=SINGLE_LINE_SCHEMA),
]
"""A name, contact, address, opening hours: one line of up to 200 characters."""

HoldReason = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=300),
    Lines,
    Field(
        json_schema_extra=MULTI_LINE_SCHEMA,
        description="Why the case must not be erased (court proceedings, a request of the "
        "data protection officer). No personal data.",
    ),
]
"""Why a case is on legal hold (API and retention CLI)."""


_T = TypeVar("_T")


def belongs_to(value: _T, holds: bool | None, condition: str) -> _T:
    """A field that belongs to a condition on another field: required when it holds, refused
    when it does not (in a field validator, so the error names this field). ``holds`` None:
    the other field is itself invalid, and no judgement is made."""
    if holds is True and value is None:
        raise ValueError(f"required when {condition}")
    if holds is False and value is not None:
        raise ValueError(f"only when {condition}")
    return value


def argument(adapter: TypeAdapter[_T]) -> Callable[[str], _T]:
    """An argparse ``type=`` checking a command-line value like any other input.

    argparse then prints ``argument --name: must not contain U+001B (a control character)``
    and exits with 2: the reason without the value, and no traceback.
    """

    def parse(raw: str) -> _T:
        try:
            return adapter.validate_python(raw)
        except ValidationError as error:
            reasons = "; ".join(e["msg"] for e in error.errors(include_input=False))
            raise argparse.ArgumentTypeError(reasons) from None

    return parse


line_argument = argument(TypeAdapter(Line))
row_id_argument = argument(TypeAdapter(RowId))
