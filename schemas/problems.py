"""Problem details (RFC 9457): how the API says no, as ``application/problem+json``.

Every refusal and failure of the JSON API is a :class:`Problem`; a 422 is a
:class:`ValidationProblem` with the fields at fault in ``errors`` (``loc``, ``msg``, ``type``,
as FastAPI names them). ``type`` is a URI reference per kind of problem, relative to the
service (``/problems/conflict``): a client decides by it, never by ``detail``, which is a
sentence for people and may change. Each type's page at that path says in German what it
means (:mod:`api.routes.problems`). ``detail`` never repeats what was sent: the inputs here
are personal data.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

MEDIA_TYPE = "application/problem+json"
PROBLEM_PATH = "/problems"


class ProblemType(StrEnum):
    """The kinds of problems; the value is the last segment of the type URI."""

    UNAUTHENTICATED = "unauthenticated"
    PASSWORD_CHANGE_REQUIRED = "password-change-required"
    FORBIDDEN = "forbidden"
    CROSS_ORIGIN = "cross-origin"
    NOT_FOUND = "not-found"
    METHOD_NOT_ALLOWED = "method-not-allowed"
    CONFLICT = "conflict"
    CASE_CLOSED = "case-closed"
    EVENT_ID_REUSED = "event-id-reused"
    NAME_TAKEN = "name-taken"
    RULES_CHANGED = "rules-changed"
    DAMAGED = "damaged"
    TOO_LARGE = "too-large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported-media-type"
    INVALID = "invalid"
    LOGIN_REFUSED = "login-refused"
    INTERNAL = "internal"
    UNAVAILABLE = "unavailable"
    OTHER = "other"

    @property
    def uri(self) -> str:
        return f"{PROBLEM_PATH}/{self.value}"


@dataclass(frozen=True)
class Description:
    """What a kind of problem is: the ``title`` of its answers, and its page in German."""

    title: str
    status: int
    german: str


DESCRIPTIONS: dict[ProblemType, Description] = {
    ProblemType.UNAUTHENTICATED: Description(
        "Login required",
        401,
        "Die Anfrage kam ohne gültige Anmeldung: ohne Sitzung (Cookie) oder ohne gültiges "
        "API-Token (Authorization: Bearer). Melden Sie sich an oder senden Sie ein Token.",
    ),
    ProblemType.PASSWORD_CHANGE_REQUIRED: Description(
        "Password change required",
        403,
        "Das Konto muss zuerst sein Passwort ändern (Anmeldeseite, dann »Passwort ändern«).",
    ),
    ProblemType.FORBIDDEN: Description(
        "Not allowed for this role",
        403,
        "Die Rolle des Kontos (oder das Token) darf das nicht, oder die Aufgabe liegt im "
        "Eingang einer anderen Stelle.",
    ),
    ProblemType.CROSS_ORIGIN: Description(
        "Cross-origin request refused",
        403,
        "Eine ändernde Anfrage mit Sitzungs-Cookie kam von einer fremden Seite. Senden Sie "
        "sie von der Seite des Dienstes selbst, oder mit einem API-Token.",
    ),
    ProblemType.NOT_FOUND: Description(
        "Not found",
        404,
        "Den Fall, die Aufgabe, das Schriftstück, den Eintrag oder das Konto gibt es nicht "
        "(oder nicht mehr).",
    ),
    ProblemType.METHOD_NOT_ALLOWED: Description(
        "Method not allowed",
        405,
        "Diese Adresse nimmt diese Methode nicht an; der Kopf »Allow« nennt die möglichen.",
    ),
    ProblemType.CONFLICT: Description(
        "Not possible in the current state",
        409,
        "Im jetzigen Stand des Falls (oder der Aufgabe) geht das nicht, etwa weil die "
        "Aufgabe schon erledigt ist. Dieselbe Anfrage noch einmal hilft nicht.",
    ),
    ProblemType.CASE_CLOSED: Description(
        "The case is closed",
        409,
        "Der Fall ist abgeschlossen (und womöglich schon gelöscht); er nimmt nichts mehr an.",
    ),
    ProblemType.EVENT_ID_REUSED: Description(
        "Event id used before with other content",
        409,
        "Unter dieser Ereignis-ID kam schon ein anderes Ereignis. Eine ID steht für genau "
        "ein Ereignis; dasselbe Ereignis noch einmal ist ein Duplikat und wird angenommen.",
    ),
    ProblemType.NAME_TAKEN: Description(
        "The name is taken",
        409,
        "In dieser Stadt gibt es schon einen Eintrag dieses Namens.",
    ),
    ProblemType.RULES_CHANGED: Description(
        "Another rule-set version is in force",
        409,
        "Seit das Formular geladen wurde, gilt eine andere Fassung des Regelwerks. Laden Sie "
        "das Formular neu und prüfen Sie die Angaben.",
    ),
    ProblemType.DAMAGED: Description(
        "Stored data cannot be read",
        409,
        "Gespeicherte Daten lassen sich nicht lesen (etwa ein beschädigter Anhang). Der "
        "Betrieb ist informiert.",
    ),
    ProblemType.TOO_LARGE: Description(
        "Request too large",
        413,
        "Die Anfrage (etwa ein Anhang) ist größer als erlaubt.",
    ),
    ProblemType.UNSUPPORTED_MEDIA_TYPE: Description(
        "Unsupported media type",
        415,
        "Der Inhaltstyp der Anfrage wird hier nicht angenommen.",
    ),
    ProblemType.INVALID: Description(
        "Invalid input",
        422,
        "Eingaben sind falsch oder fehlen. »errors« nennt jedes Feld (»loc«) und den Grund "
        "(»msg«), ohne den gesendeten Wert zu wiederholen.",
    ),
    ProblemType.LOGIN_REFUSED: Description(
        "Login refused",
        401,
        "Benutzername oder Passwort sind falsch, oder es gab zu viele Fehlversuche.",
    ),
    ProblemType.INTERNAL: Description(
        "Internal server error",
        500,
        "Ein Fehler des Dienstes. Er ist protokolliert (ohne Inhalte der Anfrage).",
    ),
    ProblemType.UNAVAILABLE: Description(
        "Service unavailable",
        503,
        "Ein Server ist nicht erreichbar, oder innerhalb der Frist kam kein Ergebnis. "
        "Wiederholen Sie dieselbe Anfrage nach »Retry-After« Sekunden: mit derselben "
        "Ereignis-ID (oder Aufgabe und Eingabe) wird sie höchstens einmal ausgeführt.",
    ),
    ProblemType.OTHER: Description(
        "Request refused",
        400,
        "Die Anfrage wurde abgelehnt; »status« und »detail« sagen, warum.",
    ),
}


class Problem(BaseModel):
    """A refusal or failure (RFC 9457 problem details)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "/problems/conflict",
                    "title": "Not possible in the current state",
                    "status": 409,
                    "detail": "the task is already completed",
                    "instance": "/api/v1/tasks/17/complete",
                }
            ]
        }
    )

    type: str = Field(description="URI reference of the kind of problem: decide by this.")
    title: str = Field(description="The kind of problem, the same for every answer of it.")
    status: int = Field(description="The HTTP status of this answer.")
    detail: str = Field(description="This occurrence, for people; never echoes the input.")
    instance: str | None = Field(default=None, description="The path that was asked for.")


