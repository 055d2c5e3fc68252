"""What PostgreSQL or a PDF cannot carry is refused where it enters, naming the field (issue 10).

One NUL in a name used to be taken in by the API and the workflow's validator, then refused by
PostgreSQL inside an activity retrying for ever: the request never answered and the case was
blocked for good. Ids beyond the int4 columns, and NUL in query parameters, were 500s.

Three levels here:

- the input models: those the API's routes take as bodies and the workflows' updates and
  signals take as arguments (found from the routers and the workflow definitions), and the
  ones the pages and the CLIs validate with. Each is walked through its JSON schema, field by
  field; Hypothesis puts forbidden characters anywhere into every string field and values
  outside the column into every integer field, and the model must refuse naming that field;
- every path and query parameter of the API (from its OpenAPI document) and of the pages
  (from their router), sent with a NUL and with 2**31: 422 naming it, or a page, never a 500;
- what a person notices: the intake answers at once and starts nothing, a case stays open to
  events, the pages say it in German next to the field, the CLIs exit with a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import importlib
import io
import json
import pkgutil
import time
import types
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin
from urllib.parse import quote

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter, ValidationError
from temporalio import workflow
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

import api.routes
import web.pages
from api.routes.retention import LegalHold
from commands import accounts as accounts_cli
from commands import audit as audit_cli
from commands import retention as retention_cli
from config.settings import Settings
from schemas.accounts import Role
from schemas.attachments import AttachmentDraft
from schemas.case import (
    ConsentWithdrawal,
    DeadlineExtension,
    Reopening,
    RouteFailure,
    SupporterReport,
)
from schemas.departure import DepartureRecord
from schemas.events import StatusEvent
from schemas.inputs import (
    INT4_MAX,
    MULTI_LINE_SCHEMA,
    SINGLE_LINE_SCHEMA,
    HoldReason,
    Line,
    Text,
    forbidden_character,
)
from schemas.notes import NoteDraft
from schemas.offers import OfferDraft
from schemas.partners import PartnerDraft
from schemas.process import ProcessTimings
from schemas.reassignment import Deputising, HandOver, TaskReassignment
from schemas.rule_sets import RuleSetProposal
from schemas.sso import SsoFlow
from schemas.tasks import (
    CompleteTask,
    EnforcementResult,
    ErasureConfirmation,
    Escalation,
    FlyerHandover,
    FollowUp,
    InformationConversation,
    KiContact,
    ReferralConsent,
    Representative,
    RepresentativeInquiry,
    RouteReview,
    StepFailureReview,
    TaskCompletion,
    TaskKind,
)
from schemas.webhooks import SubscriptionDraft
from starter import cli
from tests.sitekit import Site
from tests.test_api import (
    V1,
    account_service,
    event,
    login_session,
    new_case_id,
    open_case,
    opening,
    today,
)
from tests.test_web import field_block
from workflows.arrival import ArrivalWorkflow
from workflows.case import CaseWorkflow, workflow_id
from workflows.retention import RetentionWorkflow

NUL = "A\u0000B"
BEYOND = INT4_MAX + 1
# Generous: the refusal takes milliseconds; before the fix the request never answered.
PATIENCE = 30.0

# ------------------------------------------------------------------ the input models


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    """The pydantic models an annotation stands for (through Annotated and unions)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        yield from _models_in(get_args(annotation)[0])
    elif origin in (Union, types.UnionType):
        for member in get_args(annotation):
            yield from _models_in(member)
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation


def api_bodies() -> set[type[BaseModel]]:
    """Every body of every route of the API (each module of api/routes has one router)."""
    found: set[type[BaseModel]] = set()
    for module in pkgutil.iter_modules(api.routes.__path__):
        router = importlib.import_module(f"api.routes.{module.name}").router
        for route in router.routes:
            if isinstance(route, APIRoute):
                for param in route.dependant.body_params:
                    found.update(_models_in(param.field_info.annotation))
    return found


def update_arguments() -> set[type[BaseModel]]:
    """What the workflows' updates and signals take: a payload sent to them by any client.

    ``_Definition`` is the SDK's own reading of the decorators; no public API lists them.
    """
    found: set[type[BaseModel]] = set()
    for workflow_class in (CaseWorkflow, ArrivalWorkflow, RetentionWorkflow):
        definition = workflow._Definition.must_from_class(workflow_class)
        handlers: list[workflow._UpdateDefinition | workflow._SignalDefinition] = [
            *definition.updates.values(),
            *definition.signals.values(),
        ]
        for handler in handlers:
            for argument in handler.arg_types or ():
                found.update(_models_in(argument))
    return found


