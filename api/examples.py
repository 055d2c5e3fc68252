"""An example of every request body the API takes, as the OpenAPI document shows it.

Keyed by the name of the body's schema in the document (the model's name); the contract puts
each into its schema's ``examples`` (:mod:`api.contract`), and a test holds that every request
body has one and that each passes its model. The people in them are made up ("Muster…"); the
dates are those of a case reported on 1 December 2026.
"""

from __future__ import annotations

from typing import Any

from api.routes.retention import LegalHold
from schemas.case import (
    ConsentWithdrawal,
    DeadlineExtension,
    Reopening,
    RouteFailure,
    SupporterReport,
)
from schemas.departure import DepartureRecord
from schemas.events import StatusEvent
from schemas.notes import NoteDraft
from schemas.offers import OfferDraft
from schemas.partners import PartnerDraft
from schemas.reassignment import Deputising, HandOver, TaskReassignment
from schemas.tasks import (
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
)
from schemas.webhooks import SubscriptionDraft

Example = dict[str, Any]

REQUEST_EXAMPLES: dict[type[Any], Example] = {
    StatusEvent: {
        "event_id": "ABH-2026-004711-E1",
        "case_id": "ABH-2026-004711",
        "status": "ausreisepflichtig",
        "effective_date": "2026-12-01",
        "departure_deadline": "2027-03-01",
        "person": {
            "given_name": "Maxim",
            "family_name": "Mustermann",
            "date_of_birth": "1990-04-01",
            "nationality": "IRQ",
            "language": "ar",
            "phone": "+49 2303 123456",
            "address": {"street": "Bahnhofstraße 1", "postal_code": "59423", "town": "Unna"},
        },
    },
    NoteDraft: {"text": "Person hat um einen Termin mit Dolmetscher gebeten."},
    ConsentWithdrawal: {"withdrawn_on": "2026-12-10", "received_by": "Bürgerbüro Unna"},
    RouteFailure: {"failed_on": "2026-12-08", "reason": "Antrag nach §25b abgelehnt"},
    DeadlineExtension: {"new_deadline": "2027-04-01", "reason": "Reisepass beantragt"},
    DepartureRecord: {
        "kind": "return_programme",
        "programme": "reag_garp",
        "proof": "grenzuebertrittsbescheinigung",
        "crossed_on": "2027-02-14",
        "place": "Flughafen Düsseldorf",
    },
    Reopening: {
        "status": "ausreisepflichtig",
        "effective_date": "2027-01-05",
        "departure_deadline": "2027-04-05",
    },
    SupporterReport: {
        "name": "Erika Musterfrau",
        "organisation": "Flüchtlingshilfe Musterstadt e. V.",
        "contact": "+49 2303 654321",
        "is_representative": False,
    },
    TaskReassignment: {
        "task_ids": ["0b6f3c3e-4a51-4c55-9d2c-2d1f1f8b7a10"],
        "assignee": 12,
        "comment": "Vertretung während des Urlaubs",
    },
    HandOver: {"assignee": 12, "comment": "Zuständigkeit wechselt zum 1. Januar"},
    Deputising: {"reason": "Sachbearbeiterin erkrankt"},
    PartnerDraft: {
        "name": "Rückkehrberatung Musterverband",
        "kind": "wohlfahrtsverband",
        "town": "Unna",
        "contact": "rueckkehr@musterverband.example",
        "languages": ["de", "ar", "fa"],
    },
    OfferDraft: {
        "name": "Migrationsberatung für Erwachsene",
        "category": "migration_counselling",
        "town": "Unna",
        "address": "Musterstraße 5, 59423 Unna",
        "hours": "Di und Do 9–12 Uhr",
        "languages": ["de", "ar"],
    },
    SubscriptionDraft: {
        "name": "fachverfahren",
        "url": "https://fachverfahren.kreis-unna.example/hooks/ausreise",
    },
    LegalHold: {"reason": "Klage vor dem Verwaltungsgericht Gelsenkirchen anhängig"},
    InformationConversation: {
        "kind": "information_conversation",
        "held_on": "2026-12-08",
        "routes_discussed": ["§25b AufenthG", "§60d AufenthG"],
        "perspective": "none_evident",
        "missing_prerequisites": [{"route": "§25b AufenthG", "prerequisite": "years_of_residence"}],
        "language": "ar",
    },
    ReferralConsent: {
        "kind": "referral_consent",
        "interested": True,
        "consent_signed_on": "2026-12-08",
    },
    KiContact: {
        "kind": "ki_contact",
        "result": "reached",
        "partner_id": 3,
        "contacted_on": "2026-12-11",
    },
    FollowUp: {
        "kind": "follow_up",
        "reached": True,
        "planned_departure_on": "2027-02-14",
        "return_programme": "reag_garp",
        "return_support": "applied",
    },
    Representative: {
        "kind": "representative",
        "name": "Erika Musterfrau",
        "contact": "+49 2303 654321",
        "power_of_attorney_on": "2026-12-15",
    },
    RepresentativeInquiry: {
        "kind": "representative_inquiry",
        "asked_on": "2027-01-10",
        "facts_reported": False,
    },
    Escalation: {
        "kind": "escalation",
        "decision": "extend_deadline",
        "new_deadline": "2027-04-01",
    },
    FlyerHandover: {
        "kind": "flyer_handover",
        "handed_over": True,
        "handed_over_on": "2026-12-03",
    },
    StepFailureReview: {
        "kind": "step_failed",
        "checked_on": "2026-12-04",
        "action": "Anschrift im Fachverfahren berichtigt",
    },
    EnforcementResult: {
        "kind": "enforcement_result",
        "result": "not_found",
        "started_at": "2027-04-02T08:00:00+02:00",
        "ended_at": "2027-04-02T08:40:00+02:00",
        "minors_present": False,
    },
    RouteReview: {
        "kind": "route_review",
        "outcome": "still_pursued",
        "review_again_on": "2027-03-01",
    },
    ErasureConfirmation: {
        "kind": "erasure_confirmation",
        "confirmed_on": "2027-01-20",
        "how": "Akte und E-Mails gelöscht",
    },
}


def by_schema_name() -> dict[str, Example]:
    """The examples keyed by the names the document gives the models' schemas."""
    return {model.__name__: example for model, example in REQUEST_EXAMPLES.items()}
