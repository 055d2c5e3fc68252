"""German words for what the pages show: task kinds, stages, statuses, roles, refusals.

The one place where the service's English identifiers and validator reasons become the words
the staff read. An identifier without a label is shown as it is, so nothing disappears.
"""

from __future__ import annotations

import re

from schemas.accounts import Role
from schemas.inputs import describe_de
from schemas.tasks import TASK_KIND_LABELS
from service.texts import prerequisite

# Shared with the notice mails (mail/notices.py), which may not import the pages.
TASK_KINDS = TASK_KIND_LABELS

# The steps of a case (activity names) as a step_failed task names them.
STEPS = {
    "case.open": "Fallakte anlegen",
    "case.record_event": "Statusmeldung in der Fallakte speichern",
    "case.record_stage": "Stand des Falls speichern",
    "task.create": "Aufgabe anlegen",
    "task.close": "Aufgabe abschließen",
    "notice.send": "Erinnerung oder Hinweis an das Team",
    "consent.record": "Einwilligung speichern",
    "consent.withdraw": "Widerruf der Einwilligung speichern",
    "handover.send": "Übermittlung an KI oder Partner",
    "supporter.register": "Unterstützer*in erfassen",
    "documents.produce": "Schriftstück erstellen",
    "incident.record": "Verstoß gegen eine Zeitregel dokumentieren",
}

STAGES = {
    "opening": "Eröffnung",
    "information_conversation": "Informationsgespräch",
    "route_pursued": "Bleiberechtsweg wird verfolgt",
    "referral_offer": "Vermittlungsangebot",
    "ki_referral": "Vermittlung durch das KI",
    "follow_up": "Nachhalten",
    "escalation": "Entscheidung der ABH",
    "enforcement_planned": "Vollstreckung geplant",
    "suspended": "Ausgesetzt (Asylverfahren)",
    "closed": "Abgeschlossen",
    # Not a stage of a case: an arrival's task (Neu zugewandert) in the operations figures.
    "arrival": "Neu zugewandert (ohne Fall)",
}

RESIDENCE_STATUSES = {
    "ausreisepflichtig": "ausreisepflichtig",
    "geduldet": "geduldet (Duldung)",
    "aufenthaltserlaubnis": "Aufenthaltserlaubnis",
    "asylverfahren": "im Asylverfahren",
    "ausgereist": "ausgereist",
    "weggezogen": "weggezogen",
    "neu_zugewandert": "neu zugewandert",
}

OUTCOMES = {
    "residence_granted": "Aufenthaltserlaubnis erteilt",
    "departed_voluntarily": "freiwillig ausgereist",
    "departed_enforced": "abgeschoben",
    "moved_away": "weggezogen",
    "closed_by_abh": "von der ABH abgeschlossen",
    "never_opened": "nicht eröffnet",
}

TASK_STATUSES = {"open": "offen", "completed": "erledigt", "cancelled": "entfallen"}

ATTACHMENT_KINDS = {
    "consent": "Einwilligung (unterschrieben)",
    "border_crossing": "Grenzübertrittsbescheinigung",
    "other": "Sonstiges",
}
ATTACHMENT_FIELDS = {"kind": "Art", "description": "Beschreibung", "file": "Datei"}
MEDIA_LABELS = {"application/pdf": "PDF", "image/jpeg": "JPEG-Bild", "image/png": "PNG-Bild"}

ROLES = {
    Role.ABH: "Ausländerbehörde (ABH)",
    Role.KI: "Kommunales Integrationszentrum (KI)",
    Role.OPS: "Betrieb",
    Role.ADMIN: "Administration",
    Role.REPORTING: "Berichterstattung",
}

PERSPECTIVES = {
    "none_evident": "Keine Bleibeperspektive erkennbar",
    "route_possible": "Bleibeperspektive möglich",
}

