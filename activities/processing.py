"""The vocabulary of the declarations of processing (GDPR Art. 30) and their models.

The declarations themselves are one table, :data:`activities.register.DECLARATIONS`: activity
name → :class:`Processing` (or, for an activity that touches no personal data, the explicit
:class:`NoPersonalData` with its reason), most of them built from a named :class:`Preset`. The
record of processing activities (``docs/verzeichnis-verarbeitungstaetigkeiten.md``) is generated
from that table and the activities the worker registers (``python -m commands.records art30``);
an activity without a declaration, or a declaration without an activity, is refused, so the
record cannot drift from the code.

The vocabularies are German because the record is; they are enums so that one wording serves
every activity and a typo is a type error. The legal bases are the development team's proposal:
the county's data protection officer must confirm them (the generated record says so).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from types import MappingProxyType
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


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
    STAFF = (
        "Art. 6 Abs. 1 lit. e, Art. 88 DSGVO i. V. m. § 18 DSG NRW (dienstliche "
        "E-Mail-Adressen der Beschäftigten für die Benachrichtigung über ihre Aufgaben)"
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
    STAFF_ADDRESS = "Dienstliche E-Mail-Adresse der Beschäftigten oder des Teams"


class DataSubject(StrEnum):
    PERSON = "Ausreisepflichtige Personen (auch mit Duldung)"
    CHILDREN = "Minderjährige Kinder im Haushalt"
    SUPPORTERS = "Unterstützer*innen und Bevollmächtigte der Person"
    NEWLY_ARRIVED = "Neu zugewanderte Personen (unabhängig vom Aufenthaltsstatus)"
    STAFF = "Beschäftigte von ABH und KI (Empfänger*innen der Benachrichtigungen)"


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
    STAFF = (
        "Die zuständigen Beschäftigten von ABH und KI (zugewiesene Person oder Teampostfach) "
        "per E-Mail über den SMTP-Server des Kreises: nur Aktenzeichen, Art und Fälligkeit "
        "der Aufgabe und ein Link auf die Seite hinter der Anmeldung"
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
    NOTICE_MAIL = (
        "Einzelmails wie der Postausgang (Inhalt bis zum Versand, Zustellnachweis so lange wie "
        "Fallakte oder Neuzugang); Tagesübersichten 30 Tage, dann gelöscht; die dienstliche "
        "Adresse so lange wie das Konto"
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


class Preset(BaseModel):
    """A recurring combination of everything but the purpose, under a name.

    An entry may replace a part (``legal_basis=...``); what it replaces is then written in the
    entry, where the reviewer reads it.
    """

    model_config = ConfigDict(frozen=True)

    legal_basis: tuple[LegalBasis, ...] = Field(min_length=1)
    categories_of_data: tuple[DataCategory, ...] = Field(min_length=1)
    data_subjects: tuple[DataSubject, ...] = Field(min_length=1)
    recipients: tuple[Recipient, ...] = Field(min_length=1)
    retention: Retention
    special_categories: SpecialCategories

    def declare(
        self,
        purpose: str,
        *,
        legal_basis: Sequence[LegalBasis] | None = None,
        categories_of_data: Sequence[DataCategory] | None = None,
        data_subjects: Sequence[DataSubject] | None = None,
        recipients: Sequence[Recipient] | None = None,
        retention: Retention | None = None,
        special_categories: SpecialCategories | None = None,
    ) -> Processing:
        """The declaration of one activity: this preset with its purpose, parts replaced."""
        return Processing(
            purpose=purpose,
            legal_basis=tuple(self.legal_basis if legal_basis is None else legal_basis),
            categories_of_data=tuple(
                self.categories_of_data if categories_of_data is None else categories_of_data
            ),
            data_subjects=tuple(self.data_subjects if data_subjects is None else data_subjects),
            recipients=tuple(self.recipients if recipients is None else recipients),
            retention=self.retention if retention is None else retention,
            special_categories=(
                self.special_categories if special_categories is None else special_categories
            ),
        )


def declarations(*entries: tuple[str, Declaration]) -> Mapping[str, Declaration]:
    """The table activity name → declaration, read-only; an activity declared twice is refused
    (a dict literal would silently keep the last)."""
    table: dict[str, Declaration] = {}
    for name, declaration in entries:
        if name in table:
            raise TypeError(f"{name} is declared twice")
        table[name] = declaration
    return MappingProxyType(table)