# What the pages and the CLIs validate with: the same models as the API, listed so that a page
# or a command taking a model of its own is added here (the check below then walks it).
PAGES_AND_CLIS: set[type[BaseModel]] = {
    *_models_in(TaskCompletion),  # web/forms.py (COMPLETION validates it), the task pages
    PartnerDraft,  # web/routes/admin.py (admin/partner), starter partners add|update
    OfferDraft,  # web/routes/admin.py (admin/angebote), starter offers add|update
    StatusEvent,  # starter event|events, starter/csv_format.py
    AttachmentDraft,  # the multipart fields beside the file (api/routes/attachments.py, page)
    SsoFlow,  # web/routes/login.py: the single sign-on's flow, read back from a cookie
    RuleSetProposal,  # web/routes/admin.py (admin/regeln, a JSON file), commands.rules propose
}

INPUT_MODELS = sorted(api_bodies() | update_arguments() | PAGES_AND_CLIS, key=lambda m: m.__name__)

_PERSON: dict[str, Any] = {
    "given_name": "Amina",
    "family_name": "Beispiel",
    "date_of_birth": "1994-03-02",
    "nationality": "IRQ",
    "language": "ar",
    "phone": "+49 2303 555",
    "email": "amina@example.org",
    "address": {"street": "Bahnhofstr. 1", "postal_code": "59423", "town": "Unna"},
}

# A time rule and a route version with every field (rule sets: CompleteTask.rules, proposals).
_TIME_RULE: dict[str, Any] = {
    "rule_id": "beispiel-regel",
    "title": "Keine Abschiebung zur Nachtzeit",
    "source": "Erlass (Beispiel)",
    "valid_from": "2024-01-01",
    "valid_to": "2030-12-31",
    "child_younger_than": 14,
    "home_entry_only": True,
    "lifted_by_court_order": True,
    "tolerated_at_least": "P365D",
    "night_from": "21:00:00",
    "night_until": "06:00:00",
    "notice_months": 1,
    "timezone": "Europe/Berlin",
    "open_question": "Gilt sie auch bei Gefahr im Verzug?",
}
_ROUTES: dict[str, Any] = {
    "versions": [
        {
            "route": "§25b AufenthG",
            "title": "Nachhaltige Integration",
            "valid_from": "2024-01-01",
            "valid_to": "2026-12-31",
            "prerequisites": [{"code": "passport", "text": "Pass oder Passersatz"}],
            "source": "§25b AufenthG",
            "reviewed_by": "Rechtsamt",
            "open_question": "Keine",
        }
    ],
    "review_by": "2027-07-01",
}