DECISIONS = {
    "extend_deadline": "Ausreisefrist verlängern",
    "toleration": "Duldung",
    "enforcement": "Vollstreckung (Abschiebung) planen",
    "close": "Fall abschließen",
}

ENFORCEMENT_OUTCOMES = {
    "carried_out": "Durchgeführt",
    "broken_off": "Abgebrochen",
    "not_found": "Person nicht angetroffen",
}

RETURN_PROGRAMMES = {
    "reag_garp": "REAG/GARP (IOM)",
    "starthilfe_plus": "StarthilfePlus (BAMF)",
    "other": "Anderes Programm (Land, Kreis, Verband)",
}

DEPARTURE_KINDS = {
    "return_programme": "Freiwillig, mit Rückkehrförderung",
    "self_organised": "Freiwillig, selbst organisiert",
    "enforced": "Abgeschoben",
    "transfer": "Überstellt in den zuständigen Staat (Dublin III)",
}

PROOF_KINDS = {
    "grenzuebertrittsbescheinigung": "Grenzübertrittsbescheinigung",
    "other": "Anderer Nachweis (bitte beschreiben)",
}

RETURN_SUPPORT = {
    "applied": "Beantragt",
    "approved": "Bewilligt",
    "travel_booked": "Reise gebucht",
}

KI_CONTACT_RESULTS = {
    "reached": "Erreicht: die Person nimmt die Begleitung an",
    "declined": "Erreicht: die Person lehnt ab",
    "not_reached": "Nicht erreicht",
    "new_consent": "Neue Einwilligung nötig: der passende Partner ist in der unterschriebenen "
    "Einwilligung nicht genannt",
}

ROUTE_REVIEW_OUTCOMES = {
    "still_pursued": "Wird weiter verfolgt",
    "failed": "Gescheitert (abgelehnt, zurückgenommen, Voraussetzungen entfallen)",
}

PARTNER_KINDS = {"wohlfahrtsverband": "Wohlfahrtsverband", "ehrenamt": "Ehrenamt"}

OFFER_CATEGORIES = {
    "migration_counselling": "Migrationsberatung",
    "welfare_association": "Wohlfahrtsverband",
    "volunteer_group": "Ehrenamtliche Gruppe",
    "language_course": "Sprachkurs",
    "return_counselling": "Rückkehrberatung",
}

# The flyer's languages (documents.LANGUAGES), as the staff call them.
LANGUAGE_NAMES = {
    "de": "Deutsch",
    "en": "Englisch",
    "ar": "Arabisch",
    "fa": "Farsi/Dari",
    "ku": "Kurdisch (Kurmandschi)",
    "tr": "Türkisch",
    "ru": "Russisch",
    "uk": "Ukrainisch",
    "fr": "Französisch",
    "sq": "Albanisch",
}

# The languages a conversation is held in, as the form offers them: the flyer's and the next
# ones of DOMAIN.md (the API takes any ISO 639 code). The person's copy names each of them in
# its own words (documents/texts/gespraechsprotokoll, keys language.<code>).
CONVERSATION_LANGUAGES = {
    **LANGUAGE_NAMES,
    "ps": "Paschtu",
    "ckb": "Kurdisch (Sorani)",
    "sr": "Serbisch",
    "ka": "Georgisch",
    "ti": "Tigrinya",
}

