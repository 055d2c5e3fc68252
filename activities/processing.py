"""Declarations of processing (GDPR Art. 30), written on the activities that do the processing.

Every activity the worker registers carries one declaration, directly above its
``@activity.defn``::

    @processing(
        purpose="...",
        legal_basis=(LegalBasis.ABH_TASK,),
        categories_of_data=(DataCategory.IDENTITY, ...),
        data_subjects=(DataSubject.PERSON,),
        recipients=(Recipient.INTERNAL,),
        retention=Retention.CASE_FILE,
        special_categories=SpecialCategories.NONE,
    )

or, for an activity that touches no personal data, the explicit ``@no_personal_data(reason=...)``.
The record of processing activities (``docs/verzeichnis-verarbeitungstaetigkeiten.md``) is
generated from these (``python -m commands.records art30``), and a test fails when an
activity has none, so the record cannot drift from the code.

The vocabularies are German because the record is; they are enums so that one wording serves
every activity and a typo is a type error. The legal bases are the development team's proposal:
the county's data protection officer must confirm them (the generated record says so).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

_ATTRIBUTE = "__processing_declaration__"

F = TypeVar("F", bound=Callable[..., Any])


class LegalBasis(StrEnum):
    ABH_TASK = (
        "Art. 6 Abs. 1 lit. e DSGVO i. V. m. § 86 AufenthG und §§ 3 ff. DSG NRW "
        "(Aufgaben der Ausländerbehörde)"
    )
    REPRESENTATIVE = (
        "Art. 6 Abs. 1 lit. e DSGVO i. V. m. § 14 VwVfG NRW (Bevollmächtigte und Beistände)"
    )
    CONSENT = "Art. 6 Abs. 1 lit. a DSGVO (Einwilligung der betroffenen Person)"
    EXPLICIT_CONSENT = (
        "Art. 9 Abs. 2 lit. a DSGVO (ausdrückliche Einwilligung, soweit die Daten Rückschlüsse "
        "auf besondere Kategorien zulassen)"
    )
    PROOF_OF_CONSENT = (
        "Art. 6 Abs. 1 lit. c i. V. m. Art. 7 Abs. 1 DSGVO (Nachweis der Einwilligung)"
    )
    WITHDRAWAL = (
        "Art. 6 Abs. 1 lit. c i. V. m. Art. 7 Abs. 3, Art. 17 und Art. 19 DSGVO "
        "(Widerruf, Löschung, Mitteilung an die Empfänger)"
    )
    ACCOUNTABILITY = (
        "Art. 6 Abs. 1 lit. c i. V. m. Art. 5 Abs. 2 und Art. 30 DSGVO "
        "(Rechenschaftspflicht, Nachweis der Übermittlungen)"
    )
    ERASURE = (
        "Art. 5 Abs. 1 lit. e und Art. 17 Abs. 1 lit. a DSGVO, § 86a AufenthG "
        "(Speicherbegrenzung, Löschung nach Ablauf der Aufbewahrungsfrist)"
    )
    INTEGRATION_INFORMATION = (
        "Art. 6 Abs. 1 lit. e DSGVO i. V. m. dem Teilhabe- und Integrationsgesetz NRW "
        "(Information Neuzugewanderter über Integrations- und Beratungsangebote)"
    )


class DataCategory(StrEnum):
    CASE_REFERENCE = "Aktenzeichen des Falls (pseudonym, mit der Fallakte verknüpfbar)"
    IDENTITY = "Personalien: Name, Geburtsdatum, Staatsangehörigkeit, Sprache"
    CONTACT = "Kontaktdaten: Anschrift, Telefon, E-Mail"
    RESIDENCE = "Aufenthaltsstatus, Ausreisefrist und Statusmeldungen"
    CHILDREN = "Geburtsdaten der Kinder im Haushalt"
    PROCESS = "Verfahrensdaten: Stand des Falls, Aufgaben, Fälligkeiten, Verlauf"
    TASK_RESULTS = (
        "Ergebnisse der Aufgaben: besprochene Bleiberechtsregelungen und Perspektive, "
        "Erreichbarkeit, geplante Ausreise, Entscheidungen der ABH"
    )
    CONSENT = "Einwilligung und Schweigepflichtentbindung: Datum, Widerruf"
    DISCLOSURE = "Übermittlungsnachweis: Empfänger, Kategorien, Zweck, Zeitpunkt, Einwilligung"
    SUPPORTER = "Unterstützer*innen und Bevollmächtigte: Name, Organisation, Kontakt"
    ARRIVAL = (
        "Neuzugang: Aktenzeichen, Name, E-Mail-Adresse (falls bekannt), Wohnort, Sprache, "
        "versandtes Faltblatt (Version) und Weg (E-Mail oder Aushändigung)"
    )


class DataSubject(StrEnum):
    PERSON = "Ausreisepflichtige Personen (auch mit Duldung)"
    CHILDREN = "Minderjährige Kinder im Haushalt"
    SUPPORTERS = "Unterstützer*innen und Bevollmächtigte der Person"
    NEWLY_ARRIVED = "Neu zugewanderte Personen (unabhängig vom Aufenthaltsstatus)"


class Recipient(StrEnum):
    INTERNAL = (
        "Keine Übermittlung; Zugriff nur die ABH (das KI nur auf Fälle, die ihm auf eine "
        "nicht widerrufene Einwilligung übermittelt wurden)"
    )
    KI = "Kommunales Integrationszentrum des Kreises Unna (KI)"
    PARTNERS = "Wohlfahrtsverband oder Ehrenamtliche in der Stadt der Person (durch das KI)"
    FORMER_RECIPIENTS = "Die bisherigen Empfänger: Mitteilung des Widerrufs, Löschungsersuchen"
    MAIL_RECIPIENTS = (
        "Die Adressat*innen der E-Mail (Person, Bevollmächtigte, KI oder Partner), über den "
        "SMTP-Server des Kreises"
    )


class Retention(StrEnum):
    CASE_FILE = (
        "Mit der Fallakte: Löschung nach Abschluss des Falls und Ablauf der "
        "Aufbewahrungsfrist je Ergebnis (schemas/retention.py, vom DSB zu bestätigen)"
    )
    HANDOVER = (
        "Beim Empfänger bis zum Abschluss der Vermittlung, spätestens bis zum Widerruf "
        "(dann Löschungsersuchen, Art. 17 und 19 DSGVO); der Übermittlungsnachweis so lange "
        "wie die Fallakte"
    )
    PROOF = "Nachweise (Einwilligung, Widerruf, Löschungsersuchen) so lange wie die Fallakte"
    ERASURE_RECORD = (
        "Der Löschnachweis (Aktenzeichen, Zeitpunkt, Anzahl gelöschter Zeilen, ohne "
        "Personendaten) bleibt; die Fristen je Ergebnis stehen in schemas/retention.py"
    )
    OUTBOX = (
        "Inhalt und Anhänge im Postausgang bis zum Versand; danach nur der Zustellnachweis "
        "(Empfängeradresse, Message-ID, Prüfsumme, Zeitpunkt) so lange wie die Fallakte"
    )
    ARRIVAL = (
        "Name und E-Mail-Adresse, die E-Mail im Postausgang und das Ergebnis der Aushändigung "
        "bis drei Monate nach Versand oder Aushändigung des Faltblatts (Regel „arrival“ in "
        "schemas/retention.py, vom DSB zu bestätigen); danach bleiben nur Aktenzeichen, Ort, "
        "Sprache, Daten und die Faltblattversion"
    )


class SpecialCategories(StrEnum):
    NONE = "Keine"
    INDIRECT = (
        "Nicht erhoben; Staatsangehörigkeit und Sprache können Rückschlüsse auf die ethnische "
        "Herkunft zulassen (Art. 9 Abs. 1 DSGVO): Art. 9 Abs. 2 lit. g DSGVO i. V. m. "
        "§ 15 DSG NRW"
    )
    BY_CONSENT = (
        "Nicht erhoben; Staatsangehörigkeit und Sprache können Rückschlüsse auf die ethnische "
        "Herkunft zulassen: übermittelt nur auf ausdrückliche Einwilligung "
        "(Art. 9 Abs. 2 lit. a DSGVO)"
    )


class Processing(BaseModel):
    """What an activity does with personal data, in the terms of Art. 30 Abs. 1 DSGVO."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["processing"] = "processing"
    purpose: str = Field(min_length=1)
    legal_basis: tuple[LegalBasis, ...] = Field(min_length=1)
    categories_of_data: tuple[DataCategory, ...] = Field(min_length=1)
    data_subjects: tuple[DataSubject, ...] = Field(min_length=1)
    recipients: tuple[Recipient, ...] = Field(min_length=1)
    retention: Retention
    special_categories: SpecialCategories


