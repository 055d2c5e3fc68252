"""The record of processing activities (Verzeichnis von Verarbeitungstätigkeiten, Art. 30 DSGVO),
generated from the table of declarations and the activities the worker registers.

Nothing here is written by hand per activity: the sections come from
:data:`activities.register.DECLARATIONS`, looked up by the names of the very functions
:func:`runtime.worker.build_activities` hands to the worker, in that order. An activity without a
declaration, or a declaration without an activity, is an error, and ``tests/test_records.py``
compares the committed ``docs/verzeichnis-verarbeitungstaetigkeiten.md`` with a fresh rendering,
so neither can drift from the code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, cast

import asyncpg
from pydantic import BaseModel, Field
from temporalio import activity

from activities.processing import Declaration, NoPersonalData, Processing
from activities.register import DECLARATIONS
from protection.keyring import KeyRing
from runtime.worker import build_activities

DOCUMENT = "docs/verzeichnis-verarbeitungstaetigkeiten.md"
COMMAND = "python -m commands.records art30 > " + DOCUMENT

CONTROLLER = (
    "Kreis Unna, Der Landrat, Fachbereich 35 „Zuwanderung und Integration“ "
    "(Ausländerbehörde und Kommunales Integrationszentrum)"
)
DATA_PROTECTION_OFFICER = "Behördliche*r Datenschutzbeauftragte*r des Kreises Unna (einzutragen)"
STATUS = (
    "Entwurf aus dem Code. Rechtsgrundlagen, besondere Kategorien und Löschfristen sind "
    "Vorschläge der Entwicklung und müssen von der/dem Datenschutzbeauftragten des Kreises "
    "bestätigt werden."
)
THIRD_COUNTRIES = "Keine Übermittlung in Drittländer oder an internationale Organisationen."

# Art. 30 Abs. 1 lit. g: what the code itself ensures; the county's general measures
# (premises, staff, backups) belong to its own security concept.
MEASURES = (
    "Persönliche Konten mit Rollen (ABH, KI, Betrieb, Administration); das KI sieht nur Fälle, "
    "die ihm auf eine nicht widerrufene Einwilligung übermittelt wurden; der Betrieb sieht keine "
    "personenbezogenen Daten.",
    "Passwörter als argon2id-Hash, Sitzungs- und API-Token nur als sha256 gespeichert; "
    "Sitzungen enden nach 30 Minuten ohne Anfrage, spätestens nach 10 Stunden.",
    "Jedes Öffnen eines Falls (Fallansicht, Fallseite, Auskunft nach Art. 15) wird im "
    "Zugriffsprotokoll festgehalten.",
    "Übermittlung nur mit unterschriebener Einwilligung, höchstens einmal je Einwilligung und "
    "Empfänger, im Übermittlungsnachweis festgehalten; nach einem Widerruf keine weitere "
    "Übermittlung und ein Löschungsersuchen an jeden bisherigen Empfänger.",
    "Datenminimierung: an das KI gehen genau Personalien, Kontaktdaten und Aufenthaltsstatus.",
    "Keine personenbezogenen Daten in Workflow-IDs, Suchattributen, Verlaufstexten und Logs.",
)
NOT_COVERED = (
    "Dieses Verzeichnis beschreibt die Verarbeitungen der Worker-Aktivitäten. Noch nicht "
    "erfasst sind Konten, Sitzungen und Zugriffsprotokoll der Weboberfläche und der API sowie "
    "die Workflow-Historie in Temporal, die dieselben Daten wie die Statusmeldungen und "
    "Aufgabenergebnisse enthält."
)


class DeclaredActivity(BaseModel):
    activity: str = Field(description="The stable Temporal activity name.")
    function: str = Field(description="Where the activity is written.")
    declaration: Annotated[Declaration, Field(discriminator="kind")]


class ProcessingRecord(BaseModel):
    controller: str = CONTROLLER
    data_protection_officer: str = DATA_PROTECTION_OFFICER
    status: str = STATUS
    third_countries: str = THIRD_COUNTRIES
    measures: list[str] = Field(default_factory=lambda: list(MEASURES))
    not_covered: str = NOT_COVERED
    activities: list[DeclaredActivity]


class UndeclaredActivities(Exception):
    """Activities without a declaration: the record would be incomplete."""

    def __init__(self, names: Sequence[str]) -> None:
        super().__init__("activities without a processing declaration: " + ", ".join(names))
        self.names = list(names)


class UnregisteredDeclarations(Exception):
    """Declarations naming no activity the worker registers: the record would list processing
    that does not happen."""

    def __init__(self, names: Sequence[str]) -> None:
        super().__init__("declarations without a registered activity: " + ", ".join(names))
        self.names = list(names)


def _function(fn: Callable[..., Any]) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def activity_name(fn: Callable[..., Any]) -> str:
    """The name the activity is registered under (what Temporal histories show)."""
    # The SDK has no public reader of @activity.defn; this is what Worker itself uses.
    name = activity._Definition.must_from_callable(fn).name
    return name or fn.__name__


def record_of(
    activities: Sequence[Callable[..., Any]], declarations: Mapping[str, Declaration]
) -> ProcessingRecord:
    """The record of these activities, in their order, with their entries in ``declarations``;
    refuses an activity without an entry and an entry without an activity."""
    declared: list[DeclaredActivity] = []
    missing: list[str] = []
    for fn in activities:
        name = activity_name(fn)
        declaration = declarations.get(name)
        if declaration is None:
            missing.append(_function(fn))
            continue
        declared.append(
            DeclaredActivity(activity=name, function=_function(fn), declaration=declaration)
        )
    if missing:
        raise UndeclaredActivities(missing)
    registered = {entry.activity for entry in declared}
    unregistered = [name for name in declarations if name not in registered]
    if unregistered:
        raise UnregisteredDeclarations(unregistered)
    return ProcessingRecord(activities=declared)


def registered_activities() -> list[Callable[..., Any]]:
    """The activities the worker registers, to be looked at, never run: no pool, no keys."""
    return build_activities(cast(asyncpg.Pool, None), cast(KeyRing, None))


def registered_record() -> ProcessingRecord:
    """The record of exactly the activities the worker registers."""
    return record_of(registered_activities(), DECLARATIONS)


def _md(text: str) -> str:
    """Gendered forms (Unterstützer*innen) must not turn into emphasis, nor bars into cells."""
    return text.replace("*", "\\*").replace("|", "\\|")


def _items(values: Sequence[str]) -> str:
    return "; ".join(_md(value) for value in values)


def _section(number: int, declared: DeclaredActivity) -> list[str]:
    declaration = declared.declaration
    title = (
        _md(declaration.purpose)
        if isinstance(declaration, Processing)
        else "Ohne personenbezogene Daten"
    )
    lines = [
        f"### {number}. {title}",
        "",
        f"- **Aktivität:** `{declared.activity}` (`{declared.function}`)",
    ]
    if isinstance(declaration, NoPersonalData):
        return [*lines, f"- **Keine personenbezogenen Daten:** {_md(declaration.reason)}", ""]
    return [
        *lines,
        f"- **Zweck:** {_md(declaration.purpose)}",
        f"- **Rechtsgrundlage:** {_items(declaration.legal_basis)}",
        f"- **Betroffene Personen:** {_items(declaration.data_subjects)}",
        f"- **Datenkategorien:** {_items(declaration.categories_of_data)}",
        f"- **Besondere Kategorien (Art. 9 DSGVO):** {_md(declaration.special_categories)}",
        f"- **Empfänger:** {_items(declaration.recipients)}",
        f"- **Löschfrist:** {_md(declaration.retention)}",
        "",
    ]


def markdown(record: ProcessingRecord) -> str:
    """The record as the German Markdown document committed under ``docs/``."""
    lines = [
        "# Verzeichnis von Verarbeitungstätigkeiten (Art. 30 Abs. 1 DSGVO)",
        "",
        f"<!-- Erzeugt mit `{COMMAND}`; nicht von Hand ändern. "
        "Die Angaben stehen in activities/register.py. -->",
        "",
        f"> **{_md(record.status)}**",
        "",
        "## Verantwortlicher",
        "",
        f"- **Verantwortlicher:** {_md(record.controller)}",
        f"- **Datenschutzbeauftragte\\*r:** {_md(record.data_protection_officer)}",
        f"- **Drittländer:** {_md(record.third_countries)}",
        "",
        "## Übersicht",
        "",
        "| Nr. | Aktivität | Zweck | Rechtsgrundlage |",
        "| --- | --- | --- | --- |",
    ]
    for number, declared in enumerate(record.activities, 1):
        declaration = declared.declaration
        if isinstance(declaration, Processing):
            purpose = _md(declaration.purpose)
            basis = "<br>".join(_md(basis) for basis in declaration.legal_basis)
        else:
            purpose, basis = "keine personenbezogenen Daten", "–"
        lines.append(f"| {number} | `{declared.activity}` | {purpose} | {basis} |")
    lines += ["", "## Verarbeitungen", ""]
    for number, declared in enumerate(record.activities, 1):
        lines += _section(number, declared)
    lines += [
        "## Technische und organisatorische Maßnahmen (Art. 32 DSGVO), soweit im Code",
        "",
        *(f"- {_md(measure)}" for measure in record.measures),
        "",
        "## Nicht erfasst",
        "",
        _md(record.not_covered),
        "",
    ]
    return "\n".join(lines)