# Nationalities as the intake sends them (ISO 3166-1 alpha-3), by their German names: the
# countries people in the county's caseload mostly come from, and the codes for statelessness
# (ICAO 9303). Any other code is shown as it came.
COUNTRY_NAMES = {
    "AFG": "Afghanistan", "AGO": "Angola", "ALB": "Albanien", "ARM": "Armenien",
    "AZE": "Aserbaidschan", "BGD": "Bangladesch", "BIH": "Bosnien und Herzegowina",
    "BLR": "Belarus", "CHN": "China", "CIV": "Côte d’Ivoire", "CMR": "Kamerun",
    "COD": "Demokratische Republik Kongo", "COL": "Kolumbien", "DZA": "Algerien",
    "EGY": "Ägypten", "ERI": "Eritrea", "ETH": "Äthiopien", "GEO": "Georgien", "GHA": "Ghana",
    "GIN": "Guinea", "GMB": "Gambia", "IND": "Indien", "IRN": "Iran", "IRQ": "Irak",
    "KAZ": "Kasachstan", "KEN": "Kenia", "KGZ": "Kirgisistan", "LBN": "Libanon",
    "LBY": "Libyen", "MAR": "Marokko", "MDA": "Moldau", "MKD": "Nordmazedonien", "MLI": "Mali",
    "MNE": "Montenegro", "NGA": "Nigeria", "PAK": "Pakistan", "PSE": "Palästinensische Gebiete",
    "RUS": "Russland", "SDN": "Sudan", "SEN": "Senegal", "SLE": "Sierra Leone",
    "SOM": "Somalia", "SRB": "Serbien", "SYR": "Syrien", "TJK": "Tadschikistan",
    "TUN": "Tunesien", "TUR": "Türkei", "UKR": "Ukraine", "UZB": "Usbekistan",
    "VEN": "Venezuela", "VNM": "Vietnam", "XKX": "Kosovo", "YEM": "Jemen",
    "XXA": "staatenlos", "XXB": "Flüchtling (Konvention von 1951)", "XXX": "ungeklärt",
}  # fmt: skip

INTERPRETER_MODES = {
    "present": "anwesend",
    "by_phone": "telefonisch zugeschaltet",
    "by_video": "per Video zugeschaltet",
}

# Who took part besides the ABH, by role (schemas/conversation.py: never names).
PARTICIPANTS = {
    "person": "Die Person selbst",
    "representative": "Bevollmächtigte*r",
    "supporter": "Unterstützer*in (z. B. Ehrenamt)",
    "family_member": "Familienangehörige",
    "counsellor": "Beratungsstelle (z. B. eines Wohlfahrtsverbands)",
    "ki_staff": "Kommunales Integrationszentrum (KI)",
}

COPY_DELIVERIES = {
    "handed_over": "ausgehändigt",
    "sent": "zugesandt",
    "refused": "Annahme verweigert",
}

# The fields of the case page's forms (web.routes.cases.ACTIONS).
ACTION_FIELDS = {
    "new_deadline": "Neue Ausreisefrist",
    "reason": "Grund",
    "failed_on": "Gescheitert am",
    "name": "Name",
    "organisation": "Organisation (falls vorhanden)",
    "contact": "Erreichbar unter (Telefon oder E-Mail)",
    "is_representative": "Bevollmächtigt (Vollmacht liegt vor oder wird nachgereicht)",
    "withdrawn_on": "Widerrufen am",
    "received_by": "Entgegengenommen von (falls nicht Sie)",
    "text": "Notiz",
    "kind": "Wie hat die Person das Land verlassen?",
    "programme": "Programm der Rückkehrförderung",
    "proof": "Nachweis",
    "crossed_on": "Ausgereist am",
    "place": "Ort des Grenzübertritts",
    "description": "Welcher Nachweis?",
    "status": "Neuer Aufenthaltsstatus",
    "effective_date": "Wirksam seit",
    "departure_deadline": "Ausreisefrist",
}

ASSIGNMENT_ACTIONS = {
    "claim": "übernommen",
    "release": "freigegeben",
    "hand_over": "übergeben",
    "inherit": "zugewiesen",
    "deputy": "als Vertretung übernommen",
    "reassign": "neu zugewiesen (Teamleitung)",
}