# Valid examples, together filling every field of their model (the coverage test checks it),
# so an error at a field can only come from what the test put there.
EXAMPLES: dict[type[BaseModel], list[dict[str, Any]]] = {
    StatusEvent: [
        {
            "event_id": "ev-9",
            "case_id": "ABH-2026-0001",
            "status": "ausgereist",
            "effective_date": "2026-12-01",
            "departure": {
                "kind": "return_programme",
                "programme": "reag_garp",
                "proof": {
                    "kind": "other",
                    "crossed_on": "2026-12-01",
                    "place": "Flughafen Düsseldorf",
                    "description": "Bestätigung der IOM",
                },
            },
        },
        {
            "event_id": "ev-1",
            "case_id": "ABH-2026-0001",
            "status": "ausreisepflichtig",
            "effective_date": "2026-11-20",
            "departure_deadline": "2027-01-15",
            "person": _PERSON,
            "household": {
                "children": [{"date_of_birth": "2015-06-01"}],
                "reference": "HH-2026-0007",
            },
        },
    ],
    ConsentWithdrawal: [{"withdrawn_on": "2026-12-01", "received_by": "Frau Muster, ABH"}],
    RouteFailure: [{"failed_on": "2026-12-01", "reason": "Antrag nach §25b abgelehnt"}],
    DeadlineExtension: [{"new_deadline": "2027-03-01", "reason": "Reisepass beantragt"}],
    DepartureRecord: [
        {
            "kind": "return_programme",
            "programme": "reag_garp",
            "proof": "other",
            "crossed_on": "2026-12-01",
            "place": "Flughafen Düsseldorf",
            "description": "Bestätigung der IOM",
        }
    ],
    Reopening: [
        {"status": "geduldet", "effective_date": "2026-12-01", "departure_deadline": "2027-01-15"}
    ],
    TaskReassignment: [
        {
            "task_ids": ["0f3c8c1e-8f5b-4c1e-9a3e-3f1f0b7a9d21"],
            "assignee": 7,
            "comment": "Urlaubsvertretung\nbis 12.01.",
        }
    ],
    HandOver: [{"assignee": 7, "comment": "Urlaub ab morgen,\nbitte übernehmen."}],
    Deputising: [{"reason": "Vertretung während der Krankheit"}],
    SupporterReport: [
        {
            "name": "Ehrenamt",
            "organisation": "Caritas",
            "contact": "0170 1",
            "is_representative": True,
        }
    ],
    PartnerDraft: [
        {
            "name": "Ehrenamt Kamen",
            "kind": "ehrenamt",
            "town": "Kamen",
            "contact": "kamen@example.org",
            "languages": ["de"],
            "address": "Markt 1",
            "hours": "Mi 16:00–18:00",
        }
    ],
    OfferDraft: [
        {
            "name": "Sprachcafé",
            "category": "language_course",
            "town": "Lünen",
            "address": "Markt 2",
            "hours": "Fr 10:00–12:00",
            "contact": "0231 1",
            "languages": ["ar"],
        }
    ],
    LegalHold: [{"reason": "Klage anhängig"}],
    SubscriptionDraft: [
        {"name": "fachverfahren", "url": "https://bo.example/hooks", "secret": "whsec_abc"}
    ],
    InformationConversation: [
        {
            "kind": "information_conversation",
            "held_on": "2026-11-27",
            "routes_discussed": ["§25b AufenthG"],
            "perspective": "route_possible",
            "route_pursued": "§25b AufenthG",
            "missing_prerequisites": [{"route": "§25b AufenthG", "prerequisite": "livelihood"}],
            "language": "ar",
            "interpreter": {"language": "ar", "mode": "by_phone"},
            "participants": ["person", "representative"],
            "record_copy": "handed_over",
            "departure_letter": "refused",
        }
    ],
    ReferralConsent: [
        {"kind": "referral_consent", "interested": True, "consent_signed_on": "2026-11-28"}
    ],
    KiContact: [
        {"kind": "ki_contact", "partner_id": 7, "contacted_on": "2026-11-28"},
        {
            "kind": "ki_contact",
            "result": "declined",
            "contacted_on": "2026-11-28",
            "note_to_abh": "Möchte erst mit der Familie sprechen",
        },
    ],
    FollowUp: [
        {"kind": "follow_up", "reached": True, "planned_departure_on": "2026-12-20"},
        {
            "kind": "follow_up",
            "reached": True,
            "return_programme": "reag_garp",
            "return_support": "approved",
        },
    ],
    Representative: [
        {
            "kind": "representative",
            "name": "RAin Beispiel",
            "contact": "Markt 3, Unna",
            "power_of_attorney_on": "2026-11-28",
        }
    ],
    RepresentativeInquiry: [
        {"kind": "representative_inquiry", "asked_on": "2026-11-28", "facts_reported": False},
        {
            "kind": "representative_inquiry",
            "asked_on": "2026-11-28",
            "facts_reported": True,
            "fact": "Ausbildungsvertrag unterschrieben",
            "learned_on": "2026-11-27",
            "relevant_to": "§60c AufenthG",
        },
    ],
    Escalation: [
        {"kind": "escalation", "decision": "extend_deadline", "new_deadline": "2027-02-01"},
        {
            "kind": "escalation",
            "decision": "enforcement",
            "enforcement_at": "2027-02-01T08:00:00+01:00",
            "enforcement_until": "2027-02-01T11:00:00+01:00",
            "announced_on": "2026-12-20",
            "enters_home": True,
            "court_order": False,
        },
    ],
    FlyerHandover: [
        {"kind": "flyer_handover", "handed_over": True, "handed_over_on": "2026-11-30"}
    ],
    ErasureConfirmation: [
        {"kind": "erasure_confirmation", "confirmed_on": "2026-12-01", "how": "per E-Mail"}
    ],
    RouteReview: [
        {"kind": "route_review", "outcome": "still_pursued", "review_again_on": "2027-03-01"},
        {"kind": "route_review", "outcome": "failed", "reason": "Antrag zurückgenommen"},
    ],
    EnforcementResult: [
        {
            "kind": "enforcement_result",
            "result": "carried_out",
            "started_at": "2027-02-01T08:00:00+01:00",
            "ended_at": "2027-02-01T10:00:00+01:00",
            "minors_present": True,
            "breach_reason": "Flug früher als geplant",
            "decided_by": "Einsatzleitung",
        }
    ],
    StepFailureReview: [
        {"kind": "step_failed", "checked_on": "2026-11-30", "action": "In der Akte ergänzt"}
    ],
    NoteDraft: [{"text": "Termin bei der Botschaft am 12.01.\nPass beantragt."}],
    AttachmentDraft: [{"kind": "border_crossing", "description": "Ausreise über Düsseldorf"}],
    SsoFlow: [
        {
            "state": "s" * 43,
            "nonce": "n-_" * 15,
            "code_verifier": "V" * 86,
            "next_path": "/faelle?seite=2",
            "started_at": "2026-01-05T09:30:00Z",
        }
    ],
    CompleteTask: [
        {
            "task_id": "0f3c8c1e-8f5b-4c1e-9a3e-3f1f0b7a9d21",
            "completion": {"kind": "follow_up", "reached": False},
            "household_born": ["2012-03-04"],
            "rules": {"version": 2, "time_rules": [_TIME_RULE], "residence_routes": _ROUTES},
        }
    ],
    RuleSetProposal: [
        {
            "adopted_from": "2027-01-01",
            "content": {
                "timings": json.loads(ProcessTimings().model_dump_json()),
                "time_rules": [_TIME_RULE],
                "residence_routes": _ROUTES,
                "retention": {
                    "rules": [
                        {
                            "outcome": "departed_voluntarily",
                            "keep_years": 10,
                            "keep_months": 6,
                            "source": "§ 86a AufenthG",
                        }
                    ]
                },
            },
        }
    ],
}


