"""Durations and deadlines of the process: one object, passed into every case workflow.

The workflow receives these values in its input instead of reading the environment, so a
running case keeps the durations it started with and replays deterministically. The service
reads them from the environment (``CASE_<FIELD>`` as ISO 8601 durations, e.g.
``CASE_CONVERSATION_DUE=PT30S``) in :mod:`config.settings`.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field

from schemas.inputs import INT4_MAX

# Not rules of the practice concept but the machinery's: the configuration's, never a rule
# set's (a case reads them from its start only).
TECHNICAL_TIMINGS = ("activity_timeout", "step_retry_limit", "intake_grace", "history_bound")


class ProcessTimings(BaseModel):
    """How long each step of the practice concept may take."""

    model_config = ConfigDict(frozen=True)

    conversation_due: timedelta = Field(
        default=timedelta(days=14),
        description="Informationsgespräch: due this long after the case opens.",
    )
    consent_deadline: timedelta = Field(
        default=timedelta(days=14),
        description="Einwilligung: the referral offer lapses this long after the conversation.",
    )
    ki_contact_due: timedelta = Field(
        default=timedelta(days=7),
        description="KI: contact a partner in the person's town within this time of the handover.",
    )
    follow_up_interval: timedelta = Field(
        default=timedelta(days=14),
        description="Begleitung: time between two check-ins on the voluntary departure.",
    )
    follow_up_due: timedelta = Field(
        default=timedelta(days=7),
        description="Begleitung: a check-in task is due this long after it is created.",
    )
    unreachable_after: int = Field(
        default=2,
        ge=1,
        le=INT4_MAX,  # a rule set bounds it closer (schemas/rule_sets.py)
        description="Escalate after this many check-ins in a row that did not reach the person.",
    )
    escalation_due: timedelta = Field(
        default=timedelta(days=7),
        description="Eskalation: the ABH decides within this time.",
    )
    representative_due: timedelta = Field(
        default=timedelta(days=3),
        description="Bevollmächtigte*r: record the representative within this time of the report.",
    )
    representative_inquiry_interval: timedelta = Field(
        default=timedelta(days=30),
        description="Ask the representative for residence-relevant facts this often.",
    )
    enforcement_grace: timedelta = Field(
        default=timedelta(days=3),
        description="After a planned enforcement with no departure reported, ask the ABH again.",
    )
    reminder_lead: timedelta = Field(
        default=timedelta(days=2),
        description="A reminder goes out this long before a task is due.",
    )
    activity_timeout: timedelta = Field(
        default=timedelta(seconds=30),
        description="Start-to-close timeout of one activity attempt (database, handover).",
    )
    step_retry_limit: timedelta = Field(
        default=timedelta(days=1),
        description="A step that keeps failing for another reason than its data (the database "
        "unreachable, say) is retried this long, then given up as a failed step.",
    )
    step_failure_due: timedelta = Field(
        default=timedelta(days=3),
        description="Fehler bei der Verarbeitung: the ABH looks at a failed step within this time.",
    )
    intake_grace: timedelta = Field(
        default=timedelta(minutes=1),
        description="A workflow whose opening event was refused ends after this time, empty.",
    )
    erasure_confirmation_due: timedelta = Field(
        default=timedelta(days=7),
        description="After a withdrawal: the KI confirms each recipient's erasure within this "
        "time; unconfirmed by then, the data protection contact is told (and it stays open).",
    )
    history_bound: int = Field(
        default=1000,
        ge=100,
        le=1_000_000,
        description="A case whose run has this many history events goes on in a new run "
        "(continue-as-new) at its next quiet moment, its state carried over: a follow-up "
        "with a check-in every 14 days grows about 700 events a year (1,386 in two years, "
        "measured), Temporal warns from 10,240.",
    )
