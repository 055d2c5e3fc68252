"""Rows as the store returns them: one small frozen model per query result.

Strict, so a value stays exactly what asyncpg returned (an aware ``datetime`` for
``timestamptz``, asyncpg's ``UUID`` for ``uuid``, ``bytes`` for ``bytea``, a plain ``str`` for a
text column whatever enum it spells), and ``extra="forbid"``, so a model and its query name the
same columns. Rows hold personal data: their errors never quote the input, and personal fields
are left out of ``repr``. Callers build their own models from them.

A row model lives beside the schemas of what it holds; this module has the base and the rows
of the data keys, which have no schema module of their own.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class Row(BaseModel):
    model_config = ConfigDict(frozen=True, strict=True, extra="forbid", hide_input_in_errors=True)


class WrappedKeyRow(Row):
    """A live data key, wrapped by the master key ``master_key_id``."""

    key_id: str
    wrapped: bytes = Field(repr=False)
    master_key_id: str


class KeyRow(Row):
    """A data key by its id: ``wrapped`` and ``master_key_id`` are None once it is shredded."""

    wrapped: bytes | None = Field(repr=False)
    master_key_id: str | None
    shredded_at: datetime | None