@dataclass(frozen=True)
class Leaf:
    """A string or integer field of a model, where it sits (``path``) and its schema."""

    path: tuple[str | int, ...]
    schema: dict[str, Any]

    @property
    def integer(self) -> bool:
        return self.schema.get("type") == "integer"

    @property
    def free_text(self) -> bool:
        """One of the shared text types (no pattern, enum or format of its own)."""
        return self.schema.get("pattern") in (
            SINGLE_LINE_SCHEMA["pattern"],
            MULTI_LINE_SCHEMA["pattern"],
        )

    @property
    def multiline(self) -> bool:
        return self.schema.get("pattern") == MULTI_LINE_SCHEMA["pattern"]


@dataclass(frozen=True)
class UnionField:
    """A discriminated union (a task completion): its members are input models of their own."""

    path: tuple[str | int, ...]
    members: tuple[str, ...]


def _fields(
    schema: dict[str, Any], defs: dict[str, Any], path: tuple[str | int, ...] = ()
) -> Iterator[Leaf | UnionField]:
    if "$ref" in schema:
        schema = {**defs[schema["$ref"].rsplit("/", 1)[1]], **{k: v for k, v in schema.items()
                                                               if k != "$ref"}}  # fmt: skip
    if "discriminator" in schema:
        names = tuple(ref["$ref"].rsplit("/", 1)[1] for ref in schema["oneOf"])
        yield UnionField(path, names)
        return
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            for branch in schema[key]:
                if branch.get("type") != "null":
                    yield from _fields(branch, defs, path)
            return
    kind = schema.get("type")
    if kind == "object":
        for name, sub in schema.get("properties", {}).items():
            yield from _fields(sub, defs, (*path, name))
    elif kind == "array":
        yield from _fields(schema["items"], defs, (*path, 0))
    elif kind in ("string", "integer") or "enum" in schema or "const" in schema:
        yield Leaf(path, schema)


def fields_of(model: type[BaseModel]) -> list[Leaf | UnionField]:
    schema = model.model_json_schema()
    unique: dict[tuple[str | int, ...], Leaf | UnionField] = {}
    for found in _fields(schema, schema.get("$defs", {})):
        unique.setdefault(found.path, found)
    return list(unique.values())


def _at(data: Any, path: tuple[str | int, ...]) -> Any:
    for part in path:
        if isinstance(part, int):
            if not isinstance(data, list) or len(data) <= part:
                return None
        elif not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def _with(data: Any, path: tuple[str | int, ...], value: Any) -> Any:
    changed = copy.deepcopy(data)
    target = changed
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return changed


def example_with(model: type[BaseModel], path: tuple[str | int, ...]) -> tuple[dict[str, Any], Any]:
    for example in EXAMPLES.get(model, []):
        value = _at(example, path)
        if value is not None:
            return example, value
    raise AssertionError(f"no example of {model.__name__} fills {path}")


_TAGS = frozenset(kind.value for kind in TaskKind)


def refused_at(error: ValidationError, path: tuple[str | int, ...]) -> list[Any]:
    """The errors at ``path``; pydantic puts a union's tag into the loc, the field has none."""
    return [
        detail
        for detail in error.errors(include_input=False)
        if tuple(part for part in detail["loc"] if part not in _TAGS) == path
    ]


LEAVES = [
    (model, found)
    for model in INPUT_MODELS
    for found in fields_of(model)
    if isinstance(found, Leaf)
]
STRINGS = [(model, leaf) for model, leaf in LEAVES if not leaf.integer]
INTEGERS = [(model, leaf) for model, leaf in LEAVES if leaf.integer]
FREE_TEXT = [(model, leaf) for model, leaf in STRINGS if leaf.free_text]


def _id(value: Any) -> str:
    if isinstance(value, type):
        return value.__name__
    return ".".join(map(str, value.path))


