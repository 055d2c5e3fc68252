"""One form per task kind, with exactly the fields of ``schemas/tasks.py``.

A field spec says how a field is entered (date, choice, yes/no, ...) and what the person
reads (label and help in German). ``parse`` turns the submitted form into the JSON shape of
the API; the model and then the workflow's validator decide whether it is acceptable.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError
from starlette.datastructures import FormData

from schemas.conversation import CopyDelivery, InterpreterMode, Participant
from schemas.departure import ReturnProgramme, ReturnSupport
from schemas.local_time import BERLIN
from schemas.residence_routes import ResidenceRoutes
from schemas.routes import Route
from schemas.tasks import (
    EnforcementOutcome,
    EscalationDecision,
    KiContactResult,
    Perspective,
    RouteReviewOutcome,
    TaskCompletion,
)
from web import labels

COMPLETION: TypeAdapter[TaskCompletion] = TypeAdapter(TaskCompletion)

_ROUTES = [(route.value, route.value) for route in Route]
_LANGUAGES = list(labels.CONVERSATION_LANGUAGES.items())
_DELIVERIES = [(d.value, labels.COPY_DELIVERIES[d.value]) for d in CopyDelivery]

# Inputs that are parts of one field of the model: input -> (field, part). A refusal of the
# whole field is shown at its first input.
_PARTS = {
    "interpreter_mode": ("interpreter", "mode"),
    "interpreter_language": ("interpreter", "language"),
}


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    input: str  # date | datetime | text | yesno | checkbox | checkboxes | select | radio | partner
    help: str = ""
    options: list[tuple[str, str]] = field(default_factory=list)  # yesno: the words for ja, nein
    required: bool = False


FORMS: dict[str, list[Field]] = {
    "information_conversation": [
        Field("held_on", "Datum des Gesprächs", "date", "Nicht in der Zukunft.", required=True),
        Field(
            "routes_discussed",
            "Besprochene Bleiberechtsregelungen",
            "checkboxes",
            "Mindestens eine. Dokumentation nach dem Gesprächskonzept.",
            _ROUTES,
            required=True,
        ),
        Field(
            "perspective",
            "Ergebnis der Perspektivprüfung",
            "radio",
            options=[(p.value, labels.PERSPECTIVES[p.value]) for p in Perspective],
            required=True,
        ),
        Field(
            "route_pursued",
            "Verfolgte Regelung",
            "select",
            "Nur wenn eine Bleibeperspektive möglich ist; eine der besprochenen Regelungen.",
            [("", "– keine –"), *_ROUTES],
        ),
        Field(
            "missing_prerequisites",
            "Was der Person noch fehlt",
            "checkboxes",
            "Nur zu besprochenen Regelungen. Die Person erhält das Protokoll in ihrer Sprache: "
            "Erfülltes und Fehlendes je Regelung.",
        ),
        Field(
            "language",
            "Gesprächssprache",
            "select",
            "Die Sprache, in der mit der Person gesprochen wurde, mit Dolmetschung deren "
            "Sprache. Sie steht im Protokoll der Person.",
            [("", "– bitte wählen –"), *_LANGUAGES],
            required=True,
        ),
        Field(
            "interpreter_mode",
            "Dolmetscher/in",
            "select",
            "Ohne Namen: nur ob und wie gedolmetscht wurde.",
            [
                ("", "– ohne Dolmetscher/in –"),
                *((m.value, labels.INTERPRETER_MODES[m.value]) for m in InterpreterMode),
            ],
        ),
        Field(
            "interpreter_language",
            "Dolmetscher/in: Sprache",
            "select",
            "Leer lassen heißt: in der Gesprächssprache. Gedolmetscht wird in die "
            "Gesprächssprache, nie ins Deutsche.",
            [("", "– wie Gesprächssprache –"), *(pair for pair in _LANGUAGES if pair[0] != "de")],
        ),
        Field(
            "participants",
            "Teilnehmende (außer der ABH)",
            "checkboxes",
            "Nur Rollen, keine Namen; die Person selbst immer. Die Dolmetscherin oder der "
            "Dolmetscher wird oben erfasst.",
            [(r.value, labels.PARTICIPANTS[r.value]) for r in Participant],
            required=True,
        ),
        Field(
            "record_copy",
            "Ausfertigung des Protokolls für die Person",
            "radio",
            "Die Ausfertigung steht nach dem Speichern beim Fall zum Drucken bereit.",
            _DELIVERIES,
            required=True,
        ),
        Field(
            "departure_letter",
            "Ausreiseinformationsschreiben mit Belehrungen",
            "radio",
            "Nur wenn eines erstellt wird: bei einer Ausreisefrist in der Zukunft. Es steht "
            "nach dem Speichern beim Fall zum Drucken bereit.",
            _DELIVERIES,
        ),
    ],
    "referral_consent": [
        Field(
            "interested",
            "Möchte die Person Unterstützung bei der freiwilligen Ausreise?",
            "yesno",
            required=True,
        ),
        Field(
            "consent_signed_on",
            "Einwilligung und Schweigepflichtentbindung unterschrieben am",
            "date",
            "Nur bei Interesse. Ohne Unterschrift verlassen keine Daten die ABH.",
        ),
    ],
    "ki_contact": [
        Field(
            "result",
            "Ergebnis des Kontakts",
            "radio",
            options=[(r.value, labels.KI_CONTACT_RESULTS[r.value]) for r in KiContactResult],
            required=True,
        ),
        Field(
            "partner_id",
            "Partner im Wohnort, der die Person begleitet",
            "partner",
            "Nur wenn die Person erreicht wurde: Wohlfahrtsverband oder Ehrenamt aus dem "
            "Partnerverzeichnis. Spricht ein Partner die Sprache der Person, muss es einer von "
            "ihnen sein; spricht sie keiner, jeder Partner im Wohnort.",
        ),
        Field("contacted_on", "Kontaktiert am", "date", "Nicht in der Zukunft.", required=True),
        Field(
            "note_to_abh",
            "Kurzer Hinweis an die ABH",
            "text",
            "Höchstens 500 Zeichen, nur was die Einwilligung abdeckt: keine Gesundheits- oder "
            "Familiendetails.",
        ),
    ],
    "follow_up": [
        Field("reached", "Wurde die Person erreicht?", "yesno", required=True),
        Field(
            "planned_departure_on",
            "Geplantes Ausreisedatum",
            "date",
            "Nur wenn die Person erreicht wurde; nicht in der Vergangenheit. Am Tag danach "
            "folgt ein Check-in.",
        ),
        Field(
            "return_programme",
            "Rückkehrförderung",
            "select",
            "Nur wenn die Person erreicht wurde und eine Förderung beantragt ist oder wird.",
            [
                ("", "– keine –"),
                *((p.value, labels.RETURN_PROGRAMMES[p.value]) for p in ReturnProgramme),
            ],
        ),
        Field(
            "return_support",
            "Stand der Rückkehrförderung",
            "radio",
            "Nur mit einem Programm.",
            options=[(s.value, labels.RETURN_SUPPORT[s.value]) for s in ReturnSupport],
        ),
    ],
    "representative": [
        Field("name", "Name der*des Bevollmächtigten", "text", required=True),
        Field("contact", "Kontakt (Telefon, E-Mail oder Anschrift)", "text", required=True),
        Field(
            "power_of_attorney_on",
            "Vollmacht vom",
            "date",
            "Nicht in der Zukunft.",
            required=True,
        ),
    ],
    "representative_inquiry": [
        Field("asked_on", "Angefragt am", "date", "Nicht in der Zukunft.", required=True),
        Field(
            "facts_reported",
            "Wurden aufenthaltsrelevante Tatsachen mitgeteilt?",
            "yesno",
            required=True,
        ),
        Field(
            "fact",
            "Mitgeteilte Tatsache",
            "text",
            "Nur wenn Tatsachen mitgeteilt wurden: was, z. B. „Ausbildungsvertrag ab 1.8. "
            "unterschrieben“.",
        ),
        Field(
            "learned_on", "Mitgeteilt am", "date", "Nur mit einer Tatsache; nicht in der Zukunft."
        ),
        Field(
            "relevant_to",
            "Bedeutsam für die Regelung",
            "select",
            "Wenn die Tatsache einen Bleiberechtsweg betrifft.",
            [("", "– keine –"), *_ROUTES],
        ),
    ],
    "escalation": [
        Field(
            "decision",
            "Entscheidung",
            "radio",
            options=[(d.value, labels.DECISIONS[d.value]) for d in EscalationDecision],
            required=True,
        ),
        Field(
            "new_deadline",
            "Neue Ausreisefrist",
            "date",
            "Nur bei Fristverlängerung; nach dem heutigen Tag.",
        ),
        Field(
            "enforcement_at",
            "Zeitpunkt der Vollstreckung",
            "datetime",
            "Nur bei Vollstreckung; Ortszeit Europe/Berlin. Die Zeitregeln (z. B. keine "
            "Abschiebung mit Minderjährigen zwischen 22:00 und 06:00) werden geprüft, "
            "für die Person selbst und jedes Kind im Haushalt.",
        ),
        Field(
            "enforcement_until",
            "Geplantes Ende der Maßnahme",
            "datetime",
            "Nur bei Vollstreckung; die Zeitregeln gelten für die ganze Dauer, höchstens "
            "24 Stunden.",
        ),
        Field(
            "announced_on",
            "Der Person angekündigt am",
            "date",
            "Nur bei Vollstreckung; nicht in der Zukunft. Nötig, wo eine Ankündigungsfrist "
            "gilt (§60a Abs. 5 AufenthG: ein Kalendermonat).",
        ),
        Field(
            "enters_home",
            "Die Vollstreckung betritt eine Wohnung (§58 Abs. 7 AufenthG)",
            "checkbox",
        ),
        Field("court_order", "Eine richterliche Anordnung liegt vor", "checkbox"),
    ],
    "flyer_handover": [
        Field(
            "handed_over",
            "Wurde das Faltblatt ausgehändigt?",
            "yesno",
            options=[("ja", "Ja, ausgehändigt"), ("nein", "Nein, Person nicht erreichbar")],
            required=True,
        ),
        Field(
            "handed_over_on",
            "Ausgehändigt am",
            "date",
            "Nur wenn das Faltblatt ausgehändigt wurde; nicht in der Zukunft.",
        ),
    ],
    "enforcement_result": [
        Field(
            "result",
            "Ergebnis",
            "radio",
            options=[(o.value, labels.ENFORCEMENT_OUTCOMES[o.value]) for o in EnforcementOutcome],
            required=True,
        ),
        Field(
            "started_at",
            "Tatsächlicher Beginn",
            "datetime",
            "Ortszeit Europe/Berlin; nicht in der Zukunft.",
            required=True,
        ),
        Field(
            "ended_at",
            "Tatsächliches Ende",
            "datetime",
            "Ortszeit Europe/Berlin; nach dem Beginn, höchstens 24 Stunden danach.",
            required=True,
        ),
        Field("minors_present", "Waren Minderjährige anwesend?", "yesno", required=True),
        Field(
            "breach_reason",
            "Grund für die Abweichung von der Zeitregel",
            "text",
            "Nur wenn die tatsächlichen Zeiten gegen eine Zeitregel verstoßen: der Verstoß "
            "wird als Vorfall dokumentiert und im Bericht des Kreises gezählt.",
        ),
        Field(
            "decided_by",
            "Wer hat entschieden?",
            "text",
            "Nur bei einem Verstoß: Stelle oder Funktion, z. B. Einsatzleitung.",
        ),
    ],
    "route_review": [
        Field(
            "outcome",
            "Stand des Bleiberechtswegs",
            "radio",
            options=[(o.value, labels.ROUTE_REVIEW_OUTCOMES[o.value]) for o in RouteReviewOutcome],
            required=True,
        ),
        Field(
            "review_again_on",
            "Erneut prüfen am",
            "date",
            "Nur wenn der Weg weiter verfolgt wird; nach dem heutigen Tag.",
        ),
        Field(
            "reason",
            "Warum ist der Weg gescheitert?",
            "text",
            "Nur wenn er gescheitert ist, z. B. „Antrag nach §25b abgelehnt“. Danach folgt das "
            "Vermittlungsangebot.",
        ),
    ],
    "erasure_confirmation": [
        Field(
            "confirmed_on",
            "Löschung bestätigt am",
            "date",
            "Der Partner hat die erhaltenen Daten gelöscht; nicht in der Zukunft.",
            required=True,
        ),
        Field(
            "how",
            "Wie wurde es bestätigt?",
            "text",
            "Zum Beispiel: schriftlich per E-Mail, telefonisch mit Vermerk.",
            required=True,
        ),
    ],
    "step_failed": [
        Field("checked_on", "Geprüft am", "date", "Nicht in der Zukunft.", required=True),
        Field(
            "action",
            "Was wurde unternommen?",
            "text",
            "Zum Beispiel: in der Fallakte von Hand nachgetragen, an den Betrieb gemeldet. "
            "Keine personenbezogenen Angaben; höchstens 200 Zeichen.",
            required=True,
        ),
    ],
}


# Where the task page shows that the rule set changed since the form was shown: at the routes,
# which are what a new version changes in a form.
RULES_FIELD = "routes_discussed"


def fields_for(kind: str, routes: ResidenceRoutes, day: date) -> list[Field]:
    """The form of ``kind``; the conversation offers only routes in force on ``day``, so a
    caseworker is not invited to tick one that could not have been explained."""
    versions = routes.on(day)
    in_force = {version.route.value for version in versions}
    fields = []
    for spec in FORMS[kind]:
        if spec.name in ("routes_discussed", "route_pursued"):
            options = [
                (value, text) for value, text in spec.options if not value or value in in_force
            ]
            spec = replace(spec, options=options)
        elif spec.name == "missing_prerequisites":
            # The precise German wording of the version in force; the value is the code.
            options = [
                (
                    f"{version.route.value}{_PAIR}{item.code.value}",
                    f"{version.route.value}: {item.text}",
                )
                for version in versions
                for item in version.prerequisites
            ]
            spec = replace(spec, options=options)
        fields.append(spec)
    return fields


_PAIR = "|"


def _missing(values: list[str]) -> list[dict[str, str] | str]:
    """``route|code`` checkbox values as the model's objects; anything else is left for the
    model to refuse with a message."""
    found: list[dict[str, str] | str] = []
    for value in values:
        route, _, code = value.partition(_PAIR)
        found.append({"route": route, "prerequisite": code} if code else value)
    return found


def parse(kind: str, form: FormData) -> dict[str, Any]:
    """The submitted form as the API's JSON body; empty inputs are left out."""
    body: dict[str, Any] = {"kind": kind}
    for spec in FORMS[kind]:
        if spec.input == "checkboxes":
            values = [str(value) for value in form.getlist(spec.name)]
            body[spec.name] = _missing(values) if spec.name == "missing_prerequisites" else values
            continue
        if spec.input == "checkbox":
            body[spec.name] = form.get(spec.name) == "on"
            continue
        raw = form.get(spec.name)
        value = raw.strip() if isinstance(raw, str) else ""
        if not value:
            continue
        if spec.input == "yesno":
            body[spec.name] = {"ja": True, "nein": False}.get(value, value)
        elif spec.input == "datetime":
            body[spec.name] = _local_time(value)
        else:
            body[spec.name] = value
    if kind == "information_conversation":
        _interpreter(body)
    return body