class NoPersonalData(BaseModel):
    """An activity that processes no personal data: said explicitly, with the reason."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["no_personal_data"] = "no_personal_data"
    reason: str = Field(min_length=1)


Declaration = Processing | NoPersonalData


def _declare(declaration: Declaration) -> Callable[[F], F]:
    def decorate(fn: F) -> F:
        if hasattr(fn, _ATTRIBUTE):
            raise TypeError(f"{fn.__qualname__} is declared twice")
        setattr(fn, _ATTRIBUTE, declaration)
        return fn

    return decorate


def processing(
    *,
    purpose: str,
    legal_basis: Sequence[LegalBasis],
    categories_of_data: Sequence[DataCategory],
    data_subjects: Sequence[DataSubject],
    recipients: Sequence[Recipient],
    retention: Retention,
    special_categories: SpecialCategories,
) -> Callable[[F], F]:
    """Declare the processing an activity does; checked when the module is imported."""
    return _declare(
        Processing(
            purpose=purpose,
            legal_basis=tuple(legal_basis),
            categories_of_data=tuple(categories_of_data),
            data_subjects=tuple(data_subjects),
            recipients=tuple(recipients),
            retention=retention,
            special_categories=special_categories,
        )
    )


def no_personal_data(*, reason: str) -> Callable[[F], F]:
    """Declare that an activity processes no personal data, and why that is so."""
    return _declare(NoPersonalData(reason=reason))


def declaration_of(fn: Callable[..., Any]) -> Declaration | None:
    """The declaration on an activity (a bound method finds its function's), or None."""
    found = getattr(fn, _ATTRIBUTE, None)
    return found if isinstance(found, Processing | NoPersonalData) else None