# Pure validation, no I/O: many examples are cheap; no deadline on a loaded 2-core machine,
# and no example database written into the worktree.
PROPERTY = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def test_the_walk_finds_the_input_models_and_their_fields() -> None:
    names = {model.__name__ for model in INPUT_MODELS}
    # The ones the issue names, so that a broken discovery cannot pass unnoticed.
    assert {"StatusEvent", "SupporterReport", "PartnerDraft", "OfferDraft", "KiContact"} <= names
    assert {"CompleteTask", "ConsentWithdrawal", "LegalHold", "Representative"} <= names
    paths = {(model.__name__, leaf.path) for model, leaf in LEAVES}
    assert ("StatusEvent", ("person", "given_name")) in paths
    assert ("StatusEvent", ("person", "address", "town")) in paths
    assert ("KiContact", ("partner_id",)) in paths
    assert ("CompleteTask", ("task_id",)) in paths
    assert len(FREE_TEXT) >= 15 and INTEGERS


@pytest.mark.parametrize("model", INPUT_MODELS, ids=_id)
def test_every_input_model_has_examples_filling_every_field(model: type[BaseModel]) -> None:
    assert model in EXAMPLES, f"add valid examples of {model.__name__} to EXAMPLES"
    for example in EXAMPLES[model]:
        model.model_validate(example)
    for found in fields_of(model):
        if isinstance(found, UnionField):
            # Walked as models of their own.
            assert set(found.members) <= {m.__name__ for m in INPUT_MODELS}, found
            continue
        example_with(model, found.path)


@pytest.mark.parametrize(("model", "leaf"), STRINGS, ids=_id)
@PROPERTY
@given(data=st.data())
def test_a_forbidden_character_anywhere_in_a_text_field_is_refused_naming_it(
    model: type[BaseModel], leaf: Leaf, data: st.DataObject
) -> None:
    example, value = example_with(model, leaf.path)
    kept = "\n\t" if leaf.multiline else ""
    character = data.draw(st.characters(categories=["Cc", "Cs"], exclude_characters=kept))
    at = data.draw(st.integers(0, len(value)))
    with pytest.raises(ValidationError) as refused:
        model.model_validate(_with(example, leaf.path, value[:at] + character + value[at:]))
    errors = refused_at(refused.value, leaf.path)
    assert errors, [e["loc"] for e in refused.value.errors()]
    if leaf.free_text:
        # The reason names the character, never the value.
        assert errors[0]["type"] == "forbidden_character"
        assert errors[0]["msg"].startswith(f"must not contain U+{ord(character):04X} (")
        assert value not in errors[0]["msg"]


@pytest.mark.parametrize(("model", "leaf"), FREE_TEXT, ids=_id)
def test_newline_and_tab_only_where_a_text_has_lines(model: type[BaseModel], leaf: Leaf) -> None:
    example, value = example_with(model, leaf.path)
    for kept in ("\n", "\t"):
        payload = _with(example, leaf.path, value[:1] + kept + value[1:])
        if leaf.multiline:
            assert kept in _at(model.model_validate(payload).model_dump(), leaf.path)
        else:
            with pytest.raises(ValidationError) as refused:
                model.model_validate(payload)
            assert refused_at(refused.value, leaf.path)


@pytest.mark.parametrize(("model", "leaf"), INTEGERS, ids=_id)
@PROPERTY
@given(data=st.data())
def test_an_integer_beyond_its_column_is_refused_naming_it(
    model: type[BaseModel], leaf: Leaf, data: st.DataObject
) -> None:
    low, high = leaf.schema.get("minimum"), leaf.schema.get("maximum")
    assert low is not None and high is not None, "an integer input needs both bounds"
    assert -(2**31) <= low and high <= INT4_MAX
    example, _ = example_with(model, leaf.path)
    wrong = data.draw(st.integers(max_value=low - 1) | st.integers(min_value=high + 1))
    with pytest.raises(ValidationError) as refused:
        model.model_validate(_with(example, leaf.path, wrong))
    assert refused_at(refused.value, leaf.path)


def test_what_people_write_is_kept() -> None:
    text = TypeAdapter(Text)
    # Arabic, Persian with its ZERO WIDTH NON-JOINER (a format character, not a control),
    # umlauts, an emoji, a no-break space inside.
    for written in ("أمينة", "می\u200cخواهم", "Fröndenberg/Ruhr", "Łukasz 🙂", "Haus\u00a01"):
        assert text.validate_python(f"  {written} ") == written
        assert forbidden_character(written) is None
    note = TypeAdapter(HoldReason)
    assert note.validate_python("Zeile 1\r\nZeile 2\tEnde") == "Zeile 1\nZeile 2\tEnde"
    with pytest.raises(ValidationError, match=r"U\+000D"):
        note.validate_python("Zeile 1\rZeile 2")
    with pytest.raises(ValidationError, match=r"U\+D800 \(a lone surrogate"):
        TypeAdapter(Line).validate_python("A\ud800")