TIMELINE_KINDS = {
    "opened": "Fall eröffnet",
    "status": "Statusmeldung",
    "stage": "Phase",
    "task_opened": "Aufgabe angelegt",
    "task_completed": "Aufgabe erledigt",
    "task_cancelled": "Aufgabe entfallen",
    "consent": "Einwilligung",
    "consent_withdrawn": "Einwilligung widerrufen",
    "disclosure": "Übermittlung",
    "erasure_requested": "Löschung angefordert",
    "supporter": "Unterstützer*in",
    "notice_reminder": "Erinnerung",
    "notice_overdue": "Überfällig gemeldet",
    "notice_supporter_reported": "Unterstützer*in gemeldet",
    "document": "Schriftstück erstellt",
    "document_skipped": "Schriftstück nicht erstellt",
    "incident": "Verstoß gegen eine Zeitregel dokumentiert",
    "route_failed": "Bleiberechtsweg beendet",
    "return_support": "Rückkehrförderung",
    "deadline_extended": "Ausreisefrist verlängert",
    "erasure_unconfirmed": "Löschung nicht bestätigt",
    "escalation": "Entscheidung der ABH nötig",
    "ki_contact": "Kontakt durch das KI",
    "ki_note": "Hinweis des KI",
    "representative": "Bevollmächtigte*r",
    "fact_reported": "Tatsache mitgeteilt",
    "step_failed": "Schritt nicht ausgeführt",
}

DOCUMENT_KINDS = {
    "gespraechsprotokoll": "Gesprächsprotokoll (Ausfertigung für die Person)",
    "ausreiseinformation": "Ausreiseinformationsschreiben mit Belehrungen",
    "einwilligung": "Einwilligung und Schweigepflichtentbindung (Vordruck zur Unterschrift)",
    "flyer": "Flyer der Unterstützungsangebote",
}

# What a flag on a document means for the person handing it over.
DOCUMENT_FLAGS = {
    "language_fallback": (
        "Nicht in der Sprache der Person (Deutsch und Englisch): vor der Aushändigung "
        "oder Unterschrift mündlich übersetzen lassen."
    ),
    "draft_translation": "Übersetzung ungeprüft (auf dem Schriftstück vermerkt).",
    "draft_source_text": "Text von der ABH noch nicht freigegeben (auf dem Schriftstück vermerkt).",
    "example_data": "Enthält Beispieldaten aus dem Angebotsverzeichnis.",
}

# Success messages after a redirect, by code (the URL carries the code, never a text).
MESSAGES = {
    "erledigt": "Die Aufgabe wurde erledigt. Der Fall ist weitergegangen.",
    "frist_verlaengert": "Die Ausreisefrist wurde verlängert; alle Fristen des Falls richten "
    "sich nach ihr.",
    "weg_gescheitert": "Festgehalten: Der Bleiberechtsweg ist gescheitert. Der Fall geht mit "
    "dem Vermittlungsangebot weiter.",
    "unterstuetzer_gemeldet": "Die Meldung ist aufgenommen; die ABH ist informiert.",
    "notiz_gespeichert": "Die Notiz ist gespeichert.",
    "ausreise_erfasst": "Die Ausreise ist erfasst.",
    "wieder_eroeffnet": "Der Fall ist wieder eröffnet; die neue Ausreisepflicht ist erfasst.",
    "anlage_gespeichert": "Die Anlage ist gespeichert (verschlüsselt).",
    "sperre_gesetzt": "Die Löschsperre ist gesetzt: Der Fall wird nicht gelöscht, bis sie "
    "aufgehoben ist.",
    "sperre_aufgehoben": "Die Löschsperre ist aufgehoben.",
    "widerruf_erfasst": "Der Widerruf ist erfasst: Nichts wird mehr übermittelt, alle Empfänger "
    "werden um Löschung ersucht.",
    "ausgehaendigt": "Die Aufgabe wurde erledigt: Die Aushändigung ist festgehalten.",
    "uebernommen": "Sie haben die Aufgabe übernommen.",
    "vertreten": "Sie haben die Aufgabe als Vertretung übernommen.",
    "freigegeben": "Die Aufgabe ist wieder für die Gruppe offen.",
    "uebergeben": "Die Aufgabe wurde übergeben.",
    "zugewiesen_alle": "Die ausgewählten Aufgaben sind zugewiesen.",
    "freigegeben_alle": "Die ausgewählten Aufgaben sind wieder für die Gruppe offen.",
    "konto": "Das Konto wurde angelegt.",
    "konto_geaendert": "Das Konto wurde geändert.",
    "webhook_beendet": "Das Abonnement wurde beendet; was noch nicht gesendet war, entfällt.",
    "passwort": "Ihr neues Passwort gilt ab sofort. Wo Sie sonst mit diesem Konto angemeldet "
    "waren, sind Sie jetzt abgemeldet.",
    "partner": "Der Eintrag im Partnerverzeichnis wurde gespeichert.",
    "partner_entfernt": "Der Eintrag wurde aus dem Partnerverzeichnis entfernt.",
    "angebot": "Der Eintrag im Angebotsverzeichnis wurde gespeichert. Die Flyer der "
    "betroffenen Orte erhalten beim nächsten Abruf eine neue Version.",
    "angebot_entfernt": "Der Eintrag wurde aus dem Angebotsverzeichnis entfernt.",
    "regeln_vorgeschlagen": "Die neue Version des Regelwerks ist vorgeschlagen. Annehmen muss "
    "sie eine andere Administratorin oder ein anderer Administrator.",
    "regeln_angenommen": "Die Version des Regelwerks ist angenommen; sie gilt ab dem genannten "
    "Tag für jede Entscheidung der laufenden Fälle.",
    "regeln_zurueckgezogen": "Der Vorschlag ist zurückgezogen.",
}

