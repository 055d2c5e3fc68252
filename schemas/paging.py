"""Keyset pagination's cursor, written once for every list: where a page ended, as an opaque
string (URL-safe base64 of the model's JSON). A cursor that does not read as its list's is
refused like any other bad input."""

from __future__ import annotations

import base64
import binascii
from typing import TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)

CURSOR_MAX = 400


def encode_cursor(where: BaseModel) -> str:
    return base64.urlsafe_b64encode(where.model_dump_json().encode()).decode().rstrip("=")


def decode_cursor(value: str, kind: type[M]) -> M:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        return kind.model_validate_json(raw)
    except (binascii.Error, ValueError, ValidationError) as error:
        raise ValueError("not a cursor of this list") from error