# ------------------------------------------------------------------------------- API


async def _answer(request: Any) -> httpx.Response:
    """The response, or a failed test after PATIENCE (the request used to hang for ever)."""
    response: httpx.Response = await asyncio.wait_for(request, PATIENCE)
    return response


async def test_a_nul_in_a_name_is_refused_at_once_and_starts_nothing(
    http: httpx.AsyncClient, dev_env: WorkflowEnvironment, pool: asyncpg.Pool
) -> None:
    case_id = new_case_id()
    body = opening(case_id)
    body["person"]["given_name"] = NUL
    started = time.monotonic()
    response = await _answer(http.post(f"{V1}/status-events", json=body))
    assert time.monotonic() - started < PATIENCE
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {
            "loc": ["body", "person", "given_name"],
            "msg": "must not contain U+0000 (a control character)",
            "type": "forbidden_character",
        }
    ]
    assert await pool.fetchval("SELECT count(*) FROM cases WHERE case_id = $1", case_id) == 0
    with pytest.raises(RPCError):
        await dev_env.client.get_workflow_handle(workflow_id(case_id)).describe()

    # A lone surrogate cannot be encoded as UTF-8: JSON can still carry it as an escape.
    raw = json.dumps(opening(case_id)).replace('"Testvorname"', '"A\\ud800B"')
    response = await _answer(
        http.post(f"{V1}/status-events", content=raw, headers={"content-type": "application/json"})
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "person", "given_name"]
    assert "U+D800" in response.json()["errors"][0]["msg"]


async def test_a_refused_supporter_leaves_the_case_taking_events(http: httpx.AsyncClient) -> None:
    case_id = await open_case(http)
    report = {"name": NUL, "contact": "0170 1", "is_representative": False}
    response = await _answer(http.post(f"{V1}/cases/{case_id}/supporters", json=report))
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["errors"]] == [["body", "name"]]
    later = await _answer(
        http.post(f"{V1}/status-events", json=event(case_id, 2, status="geduldet"))
    )
    assert later.status_code == 202, later.text
    report["name"] = "Zeile\nzwei"  # a name has one line
    response = await _answer(http.post(f"{V1}/cases/{case_id}/supporters", json=report))
    assert response.status_code == 422 and "U+000A" in response.text