# The durations of a rule set as its page names them (schemas/process.py), in days.
RULE_DURATIONS = {
    "conversation_due": "Informationsgespräch fällig nach",
    "consent_deadline": "Einwilligung: Angebot verfällt nach",
    "ki_contact_due": "KI: Kontakt zum Partner innerhalb",
    "follow_up_interval": "Begleitung: Abstand der Check-ins",
    "follow_up_due": "Begleitung: Check-in fällig nach",
    "escalation_due": "Eskalation: Entscheidung der ABH innerhalb",
    "enforcement_grace": "Nach geplanter Abschiebung: Ergebnis fällig nach",
    "representative_due": "Bevollmächtigte*r: erfassen innerhalb",
    "representative_inquiry_interval": "Bevollmächtigte*r: Nachfrage alle",
    "erasure_confirmation_due": "Löschbestätigung nach Widerruf innerhalb",
    "step_failure_due": "Fehler bei der Verarbeitung: prüfen innerhalb",
    "reminder_lead": "Erinnerung vor Fälligkeit",
}
RULE_SET_STATES = {
    "proposed": "vorgeschlagen",
    "adopted": "angenommen",
    "withdrawn": "zurückgezogen",
}
# The simulation's numbers, as the page and the audit entry name them.
SIMULATION = {
    "running_cases": "Laufende Fälle",
    "enforcements_planned": "Geplante Abschiebungen",
    "enforcements_breaking": "… davon gegen eine Zeitregel des Vorschlags",
    "enforcements_newly_breaking": "… davon erst nach dem Vorschlag",
    "decisions_open": "Offene Eskalationsentscheidungen",
    "decisions_under_changed_rule": "… davon betroffen von einer neuen oder geänderten Zeitregel",
    "due_dates_open": "Offene Aufgaben mit Frist",
    "due_dates_moved": "… deren Frist nach dem Vorschlag anders läge",
    "due_dates_earlier": "… früher",
    "due_dates_later": "… später",
    "due_shift_median_days": "Verschiebung im Median (Tage)",
    "due_shift_max_days": "Größte Verschiebung (Tage)",
    "conversations_open": "Offene Informationsgespräche",
    "routes_changed": "Geänderte Bleiberechtsregelungen am Stichtag",
    "conversations_with_other_routes": "… Gespräche, die andere Regelungen erklären würden",
}

RECIPIENTS = {
    "ki": "Kommunales Integrationszentrum (KI)",
}

