"""The service's own Prometheus figures, one registry per process (``/metrics``).

A registry of its own, not prometheus_client's global one: a test builds several apps in one
process, and each must count for itself (the global registry refuses a second metric of the
same name). What a process counts as it goes: status events received, by outcome. What it
reads when scraped: payloads decoded by the codec (protection.codec), renderings waiting or
under way (documents.render), mail delivery attempts (mail.delivery, where the delivery loop
runs: the workers), the process's CPU and memory; and, where ``figures`` is given
(the API), the business figures from the database through the inbox service (open and
overdue tasks per queue and stage, the oldest open task, the mail outbox's backlog and
failures) and the readiness checks, each under one short deadline. A figure that could not be
read is left out for that scrape (``case_figures_up`` says 0), never shown stale.

Labels are bounded and hold no ids and no personal data: outcomes, queues, stages, checks.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from datetime import timedelta

from prometheus_client import CollectorRegistry, Gauge, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from documents.render import renderer_load
from mail.delivery import ATTEMPTS
from protection.codec import DECODED
from schemas.health import Readiness
from schemas.operations import BusinessFigures
from service.webhooks import ATTEMPTS as WEBHOOK_ATTEMPTS

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

INTAKE_OUTCOMES = (
    "accepted",  # 202: taken in (a new event or a duplicate answered as such)
    "invalid",  # 422: the event cannot be taken (a field named)
    "conflict",  # 409: the case is closed, the event id reused, ...
    "unauthenticated",  # 401
    "forbidden",  # 403
    "too_large",  # 413
    "unavailable",  # 503: a server unreachable or no outcome in time; the caller repeats
    "error",  # any other 5xx
    "other",
)
_BY_STATUS = {
    202: "accepted",
    200: "accepted",
    422: "invalid",
    400: "invalid",
    409: "conflict",
    401: "unauthenticated",
    403: "forbidden",
    413: "too_large",
    503: "unavailable",
}
DECODE_OUTCOMES = ("decrypted", "erased", "plain", "refused")
MAIL_OUTCOMES = ("sent", "retried", "failed", "lost_claims", "round_failed")
WEBHOOK_OUTCOMES = ("delivered", "retried", "failed", "round_failed")


def intake_outcome(status: int) -> str:
    """The outcome label of an intake answered with HTTP ``status``."""
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return "error" if status >= 500 else "other"


class CountsByOutcome(Collector):
    """A counter by one bounded label, every outcome shown from the start (without the
    ``_created`` series prometheus_client's own counters add)."""

    def __init__(self, name: str, text: str, outcomes: tuple[str, ...]) -> None:
        self.name, self.text, self.outcomes = name, text, outcomes
        self.counts: Counter[str] = Counter()

    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily(self.name, self.text, labels=["outcome"])
        for outcome in self.outcomes:
            family.add_metric([outcome], self.counts[outcome])
        yield family


class _ProcessFigures(Collector):
    """Read at each scrape from this process's own counters (shared by every registry)."""

    def collect(self) -> Iterable[Metric]:
        decoded = CounterMetricFamily(
            "case_codec_decoded",
            "Temporal payloads decoded by this process's codec, by outcome.",
            labels=["outcome"],
        )
        for outcome in DECODE_OUTCOMES:
            decoded.add_metric([outcome], DECODED[outcome])
        yield decoded
        attempts = CounterMetricFamily(
            "case_mail_attempts",
            "Mail deliveries this process attempted, by outcome (round_failed: a whole round "
            "failed, e.g. the database unreachable).",
            labels=["outcome"],
        )
        for outcome in MAIL_OUTCOMES:
            attempts.add_metric([outcome], ATTEMPTS[outcome])
        yield attempts
        hooks = CounterMetricFamily(
            "case_webhook_attempts",
            "Webhook deliveries this process attempted, by outcome (round_failed: a whole "
            "round failed).",
            labels=["outcome"],
        )
        for outcome in WEBHOOK_OUTCOMES:
            hooks.add_metric([outcome], WEBHOOK_ATTEMPTS[outcome])
        yield hooks
        in_flight, processes = renderer_load()
        yield GaugeMetricFamily(
            "case_renderer_in_flight",
            "Document renderings waiting for a renderer process or being drawn.",
            value=in_flight,
        )
        yield GaugeMetricFamily(
            "case_renderer_processes",
            "Renderer processes this process may run at once.",
            value=processes,
        )


class _Latest(Collector):
    """The business figures and readiness read at the start of this scrape (or nothing)."""

    def __init__(self) -> None:
        self.figures: BusinessFigures | None = None
        self.readiness: Readiness | None = None

    def collect(self) -> Iterable[Metric]:
        if self.readiness is not None:
            yield GaugeMetricFamily(
                "case_ready", "1 when every readiness check passed.", value=self.readiness.ready
            )
            check = GaugeMetricFamily(
                "case_ready_check", "1 when the readiness check passed.", labels=["check"]
            )
            for result in self.readiness.checks:
                check.add_metric([result.name.value], result.ok)
            yield check
        figures = self.figures
        if figures is None:
            return
        opened = GaugeMetricFamily(
            "case_tasks_open", "Open tasks per queue and stage.", labels=["queue", "stage"]
        )
        overdue = GaugeMetricFamily(
            "case_tasks_overdue",
            "Open tasks past their due time, per queue and stage.",
            labels=["queue", "stage"],
        )
        for task in figures.tasks:
            opened.add_metric([task.queue.value, task.stage], task.open)
            overdue.add_metric([task.queue.value, task.stage], task.overdue)
        yield opened
        yield overdue
        oldest = GaugeMetricFamily(
            "case_task_oldest_open_age_seconds",
            "Age of the oldest open task per queue (0: none open).",
            labels=["queue"],
        )
        for entry in figures.oldest_open:
            oldest.add_metric([entry.queue.value], (entry.age_hours or 0.0) * 3600)
        yield oldest
        outbox = figures.outbox
        for name, text, value in (
            ("case_outbox_queued", "Mails in the outbox not yet sent.", outbox.queued),
            ("case_outbox_due", "Queued mails due for an attempt now.", outbox.queued_due),
            ("case_outbox_failed", "Mails given up after their attempts.", outbox.failed),
            (
                "case_outbox_oldest_queued_age_seconds",
                "Age of the oldest queued mail (0: none queued).",
                (outbox.oldest_queued_age_hours or 0.0) * 3600,
            ),
        ):
            yield GaugeMetricFamily(name, text, value=value)


class ServiceMetrics:
    """The registry of one process, and how a scrape fills it."""

    def __init__(
        self,
        *,
        figures: Callable[[], Awaitable[BusinessFigures]] | None = None,
        readiness: Callable[[], Awaitable[Readiness]] | None = None,
        deadline: timedelta = timedelta(seconds=2),
        intake: bool = False,
    ) -> None:
        self.registry = CollectorRegistry()
        self._figures = figures
        self._readiness = readiness
        self._deadline = deadline.total_seconds()
        # Only where the intake is served (the API): a worker's zeros would be a second series.
        self._intake: CountsByOutcome | None = None
        if intake:
            self._intake = CountsByOutcome(
                "case_intake_events",
                "Status events received at POST /api/v1/status-events, by outcome.",
                INTAKE_OUTCOMES,  # present from the start, so rate() sees the first
            )
            self.registry.register(self._intake)
        # Where figures are read (the API): a worker's 0 would look like a failing read.
        self._figures_up = Gauge(
            "case_figures_up",
            "1 when this scrape read the business figures from the database in time.",
            registry=self.registry if figures is not None else None,
        )
        self._figures_seconds = Gauge(
            "case_figures_scrape_seconds",
            "How long reading the business figures took at this scrape.",
            registry=self.registry if figures is not None else None,
        )
        self._latest = _Latest()
        self.registry.register(self._latest)
        self.registry.register(_ProcessFigures())
        ProcessCollector(registry=self.registry)

    def count_intake(self, status: int) -> None:
        if self._intake is not None:
            self._intake.counts[intake_outcome(status)] += 1

    async def _read_figures(self) -> None:
        if self._figures is None:
            return
        started = time.monotonic()
        try:
            self._latest.figures = await asyncio.wait_for(self._figures(), self._deadline)
        except Exception:  # an unreachable database, a timeout: no figures this time
            self._latest.figures = None
        self._figures_up.set(self._latest.figures is not None)
        self._figures_seconds.set(time.monotonic() - started)

    async def _read_readiness(self) -> None:
        if self._readiness is not None:
            # Bounded by its own checks' deadline; it never raises.
            self._latest.readiness = await self._readiness()

    async def exposition(self) -> bytes:
        """The text format of every figure, the database read now."""
        await asyncio.gather(self._read_figures(), self._read_readiness())
        return generate_latest(self.registry)
