"""The county's time zone: every date the process speaks of is a date in Kreis Unna.

Deadlines end at midnight local time, the time rules (22:00–06:00) are local, and a task's
"today" is Berlin's today; one definition, so that no module can drift to UTC by accident.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

BERLIN = ZoneInfo("Europe/Berlin")