LOGIN_NOTICES = {
    "abgelaufen": "Ihre Sitzung ist abgelaufen. Bitte melden Sie sich erneut an; "
    "danach geht es auf der Seite weiter, die Sie öffnen wollten.",
}


def label(mapping: dict[str, str], key: object) -> str:
    text = str(key.value if hasattr(key, "value") else key)
    return mapping.get(text, text)


# ------------------------------------------------------------ refusals

_REASONS = {
    "must not be in the future": "Das Datum darf nicht in der Zukunft liegen.",
    "must not be in the past": "Das Datum darf nicht in der Vergangenheit liegen.",
    "must not be before the case was opened": (
        "Das Datum darf nicht vor der Eröffnung des Falls liegen."
    ),
    "must be after today": "Das Datum muss nach dem heutigen Tag liegen.",
    "must be after enforcement_at": "Das Ende muss nach dem Beginn der Maßnahme liegen.",
    "must be after started_at": "Das Ende muss nach dem Beginn liegen.",
    "only when a time rule was broken": "Nur angeben, wenn gegen eine Zeitregel verstoßen wurde.",
    "required with return_programme": "Bitte den Stand der Förderung angeben.",
    "required with the Grenzübertrittsbescheinigung": (
        "Bitte den Ort des Grenzübertritts angeben (steht auf der Grenzübertrittsbescheinigung)."
    ),
    "required with another proof": "Bitte beschreiben, welcher Nachweis vorliegt.",
    "must not be before effective_date": "Die Frist darf nicht vor dem Wirksamwerden liegen.",
    "must not be more than 1 year ahead": (
        "Das Datum darf höchstens ein Jahr in der Zukunft liegen."
    ),
    "required when the person was reached": "Bitte angeben, wenn die Person erreicht wurde.",
    "required when facts were reported": "Bitte angeben, wenn Tatsachen mitgeteilt wurden.",
    "only when facts were reported": "Nur angeben, wenn Tatsachen mitgeteilt wurden.",
    "only with return_programme": "Nur mit einem Programm der Rückkehrförderung angeben.",
    "a measure of more than 24 hours is not planned as one": (
        "Eine Maßnahme von mehr als 24 Stunden wird nicht als eine geplant."
    ),
    "must be in the future": "Der Zeitpunkt muss in der Zukunft liegen.",
    "required when perspective is route_possible": (
        "Bitte angeben, wenn eine Bleibeperspektive möglich ist."
    ),
    "must be one of routes_discussed": "Es muss eine der besprochenen Regelungen sein.",
    "only prerequisites of routes_discussed": (
        "Bitte nur Voraussetzungen der besprochenen Regelungen ankreuzen."
    ),
    "each prerequisite once": "Jede Voraussetzung nur einmal.",
    "required when interested: no data leaves the ABH without a signed consent": (
        "Bitte angeben: Ohne unterschriebene Einwilligung verlassen keine Daten die ABH."
    ),
    "must be empty when the person is not interested": (
        "Bitte leer lassen, wenn die Person kein Interesse hat."
    ),
    "only when the person was reached": "Nur angeben, wenn die Person erreicht wurde.",
    "no such partner in the directory": "Diesen Partner gibt es im Verzeichnis nicht.",
    "required when the flyer was handed over": "Bitte das Datum der Aushändigung angeben.",
    "only when the flyer was handed over": "Nur angeben, wenn es ausgehändigt wurde.",
    "the file is empty": "Die Datei ist leer.",
    "given more than once": "Bitte nur einmal angeben.",
    "must be a file": "Bitte eine Datei auswählen (PDF, JPEG oder PNG).",
    "must be text, not a file": "Hier bitte Text angeben, keine Datei.",
    "not a field of this form": "Dieses Feld gehört nicht zum Formular.",
    "must be a PDF, JPEG or PNG file (judged by its content)": (
        "Nur PDF, JPEG oder PNG: Nach ihrem Inhalt ist die Datei nichts davon."
    ),
    "must be multipart/form-data": "Das Formular kam nicht vollständig an. Bitte erneut senden.",
    "not a well-formed multipart/form-data body": (
        "Das Formular kam nicht vollständig an. Bitte erneut senden."
    ),
    "must be in the conversation language": "Die Dolmetschung muss in der Gesprächssprache sein.",
    "no interpreter for a conversation in German": (
        "Für ein Gespräch auf Deutsch wird keine Dolmetschung erfasst."
    ),
    "each participant once": "Jede Rolle nur einmal.",
    "the conversation is held with the person": (
        "Das Gespräch wird mit der Person selbst geführt: Bitte „Die Person selbst“ ankreuzen."
    ),
    "required: a departure letter is issued with the record": (
        "Bitte angeben: Mit dem Protokoll wird ein Ausreiseinformationsschreiben erstellt "
        "(die Ausreisefrist liegt in der Zukunft)."
    ),
    "only when a departure letter is issued (a departure deadline ahead)": (
        "Nur angeben, wenn ein Ausreiseinformationsschreiben erstellt wird: Der Fall hat "
        "keine Ausreisefrist in der Zukunft."
    ),
}

