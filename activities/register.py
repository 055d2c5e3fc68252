"""The declarations of processing (GDPR Art. 30): one entry per activity the worker registers.

This table is what the record of processing activities
(``docs/verzeichnis-verarbeitungstaetigkeiten.md``, ``python -m commands.records art30``) is
generated from, in the worker's order; the generator refuses an activity without an entry here
and an entry without an activity. The recurring combinations are named presets below; an entry
names its preset and writes out only what differs. The disclosures are written out in full.
"""

from __future__ import annotations

from collections.abc import Mapping

from activities.processing import (
    DataCategory,
    DataSubject,
    Declaration,
    LegalBasis,
    NoPersonalData,
    Preset,
    Processing,
    Recipient,
    Retention,
    SpecialCategories,
    declarations,
)
from schemas.records import ActivityName

# What a status report of the Fachverfahren brings into the case file.
HOUSEHOLD = (
    DataCategory.CASE_REFERENCE,
    DataCategory.IDENTITY,
    DataCategory.CONTACT,
    DataCategory.CHILDREN,
    DataCategory.RESIDENCE,
)
# Everything the case file holds, so everything its erasure erases.
WHOLE_CASE_FILE = (
    *HOUSEHOLD,
    DataCategory.PROCESS,
    DataCategory.TASK_RESULTS,
    DataCategory.SUPPORTER,
)
# Supporters and representatives: the ABH's task and § 14 VwVfG NRW.
WITH_REPRESENTATIVES = (LegalBasis.ABH_TASK, LegalBasis.REPRESENTATIVE)

# The ABH's case file (Ausländerakte): its own task, seen only inside, erased with the case.
CASE_FILE = Preset(
    legal_basis=(LegalBasis.ABH_TASK,),
    categories_of_data=(DataCategory.CASE_REFERENCE, DataCategory.PROCESS),
    data_subjects=(DataSubject.PERSON,),
    recipients=(Recipient.INTERNAL,),
    retention=Retention.CASE_FILE,
    special_categories=SpecialCategories.NONE,
)
# A status report written into the case file: the person and the household.
STATUS_REPORT = Preset(
    legal_basis=(LegalBasis.ABH_TASK,),
    categories_of_data=HOUSEHOLD,
    data_subjects=(DataSubject.PERSON, DataSubject.CHILDREN),
    recipients=(Recipient.INTERNAL,),
    retention=Retention.CASE_FILE,
    special_categories=SpecialCategories.INDIRECT,
)
# The erasure of a closed case: what is left is the record of the erasure.
ERASURE = Preset(
    legal_basis=(LegalBasis.ERASURE,),
    categories_of_data=WHOLE_CASE_FILE,
    data_subjects=(DataSubject.PERSON, DataSubject.CHILDREN, DataSubject.SUPPORTERS),
    recipients=(Recipient.INTERNAL,),
    retention=Retention.ERASURE_RECORD,
    special_categories=SpecialCategories.INDIRECT,
)
# Informing a newly arrived person of the offers in the town (the arrival workflow).
ARRIVAL_INFORMATION = Preset(
    legal_basis=(LegalBasis.INTEGRATION_INFORMATION,),
    categories_of_data=(DataCategory.ARRIVAL,),
    data_subjects=(DataSubject.NEWLY_ARRIVED,),
    recipients=(Recipient.INTERNAL,),
    retention=Retention.ARRIVAL,
    special_categories=SpecialCategories.NONE,
)

# Notices by e-mail to the staff (activities/notices.py): references and tasks, no personal data
# of the person beyond the reference.
NOTICE_MAIL = Preset(
    legal_basis=(LegalBasis.ABH_TASK, LegalBasis.STAFF),
    categories_of_data=(
        DataCategory.CASE_REFERENCE,
        DataCategory.PROCESS,
        DataCategory.STAFF_ADDRESS,
    ),
    data_subjects=(DataSubject.PERSON, DataSubject.NEWLY_ARRIVED, DataSubject.STAFF),
    recipients=(Recipient.STAFF,),
    retention=Retention.NOTICE_MAIL,
    special_categories=SpecialCategories.NONE,
)

