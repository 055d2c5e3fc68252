"""The rules in force, as a report states them: one function, so that the versioned rule
sets (another issue) can take its place without touching the report."""

from __future__ import annotations

import hashlib
import json

from config.settings import Settings
from schemas.report import RuleSet


def rules_in_force(settings: Settings) -> RuleSet:
    """The configured timings, time rules, residence routes and retention rules, as a stable
    sha256 of their canonical JSON: the same configuration gives the same digest."""
    document = {
        "timings": settings.timings().model_dump(mode="json"),
        "time_rules": [rule.model_dump(mode="json") for rule in settings.time_rules()],
        "residence_routes": settings.residence_routes().model_dump(mode="json"),
        "retention_rules": settings.retention_rules().model_dump(mode="json"),
    }
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(text.encode()).hexdigest()
    return RuleSet(label=f"konfiguriert (sha256:{digest[:16]})", digest=digest)
