"""The one error tree of the service layer and its two mappers (JSON, German pages)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import service.errors as tree
from api.errors import status_of
from schemas.errors import FieldError
from service.errors import (
    AccountError,
    CaseClosed,
    Conflict,
    Damaged,
    EventIdReused,
    Forbidden,
    Invalid,
    LoginRefused,
    NameTaken,
    NotFound,
    Refused,
    RulesChanged,
    ServiceError,
    ServiceUnavailable,
    SsoRefused,
    UnknownEntry,
)
from web.common import refusal


def _refusals() -> list[type[Refused]]:
    return [
        kind
        for _, kind in inspect.getmembers(tree, inspect.isclass)
        if issubclass(kind, Refused) and kind.__module__ == tree.__name__
    ]


def test_every_refusal_has_its_status_and_the_tree_has_no_http_numbers() -> None:
    assert {kind.__name__ for kind in _refusals()} >= {
        "NotFound", "Forbidden", "Conflict", "Invalid", "CaseClosed", "NameTaken",
        "UnknownEntry", "AccountError", "LoginRefused", "Refused", "SsoRefused", "Damaged",
        "RulesChanged",
    }  # fmt: skip
    for kind in _refusals():
        if kind is Refused:
            continue
        samples: dict[type[Refused], str] = {LoginRefused: "invalid", SsoRefused: "no_role"}
        error = kind(samples.get(kind, "x"))
        assert status_of(error) in {401, 403, 404, 409, 422}
    source = Path(tree.__file__).read_text(encoding="utf-8")
    assert not re.search(r"\b(4\d\d|5\d\d)\b", source)
    assert issubclass(ServiceUnavailable, ServiceError) and not issubclass(
        ServiceUnavailable, Refused
    )


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (NotFound("unknown case"), 404),
        (UnknownEntry("unknown partner"), 404),
        (Forbidden("your role may not do this"), 403),
        (Conflict("the task is already completed"), 409),
        (CaseClosed("the case is closed"), 409),
        (Damaged("the attachment's stored data fail their integrity check"), 409),
        (SsoRefused("no_role"), 403),
        (EventIdReused("ABH-1-e1"), 409),
        (RulesChanged.between(2, 3), 409),
        (NameTaken("a partner with this name already exists in this town"), 409),
        (Invalid.field("town", "unknown"), 422),
        (AccountError("Unbekanntes Konto."), 422),
    ],
)
def test_status_by_kind(error: Refused, status: int) -> None:
    assert status_of(error) == status


def test_invalid_names_its_fields() -> None:
    error = Invalid.field("partner_id", "no such partner in the directory")
    assert error.message == "partner_id: no such partner in the directory"
    assert error.fields == [
        FieldError(field="partner_id", reason="no such partner in the directory")
    ]


def test_the_pages_choose_their_words_by_kind_never_by_message() -> None:
    texts: dict[type[Refused], str] = {
        NotFound: "Diesen Fall gibt es nicht.",
        CaseClosed: "Der Fall ist abgeschlossen.",
        Refused: "Nicht möglich.",
    }
    page = refusal(CaseClosed("anything at all"), texts)
    assert (page.status, page.message) == (409, "Der Fall ist abgeschlossen.")
    page = refusal(Conflict("the case is closed"), texts)
    assert (page.status, page.message) == (409, "Nicht möglich.")
    page = refusal(Forbidden("Ihre Rolle hat keinen Posteingang."))
    assert (page.status, page.message) == (403, "Ihre Rolle hat keinen Posteingang.")
