"""The refusals of the service layer: one tree, and no HTTP number in it.

::

    ServiceError                a request the services do not carry out; ``message`` says why
    ├── Refused                 ... because of the request: repeating it does not help
    │   ├── NotFound            no such case, task, document, entry or account
    │   │   └── UnknownEntry    (directory) no partner or offer with this id
    │   ├── Forbidden           the account's role may not do this
    │   ├── Conflict            not possible in the current state
    │   │   ├── CaseClosed      the case's workflow has ended
    │   │   ├── EventIdReused   (intake) the event id came before with other content
    │   │   ├── NameTaken       (directory) the town has an entry of this name already
    │   │   └── RulesChanged    (rules) another rule-set version is in force than the form showed
    │   ├── Invalid             the input is wrong; ``fields`` name where (FieldError)
    │   │   └── AccountError    (accounts) an account cannot be made or changed so
    │   ├── LoginRefused        a wrong password, or too many of them (``reason``)
    │   └── (Forbidden) SsoRefused  a single sign-on not accepted (``reason``)
    └── ServiceUnavailable      ... because a server is unreachable or no outcome came in time:
                                the same request repeated later is carried out at most once

How a refusal looks is the edge's business: ``api.errors`` maps the tree to JSON and its
status codes, ``web.common.refusal`` to the German pages. Both decide by the class (and by
``LoginRefused.reason``), never by the text of ``message``: the message is English for the
JSON answers, German where only a person reads it (inbox, accounts, login).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Literal

from schemas.errors import FieldError


class ServiceError(Exception):
    """A request the services do not carry out."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Refused(ServiceError):
    """The request itself cannot be carried out; repeating it does not help."""


class NotFound(Refused):
    """No such case, task, document, directory entry or account."""


class UnknownEntry(NotFound):
    """No partner or offer with this id."""


class Forbidden(Refused):
    """The account's role may not do this (or the task is in another role's inbox)."""


class Conflict(Refused):
    """Not possible in the current state (a task done already, a consent withdrawn, ...)."""


class Damaged(Conflict):
    """Stored data that fail their integrity check (an attachment's seal broken: its bytes
    changed or moved under another case). Repeating does not help; operations must look."""


class CaseClosed(Conflict):
    """The case's workflow has ended: nothing more happens to it."""


class EventIdReused(Conflict):
    """A status event id that was sent before with other content: an id names one event, so
    the second one is neither taken in nor answered as a duplicate."""

    def __init__(self, event_id: str) -> None:
        super().__init__(f"event_id {event_id} was sent before with other content")
        self.event_id = event_id


class NameTaken(Conflict):
    """Another entry of the town (for offers: or county-wide) has this name."""


class RulesChanged(Conflict):
    """The form showed one rule-set version and another is in force now: the person looks at
    the form again (the routes it offers may have changed) and sends it anew."""

    @classmethod
    def between(cls, shown: int, in_force: int) -> RulesChanged:
        return cls(
            f"Das Regelwerk hat sich geändert: das Formular zeigte Version {shown}, jetzt gilt"
            f" Version {in_force}. Bitte prüfen Sie die Angaben und senden Sie das Formular"
            " erneut."
        )


class Invalid(Refused):
    """The input is wrong; ``fields`` name the fields at fault (may be empty)."""

    def __init__(self, message: str, fields: Sequence[FieldError] = ()) -> None:
        super().__init__(message)
        self.fields = list(fields)

    @classmethod
    def field(cls, field: str, reason: str) -> Invalid:
        """One field at fault, with ``field: reason`` as the message."""
        return cls(f"{field}: {reason}", [FieldError(field=field, reason=reason)])


class AccountError(Invalid):
    """An account cannot be created or changed as asked (taken username, short password,
    unknown account); ``message`` is German: the admin pages and the console show it."""


_LOGIN_MESSAGES = {
    "invalid": "Benutzername oder Passwort ist falsch.",
    "throttled": "Zu viele fehlgeschlagene Anmeldungen. Bitte versuchen Sie es später erneut.",
}


class LoginRefused(Refused):
    """A login that does not succeed; ``message`` is the German text for the login page."""

    def __init__(self, reason: Literal["invalid", "throttled"]) -> None:
        super().__init__(_LOGIN_MESSAGES[reason])
        self.reason: Literal["invalid", "throttled"] = reason


SsoReason = Literal[
    "not_configured",
    "aborted",
    "state",
    "token",
    "no_role",
    "several_roles",
    "deactivated",
    "username",
    "username_taken",
]
_SSO_MESSAGES: dict[str, str] = {
    "not_configured": "Die Anmeldung mit dem Kreis-Konto ist hier nicht eingerichtet.",
    "aborted": "Die Anmeldung mit dem Kreis-Konto wurde abgebrochen oder vom Anmeldedienst "
    "des Kreises abgelehnt.",
    "state": "Diese Anmeldung gehört nicht zu diesem Browser oder ist abgelaufen (nach "
    "10 Minuten). Bitte melden Sie sich noch einmal an.",
    "token": "Der Anmeldedienst des Kreises hat keine gültige Bestätigung geschickt. Bitte "
    "melden Sie sich noch einmal an; geschieht das wieder, wenden Sie sich an die IT.",
    "no_role": "Ihr Kreis-Konto ist für die Ausreise-Fallsteuerung freigeschaltet, aber "
    "keiner Rolle zugeordnet (ABH, KI, Betrieb oder Administration). Bitte wenden Sie sich "
    "an die Administration, damit Ihr Kreis-Konto in die passende Gruppe aufgenommen wird.",
    "several_roles": "Ihr Kreis-Konto ist mehreren Rollen zugleich zugeordnet; ein Konto hat "
    "hier genau eine. Bitte wenden Sie sich an die Administration, damit Ihr Kreis-Konto "
    "nur in einer der Gruppen bleibt.",
    "deactivated": "Ihr Konto ist deaktiviert. Bitte wenden Sie sich an die Administration.",
    "username": "Der Anmeldedienst des Kreises hat keinen brauchbaren Benutzernamen "
    "geschickt. Bitte wenden Sie sich an die IT.",
    "username_taken": "Ihr Benutzername gehört hier schon zu einem anderen Konto (mit "
    "Passwort). Bitte wenden Sie sich an die Administration.",
}


class SsoRefused(Forbidden):
    """A single sign-on that is not accepted; ``message`` is the German text for the login
    page, ``reason`` what went wrong (the page chooses its status by it)."""

    def __init__(self, reason: SsoReason, detail: str = "") -> None:
        super().__init__(_SSO_MESSAGES[reason])
        self.reason: SsoReason = reason
        self.detail = detail  # for the log: never shown, never personal data


class Backend(StrEnum):
    DATABASE = "database"
    TEMPORAL = "temporal"
    IDENTITY_PROVIDER = "identity_provider"  # the county's OpenID Connect provider


class ServiceUnavailable(ServiceError):
    """A server is unreachable, or the answer did not come within the deadline.

    ``unconfirmed``: the request may have reached Temporal and may still be carried out; only a
    repeat of the same request tells its outcome. Otherwise nothing was done.
    """

    def __init__(self, backend: Backend, message: str, *, unconfirmed: bool = False) -> None:
        super().__init__(message)
        self.backend = backend
        self.unconfirmed = unconfirmed