def _interpreter(body: dict[str, Any]) -> None:
    """Mode and language as the model's ``interpreter``; without a language of its own the
    interpreter's is the conversation's. No mode and no language: no interpreter.

    A mode without any language is left out: the record is refused for its missing
    conversation language (the workflow says so at that field), and the form shows the mode
    again as it was entered.
    """
    parts = {part: body.pop(name) for name, (_, part) in _PARTS.items() if name in body}
    if not parts:
        return
    if "language" not in parts and "language" in body:
        parts["language"] = body["language"]
    if set(parts) != {"mode"}:
        body["interpreter"] = parts


def field_of(name: str) -> str:
    """The field of the model an input of the form is (a part of)."""
    return _PARTS[name][0] if name in _PARTS else name


def input_of(field: str, part: object = None) -> str:
    """The form input at which a refusal of ``field`` (or of its ``part``) is shown."""
    inputs = [name for name, (whole, _) in _PARTS.items() if whole == field]
    for name in inputs:
        if _PARTS[name][1] == part:
            return name
    # A refusal of the whole interpreter is about its language (the mode is a choice).
    return "interpreter_language" if field == "interpreter" else field


def _local_time(value: str) -> str:
    """``datetime-local`` input (no zone) read as Europe/Berlin time."""
    try:
        naive = datetime.fromisoformat(value)
    except ValueError:
        return value
    if naive.tzinfo is not None:
        return naive.isoformat()
    return naive.replace(tzinfo=BERLIN).isoformat()


def validate(body: dict[str, Any]) -> tuple[TaskCompletion | None, dict[str, list[str]]]:
    """The model's verdict: the completion, or German messages per field."""
    try:
        return COMPLETION.validate_python(body), {}
    except ValidationError as error:
        errors: dict[str, list[str]] = {}
        for detail in error.errors():
            loc = [part for part in detail["loc"] if part != body["kind"]]
            name = input_of(str(loc[0]), loc[1] if len(loc) > 1 else None) if loc else "kind"
            errors.setdefault(name, []).append(labels.reason(name, detail["msg"], detail["type"]))
        return None, errors