DECLARATIONS: Mapping[str, Declaration] = declarations(
    # The case file (activities/case_store.py).
    (
        ActivityName.OPEN_CASE,
        STATUS_REPORT.declare(
            "Fallakte anlegen: Person, Haushalt und Aufenthaltsstatus aus der Statusmeldung"
        ),
    ),
    (
        ActivityName.RECORD_EVENT,
        STATUS_REPORT.declare("Statusmeldungen des Fachverfahrens in der Fallakte nachführen"),
    ),
    (
        ActivityName.RECORD_STAGE,
        CASE_FILE.declare(
            "Stand des Falls fortschreiben: Stufe, Aufenthaltsstatus, Ausreisefrist, Ergebnis",
            categories_of_data=(
                DataCategory.CASE_REFERENCE,
                DataCategory.RESIDENCE,
                DataCategory.PROCESS,
            ),
        ),
    ),
    (
        ActivityName.CREATE_TASK,
        CASE_FILE.declare("Aufgaben für ABH und KI mit Fälligkeit anlegen (Posteingang)"),
    ),
    (
        ActivityName.CLOSE_TASK,
        CASE_FILE.declare(
            "Erledigte Aufgaben mit ihrem Ergebnis dokumentieren (Gesprächskonzept)",
            legal_basis=WITH_REPRESENTATIVES,
            categories_of_data=(
                DataCategory.CASE_REFERENCE,
                DataCategory.PROCESS,
                DataCategory.TASK_RESULTS,
                DataCategory.CONSENT,
                DataCategory.SUPPORTER,
            ),
            data_subjects=(DataSubject.PERSON, DataSubject.SUPPORTERS),
        ),
    ),
    (
        ActivityName.NOTIFY,
        CASE_FILE.declare("Erinnerungen und Hinweise an die Teams von ABH und KI"),
    ),
    (
        ActivityName.RECORD_INCIDENT,
        CASE_FILE.declare(
            "Verstöße gegen Zeitregeln bei einer Abschiebung dokumentieren (Grund, wer "
            "entschieden hat), für den Bericht des Kreises",
            categories_of_data=(
                DataCategory.CASE_REFERENCE,
                DataCategory.PROCESS,
                DataCategory.TASK_RESULTS,
            ),
            data_subjects=(DataSubject.PERSON, DataSubject.CHILDREN),
        ),
    ),
    (
        ActivityName.REGISTER_SUPPORTER,
        CASE_FILE.declare(
            "Unterstützer*in erfassen und die ABH sofort informieren",
            legal_basis=WITH_REPRESENTATIVES,
            categories_of_data=(DataCategory.CASE_REFERENCE, DataCategory.SUPPORTER),
            data_subjects=(DataSubject.SUPPORTERS, DataSubject.PERSON),
        ),
    ),
    # Consents and disclosures (activities/disclosures.py).
    (
        ActivityName.RECORD_CONSENT,
        Processing(
            purpose="Einwilligung und Schweigepflichtentbindung nachweisen",
            legal_basis=(LegalBasis.PROOF_OF_CONSENT,),
            categories_of_data=(DataCategory.CASE_REFERENCE, DataCategory.CONSENT),
            data_subjects=(DataSubject.PERSON,),
            recipients=(Recipient.INTERNAL,),
            retention=Retention.PROOF,
            special_categories=SpecialCategories.NONE,
        ),
    ),
    (
        ActivityName.HAND_OVER,
        Processing(
            purpose="Übermittlung an KI und Partner vor Ort: Beratung zur freiwilligen Ausreise",
            legal_basis=(
                LegalBasis.CONSENT,
                LegalBasis.EXPLICIT_CONSENT,
                LegalBasis.ACCOUNTABILITY,
            ),
            categories_of_data=(
                DataCategory.CASE_REFERENCE,
                DataCategory.IDENTITY,
                DataCategory.CONTACT,
                DataCategory.RESIDENCE,
                DataCategory.DISCLOSURE,
            ),
            data_subjects=(DataSubject.PERSON,),
            recipients=(Recipient.KI, Recipient.PARTNERS),
            retention=Retention.HANDOVER,
            special_categories=SpecialCategories.BY_CONSENT,
        ),
    ),
    (
        ActivityName.WITHDRAW_CONSENT,
        Processing(
            purpose="Widerruf festhalten, Übermittlungen sperren, Empfänger um Löschung ersuchen",
            legal_basis=(LegalBasis.WITHDRAWAL,),
            categories_of_data=(
                DataCategory.CASE_REFERENCE,
                DataCategory.CONSENT,
                DataCategory.DISCLOSURE,
            ),
            data_subjects=(DataSubject.PERSON,),
            recipients=(Recipient.FORMER_RECIPIENTS,),
            retention=Retention.PROOF,
            special_categories=SpecialCategories.NONE,
        ),
    ),
    (
        ActivityName.REPORT_UNCONFIRMED_ERASURE,
        Processing(
            purpose="Nach Abschluss des Falls: eine unbestätigte Löschung beim Partner an den "
            "Datenschutz melden",
            legal_basis=(LegalBasis.WITHDRAWAL,),
            categories_of_data=(DataCategory.CASE_REFERENCE, DataCategory.DISCLOSURE),
            data_subjects=(DataSubject.PERSON,),
            recipients=(Recipient.INTERNAL,),
            retention=Retention.PROOF,
            special_categories=SpecialCategories.NONE,
        ),
    ),
    # The scheduled erasure (activities/retention.py).
    (
        ActivityName.DUE_FOR_ERASURE,
        NoPersonalData(
            reason="liest nur Aktenzeichen, Abschlussdaten, Ergebnis und Löschfristen der Fälle"
        ),
    ),
    (
        ActivityName.ERASE_CASE,
        ERASURE.declare(
            "Löschung abgeschlossener Fälle nach Ablauf der Aufbewahrungsfrist: Schlüssel "
            "vernichten (Temporal-Verläufe unlesbar), personenbezogene Zeilen löschen, "
            "Löschnachweis ohne Personendaten"
        ),
    ),
    (
        ActivityName.DUE_ARRIVALS,
        NoPersonalData(reason="liest nur Aktenzeichen, Abschluss und Löschfristen der Neuzugänge"),
    ),
    (
        ActivityName.ERASE_ARRIVALS,
        ERASURE.declare(
            "Löschung der Daten Neuzugewanderter nach Ablauf der Frist: Schlüssel "
            "vernichten (Temporal-Verläufe unlesbar), Name, E-Mail-Adresse, E-Mails, "
            "Hinweise an das Team und Aushändigungsvermerk löschen",
            categories_of_data=(DataCategory.ARRIVAL,),
            data_subjects=(DataSubject.NEWLY_ARRIVED,),
        ),
    ),
    # The case's documents (activities/documents.py).
    (
        ActivityName.PRODUCE_DOCUMENT,
        CASE_FILE.declare(
            "Schriftstücke für die Person in ihrer Sprache und auf Deutsch erstellen "
            "(Gesprächsprotokoll, Ausreiseinformationsschreiben, Einwilligungsvordruck) und mit "
            "Vorlagenversion und Prüfsumme in der Fallakte ablegen",
            categories_of_data=(
                DataCategory.CASE_REFERENCE,
                DataCategory.IDENTITY,
                DataCategory.RESIDENCE,
                DataCategory.TASK_RESULTS,
            ),
            special_categories=SpecialCategories.INDIRECT,
        ),
    ),
    # The rule set in force (activities/rules.py).
    (
        ActivityName.RULES_IN_FORCE,
        NoPersonalData(
            reason="liest nur das geltende Regelwerk (Fristen, Zeitregeln, "
            "Bleiberechtsregelungen) zu einem Tag, ohne Bezug zu einer Person"
        ),
    ),
    # The flyers (activities/flyers.py).
    (
        ActivityName.ISSUE_FLYER,
        NoPersonalData(
            reason="erhält nur Ort und Sprache, ohne Bezug zu einer Person, und liest das "
            "Angebotsverzeichnis (Beratungsstellen, Verbände und Gruppen mit Adresse, "
            "Öffnungszeiten und Kontakt der Stelle); der Flyer ist für alle gleich"
        ),
    ),
    # The arrival workflow (activities/arrivals.py).
    (
        ActivityName.RECORD_ARRIVAL,
        ARRIVAL_INFORMATION.declare(
            "Neu zugewanderte Person für die Information über die Angebote im Wohnort "
            "erfassen: nur Name, E-Mail-Adresse (falls bekannt), Wohnort und Sprache",
            special_categories=SpecialCategories.INDIRECT,
        ),
    ),
    (
        ActivityName.MAIL_FLYER,
        ARRIVAL_INFORMATION.declare(
            "Faltblatt des Wohnorts per E-Mail senden (Postausgang) und den Versand "
            "festhalten: Faltblattversion, Sprachen, Prüfsumme",
            recipients=(Recipient.MAIL_RECIPIENTS,),
            special_categories=SpecialCategories.INDIRECT,
        ),
    ),
    (
        ActivityName.MAIL_OUTCOME,
        ARRIVAL_INFORMATION.declare(
            "Versand des Faltblatts nachhalten: gesendet oder gescheitert (dann Aushändigung)"
        ),
    ),
    (
        ActivityName.MAIL_UNSETTLED,
        ARRIVAL_INFORMATION.declare(
            "Versand des Faltblatts ohne Ergebnis festhalten (dann Aushändigung)"
        ),
    ),
    (
        ActivityName.CREATE_HANDOVER_TASK,
        ARRIVAL_INFORMATION.declare(
            "Aufgabe für die ABH: Faltblatt drucken und aushändigen (Posteingang)"
        ),
    ),
    (
        ActivityName.ARRIVAL_NOTICE,
        ARRIVAL_INFORMATION.declare(
            "Erinnerung an die Aushändigung und Hinweis, dass sie überfällig ist, an das Team "
            "(Posteingang): nur Aufgabe, Art und Zeitpunkt"
        ),
    ),
    (
        ActivityName.CLOSE_HANDOVER_TASK,
        ARRIVAL_INFORMATION.declare(
            "Aushändigung des Faltblatts dokumentieren (ausgehändigt am, nicht erreichbar, "
            "entfallen)"
        ),
    ),
    (
        ActivityName.FINISH_ARRIVAL,
        ARRIVAL_INFORMATION.declare(
            "Abschluss der Information festhalten und die Löschfrist setzen"
        ),
    ),
    # Notices by e-mail (activities/notices.py).
    (
        ActivityName.DISPATCH_NOTICES,
        NOTICE_MAIL.declare(
            "Erinnerungen, überfällige Aufgaben, gemeldete Unterstützer*innen und neue "
            "Vermittlungen an das KI per E-Mail an die zugewiesene Person oder das Team "
            "(Postausgang)"
        ),
    ),
    (
        ActivityName.MAIL_DIGESTS,
        NOTICE_MAIL.declare(
            "Tägliche Übersicht der offenen und überfälligen Aufgaben je Person oder Team per "
            "E-Mail (Postausgang)"
        ),
    ),
)
