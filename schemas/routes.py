"""Bleiberechtsregelungen and their prerequisites as codes: shared by forms, rules and documents.

Codes, not German sentences, because the same prerequisite is ticked by a caseworker in German,
checked against the dated rules (``schemas/residence_routes.py``) and printed in the person's
language from the reviewed document templates (``documents/texts``, keys ``route.<code>`` and
``prereq.<code>``). The precise German wording of each version lives with the dated rules.
"""

from __future__ import annotations

from enum import StrEnum


class Route(StrEnum):
    """Bleiberechtsregelungen a caseworker can explain (the rule texts are versioned data)."""

    P25A = "§25a AufenthG"
    P25B = "§25b AufenthG"
    P60C = "§60c AufenthG"
    P60D = "§60d AufenthG"
    P23A = "§23a AufenthG"
    P104C = "§104c AufenthG"
    P25_5 = "§25 Abs. 5 AufenthG"
    P16G = "§16g AufenthG"
    P19D = "§19d AufenthG"

    @property
    def code(self) -> str:
        """``25a``, ``25-5`` for "§25 Abs. 5": the key of the route's name in the document
        templates, and the readable part of its version ids."""
        section = self.value.removeprefix("§").removesuffix(" AufenthG")
        return "-".join(section.split(" Abs. "))


class Prerequisite(StrEnum):
    """What a route asks of the person; each dated rule version names its own subset."""

    IDENTITY_CLARIFIED = "identity_clarified"
    PASSPORT = "passport"
    ENTRY_DATE = "entry_date"
    YEARS_OF_RESIDENCE = "years_of_residence"
    TOLERATION_PERIOD = "toleration_period"
    SCHOOL_OR_TRAINING = "school_or_training"
    CHILDREN_AT_SCHOOL = "children_at_school"
    EMPLOYMENT = "employment"
    LIVELIHOOD = "livelihood"
    LANGUAGE_SKILLS = "language_skills"
    INTEGRATION = "integration"
    NO_SERIOUS_OFFENCES = "no_serious_offences"
    AGE_LIMIT = "age_limit"
    HARDSHIP_REASONS = "hardship_reasons"
    DEPARTURE_IMPOSSIBLE = "departure_impossible"
    HOUSING = "housing"