async def test_ids_beyond_the_int4_column_are_refused_not_a_500(
    http: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    partner = {"name": "P", "kind": "ehrenamt", "town": "Unna", "contact": "c"}
    for path in ("partners", "offers"):
        for wrong in (BEYOND, 0, -1):
            response = await http.get(f"{V1}/{path}/{wrong}")
            assert response.status_code == 422, (path, wrong, response.status_code)
            assert response.json()["errors"][0]["loc"] == ["path", f"{path[:-1]}_id"]
        assert (await http.get(f"{V1}/{path}/{INT4_MAX}")).status_code == 404
        assert (await admin.delete(f"{V1}/{path}/{BEYOND}")).status_code == 422
    response = await admin.put(f"{V1}/partners/{BEYOND}", json=partner)
    assert response.status_code == 422
    response = await http.post(
        f"{V1}/tasks/{uuid.uuid4()}/complete",
        json={"kind": "ki_contact", "partner_id": BEYOND, "contacted_on": today().isoformat()},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "partner_id"]
    response = await http.get(f"{V1}/partners", params={"town": "Un\u0000na"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["query", "town"]
    response = await admin.post(f"{V1}/partners", json={**partner, "name": NUL})
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "name"]


def _schema(parameter: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = parameter["schema"]
    for branch in schema.get("anyOf", []):
        if branch.get("type") != "null":
            return {**branch, **{k: v for k, v in schema.items() if k != "anyOf"}}
    return schema


def _valid(schema: dict[str, Any]) -> str:
    if "enum" in schema:
        return str(schema["enum"][0])
    if schema.get("format") == "uuid":
        return str(uuid.uuid4())
    if schema.get("format") == "date":
        return today().isoformat()
    if schema.get("type") == "integer":
        return "1"
    if "^[a-z]{2,3}$" in schema.get("pattern", ""):
        return "de"
    return "Unna"  # a town, and a well-formed case id


def _wrong(schema: dict[str, Any]) -> list[str]:
    if schema.get("type") == "integer":
        return [str(BEYOND), "0"]
    return [NUL]


async def test_every_parameter_of_the_api_refuses_what_no_column_holds(
    app: FastAPI, http: httpx.AsyncClient, ki: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    checked = 0
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            parameters = [p for p in operation.get("parameters", []) if p["in"] != "header"]
            for parameter in parameters:
                for wrong in _wrong(_schema(parameter)):
                    values = {
                        p["name"]: wrong if p is parameter else _valid(_schema(p))
                        for p in parameters
                        if p is parameter or p.get("required")
                    }
                    url = path
                    query = {}
                    for p in parameters:
                        if p["name"] not in values:
                            continue
                        if p["in"] == "path":
                            url = url.replace(f"{{{p['name']}}}", quote(values[p["name"]], safe=""))
                        else:
                            query[p["name"]] = values[p["name"]]
                    body: dict[str, str] | None = {} if "requestBody" in operation else None
                    for client in (admin, http, ki):
                        response = await client.request(method, url, params=query, json=body)
                        if response.status_code not in (401, 403):
                            break
                    where = [parameter["in"], parameter["name"]]
                    assert response.status_code == 422, (method, path, where, response.text)
                    assert where in [e["loc"] for e in response.json()["errors"]], response.text
                    checked += 1
    assert checked >= 15


async def test_every_parameter_of_the_pages_is_an_answer_not_a_500(site: Site) -> None:
    checked = 0
    async with contextlib.AsyncExitStack() as stack:
        people = [
            await stack.enter_async_context(await site.person(role))
            for role in (Role.ADMIN, Role.ABH, Role.KI)
        ]
        checked = await _walk_pages(people)
    assert checked >= 20


async def _walk_pages(people: list[httpx.AsyncClient]) -> int:
    checked = 0
    routes = [route for area in web.pages.AREAS for route in area.router.routes]
    for route in routes:
        assert isinstance(route, APIRoute) and route.methods is not None
        dependant = route.dependant
        names = [p.name for p in dependant.path_params + dependant.query_params]
        for name in names:
            for wrong in (NUL, str(BEYOND)):
                url = route.path
                query = {}
                for other in names:
                    value = wrong if other == name else "1"
                    if f"{{{other}}}" in url:
                        url = url.replace(f"{{{other}}}", quote(value, safe=""))
                    else:
                        query[other] = value
                for person in people:
                    for method in route.methods:
                        response = await person.request(method, url, params=query)
                        assert response.status_code < 500, (method, url, response.text)
                    checked += 1
    return checked


# ----------------------------------------------------------------------------- pages


async def test_the_pages_refuse_a_control_character_in_german(site: Site) -> None:
    abh = await site.person(Role.ABH)
    colleague = await site.accounts.create_account(
        f"abh-{uuid.uuid4().hex[:6]}", "Kollegin", Role.ABH, "ein-langes-testpasswort"
    )
    case_id = await site.open_case()
    await site.cases.register_supporter(
        case_id,
        SupporterReport(name="Unterstützerin", contact="0170 1", is_representative=True),
        colleague,
    )
    task_id = await site.task_id(case_id, "representative")
    async with abh:
        page = await abh.post(
            f"/aufgaben/{task_id}",
            data={
                "name": NUL,
                "contact": "Markt 3",
                "power_of_attorney_on": today().isoformat(),
            },
        )
        assert page.status_code == 422
        assert "Das Steuerzeichen U+0000 ist hier nicht erlaubt" in field_block(page.text, "name")
        page = await abh.post(
            f"/aufgaben/{task_id}/uebergeben",
            data={"an": str(colleague.account_id), "kommentar": "Bitte\u001b übernehmen"},
        )
        assert page.status_code == 422
        assert "Kommentar: Das Steuerzeichen U+001B ist hier nicht erlaubt" in page.text
        # A comment has lines; the browser sends them as CR LF.
        page = await abh.post(
            f"/aufgaben/{task_id}/uebergeben",
            data={"an": str(colleague.account_id), "kommentar": "Termin:\r\nDienstag"},
        )
        assert page.status_code == 303
    comment = await site.pool.fetchval(
        "SELECT comment FROM task_assignments WHERE task_id = $1::uuid", task_id
    )
    assert comment == "Termin:\nDienstag"

    admin = await site.person(Role.ADMIN)
    async with admin:
        page = await admin.post(
            "/admin/partner",
            data={"name": NUL, "kind": "ehrenamt", "town": "Unna", "contact": "c"},
        )
        assert page.status_code == 422
        assert "Das Steuerzeichen U+0000" in field_block(page.text, "name")
        page = await admin.post(
            "/admin/konten",
            data={
                "username": "neu",
                "display_name": "Neu\u0085",
                "role": "abh",
                "password": "ein-langes-testpasswort",
            },
        )
        assert page.status_code == 422
        assert "Anzeigename: Das Steuerzeichen U+0085 ist hier nicht erlaubt" in page.text
        for url in (
            f"/admin/partner/{BEYOND}/entfernen",
            f"/admin/angebote/{BEYOND}/entfernen",
            f"/admin/konten/{BEYOND}/aktiv",
        ):
            page = await admin.post(url)
            assert page.status_code == 404 and "Diesen Eintrag gibt es nicht." in page.text
        for url in (f"/admin/partner?bearbeiten={BEYOND}", "/admin/angebote?bearbeiten=x"):
            page = await admin.get(url)
            assert page.status_code == 404 and "Diesen Eintrag gibt es nicht." in page.text
        page = await admin.post(
            "/admin/partner",
            data={"partner_id": str(BEYOND), "name": "P", "kind": "ehrenamt", "town": "Unna",
                  "contact": "c"},
        )  # fmt: skip
        assert page.status_code == 404

    async with site.client() as anonymous:
        page = await anonymous.post("/login", data={"username": NUL, "password": "x", "next": "/"})
        assert page.status_code == 422
        assert "Benutzername: Das Steuerzeichen U+0000 ist hier nicht erlaubt" in page.text
        assert '<html lang="de">' in page.text


# ------------------------------------------------------------------------------ CLIs


async def test_the_starter_refuses_before_sending(
    app: FastAPI, pool: asyncpg.Pool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = await account_service(app).create_api_token("backoffice")
    session = await login_session(app, Role.ADMIN)
    auth = ["--api", "http://test", f"--token={token}", f"--session={session}"]

    async def starter(*argv: str) -> tuple[int, str]:
        out = io.StringIO()
        code = await cli.run([*auth, *argv], transport=httpx.ASGITransport(app=app), out=out)
        return code, out.getvalue()

    case_id = new_case_id()
    body = opening(case_id)
    body["person"]["family_name"] = "Bei\u0007spiel"
    code, output = await starter("event", json.dumps(body))
    assert code == 1
    assert output.splitlines()[0] == (
        "line 1: refused, not sent: person.family_name: must not contain U+0007 "
        "(a control character)"
    )
    csv_file = tmp_path / "events.csv"
    header = (
        "event_id,case_id,status,effective_date,departure_deadline,given_name,family_name,"
        "date_of_birth,nationality,language,phone,email,street,postal_code,town,children"
    )
    deadline = (today() + timedelta(days=90)).isoformat()
    csv_file.write_text(
        f"{header}\n{case_id}-e1,{case_id},ausreisepflichtig,{today().isoformat()},{deadline},"
        f"A\u0000B,Beispiel,1990-01-01,IRQ,ar,,,Markt 1,59423,Unna,\n",
        "utf-8",
    )
    code, output = await starter("events", str(csv_file))
    assert code == 1
    assert output.splitlines()[0] == (
        "line 2: refused, not sent: given_name: must not contain U+0000 (a control character)"
    )
    assert await pool.fetchval("SELECT count(*) FROM cases WHERE case_id = $1", case_id) == 0

    code, output = await starter("partners", "add", "--name", "E\u001bK", "--kind", "ehrenamt",
                                 "--town", "Unna", "--contact", "c")  # fmt: skip
    assert code == 1 and "name: must not contain U+001B" in output

    for argv in (
        ("partners", "remove", str(BEYOND)),
        ("offers", "update", "0", "--hours", "Mo"),
        ("partners", "list", "--town", "Un\u001bna"),
    ):
        with pytest.raises(SystemExit) as exited:
            await starter(*argv)
        assert exited.value.code == 2
        error = capsys.readouterr().err
        assert "error: argument" in error and "Traceback" not in error


async def test_the_server_clis_refuse_with_a_message(
    dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings().model_copy(update={"database_url": dsn})
    code = await accounts_cli.run(
        ["create", "--username", "neu", "--display-name", "N\u001b", "--role", "abh",
         "--password-stdin"],
        settings=settings, out=io.StringIO(), stdin=io.StringIO("ein-langes-testpasswort\n"),
    )  # fmt: skip
    assert code == 1
    assert "refused: Anzeigename: Das Steuerzeichen U+001B" in capsys.readouterr().err
    code = await accounts_cli.run(["token", "--name", "b\u0085"], settings=settings)
    assert code == 1 and "Name: Das Steuerzeichen U+0085" in capsys.readouterr().err

    for run, argv in (
        (retention_cli.run, ["hold", "ABH-1", "--reason", "Klage\u0000"]),
        (retention_cli.run, ["release", "ABH\u001b1"]),
        (audit_cli.run, ["show", "--case-id", "ABH-1\udcff"]),
    ):
        with pytest.raises(SystemExit) as exited:
            await run(argv, settings=settings)
        assert exited.value.code == 2
        error = capsys.readouterr().err
        assert "error: argument" in error and "Traceback" not in error