# Where one reason means something else at another field: the departure's programme.
_BY_FIELD = {
    ("programme", "required with return_programme"): (
        "Bitte das Programm der Rückkehrförderung angeben."
    ),
    ("programme", "only with return_programme"): (
        "Nur bei einer Ausreise mit Rückkehrförderung angeben."
    ),
}

# "required" from the workflow's validator: what is missing, by field.
_REQUIRED = {
    "language": "Bitte die Gesprächssprache angeben.",
    "participants": "Bitte angeben, wer teilgenommen hat (mindestens die Person selbst).",
    "record_copy": "Bitte angeben, wie die Person ihre Ausfertigung erhalten hat.",
    "interpreter_mode": "Bitte angeben, wie gedolmetscht wurde, oder die Sprache leer lassen.",
    "file": "Bitte eine Datei auswählen (PDF, JPEG oder PNG).",
}

_BY_TYPE = {
    "missing": "Bitte ausfüllen.",
    "date_parsing": "Bitte ein gültiges Datum angeben.",
    "date_from_datetime_parsing": "Bitte ein gültiges Datum angeben.",
    "datetime_parsing": "Bitte Datum und Uhrzeit angeben.",
    "datetime_from_date_parsing": "Bitte Datum und Uhrzeit angeben.",
    "timezone_aware": "Bitte Datum und Uhrzeit angeben.",
    "too_short": "Bitte mindestens eine Angabe auswählen.",
    "enum": "Bitte eine der angebotenen Möglichkeiten wählen.",
    "literal_error": "Bitte eine der angebotenen Möglichkeiten wählen.",
    "bool_parsing": "Bitte Ja oder Nein wählen.",
    "int_parsing": "Bitte eine Zahl angeben.",
    # The only integers of the forms are ids (a partner): out of range is no choice made.
    "greater_than_equal": "Bitte eine Auswahl treffen.",
    "less_than_equal": "Bitte eine Auswahl treffen.",
    "string_too_short": "Bitte ausfüllen.",
    "string_too_long": "Der Text ist zu lang.",
    "string_pattern_mismatch": "Das Format stimmt nicht.",
}


def mebibytes(size: int) -> str:
    """A size as the pages say it: ``10 MiB``, ``2,5 MiB``, ``300 KiB``."""
    if size >= 1024 * 1024:
        value, unit = size / (1024 * 1024), "MiB"
    else:
        value, unit = max(size / 1024, 0.1), "KiB"
    text = f"{value:.1f}".removesuffix(".0").replace(".", ",")
    return f"{text} {unit}"


