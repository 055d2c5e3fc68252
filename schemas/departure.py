"""How a person leaves: the kind of departure, a return-support programme and its progress.

Shared by the status event that reports a departure (``schemas.events``) and the follow-up's
check-ins (``schemas.tasks``), which track an application for return support.
"""

from __future__ import annotations

from enum import StrEnum


class ReturnProgramme(StrEnum):
    """Programmes of return support (Rückkehrförderung)."""

    REAG_GARP = "reag_garp"  # Bund/Länder programme run by IOM
    STARTHILFE_PLUS = "starthilfe_plus"  # the federal supplement (BAMF)
    OTHER = "other"  # a programme of the Land, the county or a welfare association


class ReturnSupport(StrEnum):
    """How far an application for return support has come."""

    APPLIED = "applied"
    APPROVED = "approved"
    TRAVEL_BOOKED = "travel_booked"