class FieldProblem(BaseModel):
    """One field at fault: where (``loc``: ``body``/``path``/``query`` first) and why."""

    loc: list[str | int]
    msg: str
    type: str


class ValidationProblem(Problem):
    """A 422: the problem, and every field at fault."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "/problems/invalid",
                    "title": "Invalid input",
                    "status": 422,
                    "detail": "1 field is invalid: body.effective_date",
                    "instance": "/api/v1/status-events",
                    "errors": [
                        {
                            "loc": ["body", "effective_date"],
                            "msg": "must not lie in the future",
                            "type": "value_error",
                        }
                    ],
                }
            ]
        }
    )

    errors: list[FieldProblem]


def problem(
    kind: ProblemType, detail: str, *, status: int | None = None, instance: str | None = None
) -> Problem:
    """The problem of ``kind``; ``status`` when the kind stands for several (``OTHER``)."""
    described = DESCRIPTIONS[kind]
    return Problem(
        type=kind.uri,
        title=described.title,
        status=status or described.status,
        detail=detail,
        instance=instance,
    )


def validation_problem(errors: list[FieldProblem], *, instance: str | None) -> ValidationProblem:
    """A 422 naming every field at fault, where it sits (never its value)."""
    places = ", ".join(".".join(str(part) for part in error.loc) for error in errors)
    count = f"{len(errors)} field is" if len(errors) == 1 else f"{len(errors)} fields are"
    described = DESCRIPTIONS[ProblemType.INVALID]
    return ValidationProblem(
        type=ProblemType.INVALID.uri,
        title=described.title,
        status=422,
        detail=f"{count} invalid: {places}",
        instance=instance,
        errors=errors,
    )