def reason(field: str, text: str, error_type: str = "value_error") -> str:
    """A refusal in German; the workflow's time rules are named as they are (German already)."""
    if error_type == "missing" and field in _REQUIRED:
        return _REQUIRED[field]
    if error_type in _BY_TYPE:
        return _BY_TYPE[error_type]
    text = text.removeprefix("Value error, ")
    # The model's refusal and the same reason come back from the workflow's validator.
    forbidden = re.fullmatch(r"must not contain (U\+[0-9A-F]{4,6}) \(.+\)", text)
    if forbidden:
        return describe_de(forbidden.group(1))
    if (field, text) in _BY_FIELD:
        return _BY_FIELD[(field, text)]
    if text in _REASONS:
        return _REASONS[text]
    if text == "required":
        return _REQUIRED.get(field, "Bitte ausfüllen.")
    outcome = re.fullmatch(r"(required|only) when the outcome is (\w+)", text)
    if outcome:
        word = ROUTE_REVIEW_OUTCOMES.get(outcome.group(2), outcome.group(2))
        if outcome.group(1) == "required":
            return f"Bitte angeben bei „{word}“."
        return f"Nur bei „{word}“ angeben."
    decision = re.fullmatch(r"(required|only) when the decision is (\w+)", text)
    if decision:
        word = DECISIONS.get(decision.group(2), decision.group(2))
        if decision.group(1) == "required":
            return f"Bitte angeben bei der Entscheidung „{word}“."
        return f"Nur bei der Entscheidung „{word}“ angeben."
    mismatch = re.fullmatch(
        r"the content is (PDF|JPEG|PNG), the (declared content type|file name's ending) says "
        "otherwise",
        text,
    )
    if mismatch:
        media, claim = mismatch.groups()
        said = "der angegebene Dateityp" if claim.startswith("declared") else "die Dateiendung"
        return f"Die Datei ist nach ihrem Inhalt {media}, {said} sagt etwas anderes."
    limit = re.fullmatch(r"larger than the limit of (\d+) bytes", text)
    if limit:
        return f"Die Datei ist zu groß: höchstens {mebibytes(int(limit.group(1)))}."
    if text.startswith("unknown town: "):
        return "Diesen Ort gibt es im Kreis Unna nicht."
    elsewhere = re.fullmatch(r"the partner works in (.+), not in the person's town", text)
    if elsewhere:
        return f"Der Partner arbeitet in {elsewhere.group(1)}, nicht im Wohnort der Person."
    not_in_force = re.fullmatch(r"(.+) is not in force on (\d{4})-(\d{2})-(\d{2})", text)
    if not_in_force:
        route, year, month, day = not_in_force.groups()
        return f"{route} galt am {day}.{month}.{year} nicht (siehe Bleiberechtsregelungen)."
    foreign = re.fullmatch(r"(.+) does not ask for (\w+) on (\d{4})-(\d{2})-(\d{2})", text)
    if foreign:
        route, code, year, month, day = foreign.groups()
        return f"{route} verlangte am {day}.{month}.{year} nicht: {prerequisite(code)}."
    task_kind = re.fullmatch(r"this task is a (\w+) task", text)
    if task_kind:
        return f"Diese Aufgabe ist: {label(TASK_KINDS, task_kind.group(1))}."
    if field == "enforcement_at":
        # The workflow names every time rule the enforcement time broke: "title (source)".
        return f"Verstößt gegen die Zeitregel: {text}"
    speaks = re.fullmatch(r"the person speaks (\w+); partners in (.+) who do: (.+)", text)
    if speaks:
        language, town, names = speaks.groups()
        return f"Die Person spricht {language}; in {town} sprechen es: {names}."
    broke = re.fullmatch(r"required: the measure broke (.+)", text)
    if broke:
        return f"Bitte angeben: Die Maßnahme verstieß gegen {broke.group(1)}."
    if field == "announced_on" and text != "must not be in the future":
        # A notice rule applies: the workflow names it, "title (source)".
        return f"Bitte das Datum der Ankündigung angeben, es gilt: {text}"
    return text
