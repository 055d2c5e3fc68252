"""Service settings, read once from the environment.

``TEMPORAL_ADDRESS`` and ``DATABASE_URL`` point at real servers; when they are unset the
service starts its embedded Temporal dev server and PostgreSQL under ``CASE_DATA_DIR``.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, SecretStr, TypeAdapter, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from schemas.accounts import Role
from schemas.arrivals import ArrivalTimings
from schemas.attachments import DEFAULT_MAX_BYTES
from schemas.case_documents import AUTHORITY_CONTACT
from schemas.mail import MailAddress
from schemas.notices import NoticeDelivery, NoticeMode
from schemas.offers import COUNTY_TOWNS, official_town
from schemas.process import ProcessTimings
from schemas.residence_routes import ResidenceRoutes, load_residence_routes
from schemas.retention import RetentionRule, RetentionRules, default_retention_rules
from schemas.tasks import Queue
from schemas.time_rules import TimeRule, default_time_rules

DEFAULT_TOWNS: tuple[str, ...] = (
    # Kreis Unna without Lünen, which has its own Ausländerbehörde.
    "Bergkamen",
    "Bönen",
    "Fröndenberg/Ruhr",
    "Holzwickede",
    "Kamen",
    "Schwerte",
    "Selm",
    "Unna",
    "Werne",
)

# A town named in the settings, in the county's spelling (others as written: refused nowhere
# here, they simply match no person's town).
_Town = Annotated[str, AfterValidator(official_town)]


class TimingSettings(BaseSettings, ProcessTimings):
    """:class:`ProcessTimings` read from ``CASE_<FIELD>`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="CASE_", frozen=True, extra="ignore")

    def timings(self) -> ProcessTimings:
        return ProcessTimings.model_validate(self.model_dump())


class ArrivalTimingSettings(BaseSettings, ArrivalTimings):
    """:class:`ArrivalTimings` read from ``CASE_ARRIVAL_<FIELD>`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="CASE_ARRIVAL_", frozen=True, extra="ignore")

    def timings(self) -> ArrivalTimings:
        return ArrivalTimings.model_validate(self.model_dump())


# Secrets a deployment mounts as files (docker-compose.yml's secrets, docs/deployment.md):
# <NAME>_FILE names the file, whose text (without its trailing line break) is the value, as
# the postgres image reads POSTGRES_PASSWORD_FILE. The master key ring and the OpenID client
# secret have their own file settings (CASE_MASTER_KEY_FILE, CASE_OIDC_CLIENT_SECRET_FILE).
SECRET_FILE_VARIABLES = ("DATABASE_URL", "CASE_SMTP_PASSWORD", "CASE_METRICS_TOKEN")


class SecretFiles(PydanticBaseSettingsSource):
    """``DATABASE_URL_FILE``, ``CASE_SMTP_PASSWORD_FILE``, ``CASE_METRICS_TOKEN_FILE``: the value
    read from the file.
    Both the variable and its ``_FILE`` set is refused: which one is meant is not clear."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # everything happens in __call__

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name in SECRET_FILE_VARIABLES:
            path = os.environ.get(f"{name}_FILE")
            if not path:
                continue
            if os.environ.get(name):
                raise ValueError(f"set {name} or {name}_FILE, not both")
            values[name] = Path(path).read_text("utf-8").rstrip("\r\n")
        return values


class Settings(BaseSettings):
    """Everything the worker, the API and the CLI need to find their servers."""

    model_config = SettingsConfigDict(extra="ignore")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        secret_files = SecretFiles(settings_cls)
        return init_settings, env_settings, secret_files, dotenv_settings, file_secret_settings

    temporal_address: str | None = Field(default=None, validation_alias="TEMPORAL_ADDRESS")
    temporal_namespace: str = Field(default="default", validation_alias="TEMPORAL_NAMESPACE")
    # Or DATABASE_URL_FILE (SecretFiles): the URL holds the password.
    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    data_dir: Path = Field(default=Path(".data"), validation_alias="CASE_DATA_DIR")
    task_queue: str = Field(default="ausreise-faelle", validation_alias="CASE_TASK_QUEUE")
    api_host: str = Field(default="127.0.0.1", validation_alias="CASE_API_HOST")
    api_port: int = Field(default=8000, validation_alias="CASE_API_PORT")
    temporal_port: int = Field(default=7233, validation_alias="CASE_TEMPORAL_PORT")
    temporal_ui_port: int = Field(default=8233, validation_alias="CASE_TEMPORAL_UI_PORT")
    time_rules_file: Path | None = Field(default=None, validation_alias="CASE_TIME_RULES_FILE")
    retention_rules_file: Path | None = Field(
        default=None, validation_alias="CASE_RETENTION_RULES_FILE"
    )
    residence_routes_file: Path | None = Field(
        default=None, validation_alias="CASE_RESIDENCE_ROUTES_FILE"
    )
    # In the county's spelling however they are written (CASE_TOWNS='["Froendenberg/Ruhr"]'):
    # a person's town is stored so, and compared with these.
    towns: tuple[_Town, ...] = Field(default=DEFAULT_TOWNS, validation_alias="CASE_TOWNS")
    # Neu zugewandert: the towns whose flyer a newly arrived person gets (all ten towns of the
    # county, Lünen included: integration offers are county-wide).
    arrival_towns: tuple[_Town, ...] = Field(
        default=COUNTY_TOWNS, validation_alias="CASE_ARRIVAL_TOWNS"
    )
    # Neu zugewandert: whose inbox gets the flyer's hand-over task in a town the county ABH
    # does not serve (Lünen has its own ABH: the county-wide KI hands it over there). Other
    # towns: the county ABH. CASE_ARRIVAL_HANDOVER_QUEUES='{"Lünen": "ki"}'.
    arrival_handover_queues: dict[_Town, Queue] = Field(
        default_factory=lambda: {"Lünen": Queue.KI},
        validation_alias="CASE_ARRIVAL_HANDOVER_QUEUES",
    )
    # Documents (issue 5): the templates (a copy to try changed texts) and the ABH's address
    # printed on the departure letter and the consent form.
    document_texts_dir: Path | None = Field(
        default=None, validation_alias="CASE_DOCUMENT_TEXTS_DIR"
    )
    authority_contact: str = Field(
        default=AUTHORITY_CONTACT,
        min_length=1,
        max_length=300,
        validation_alias="CASE_AUTHORITY_CONTACT",
    )
    # How many case runs the worker keeps in memory (Temporal's sticky cache). A case not in
    # it is replayed from its history when it next acts: memory against replay CPU. Sizing and
    # the measured memory per cached case: docs/operations.md, "Sizing" (bench.capacity). 250:
    # with the SDK's 1000, 10,000 open cases took the worker past 900 MB; a case's lifecycle
    # acts in bursts of minutes, and 250 holds every case a busy county works at once.
    worker_cached_workflows: int = Field(
        default=250, ge=0, le=100_000, validation_alias="CASE_WORKER_CACHED_WORKFLOWS"
    )
    # How many workflow tasks one worker holds at once (its pollers' reservations included). They
    # share one interpreter lock, so more only queue inside Python, and the SDK counts that
    # queueing against its 2 s deadlock limit: 50 cases replayed at once (every case queried
    # after a restart, 10,000 open) failed with DeadlockError under the SDK's default of 500.
    # 20: the 8 pollers and 12 tasks of ~50-100 ms CPU each stay well inside 2 s on one core.
    worker_workflow_slots: int = Field(
        default=20, ge=1, le=500, validation_alias="CASE_WORKER_WORKFLOW_SLOTS"
    )
    # Deadlines (issue 10). Every Temporal update the API sends (intake, task completion,
    # consent withdrawal, supporter) waits this long at most for its outcome; then it answers
    # 503 with Retry-After, and the same request repeated attaches to the same update, so it
    # is carried out once. 10 s: a task completion answers once the case has moved on, which
    # includes rendering its documents in the one renderer process all cases share. On this
    # 2-core machine under a load of 8, a conversation's completion (two PDFs) took 0.9-3.2 s
    # and an intake 0.1-0.4 s (scripts/probe_outages.py healthy); bench.intake at 50 at a time
    # 8 s at p99. So 10 s refuses what is really stuck (no worker, a step failing again and
    # again), not what is merely slow, and still answers a waiting person within seconds.
    update_timeout: timedelta = Field(
        default=timedelta(seconds=10), gt=timedelta(0), validation_alias="CASE_UPDATE_TIMEOUT"
    )
    # What a 503 asks the caller to wait before repeating (the Retry-After header, seconds).
    retry_after_seconds: int = Field(
        default=5, ge=1, le=3600, validation_alias="CASE_RETRY_AFTER_SECONDS"
    )
    # SIGTERM/SIGINT: the time to stop everything (open requests, the worker, the embedded
    # servers) before what is left is stopped hard. Longer than update_timeout, so a request
    # in flight still gets its answer; shorter than docker-compose's stop_grace_period (60 s).
    shutdown_grace: timedelta = Field(
        default=timedelta(seconds=30), gt=timedelta(0), validation_alias="CASE_SHUTDOWN_GRACE"
    )
    # Health and metrics (issue 16; docs/monitoring.md). Each readiness check (/readyz) and the
    # figures a /metrics scrape reads from the database get this long at most: a probe answers
    # in time even when a server hangs (Prometheus' scrape timeout is 10 s by default).
    probe_timeout: timedelta = Field(
        default=timedelta(seconds=2), gt=timedelta(0), validation_alias="CASE_PROBE_TIMEOUT"
    )
    # With it set, /metrics wants "Authorization: Bearer <token>"; unset, it is open (then
    # only the monitoring network may reach the listener: the proxy must not route it).
    metrics_token: SecretStr | None = Field(default=None, validation_alias="CASE_METRICS_TOKEN")
    # A worker-only process (--role worker) serves /healthz, /readyz and /metrics on this port
    # (unset: no listener; two workers on one machine need two ports). The API process serves
    # them on its own port. The host is also where the SDK's metrics below are bound.
    worker_http_host: str = Field(default="127.0.0.1", validation_alias="CASE_WORKER_HTTP_HOST")
    worker_http_port: int | None = Field(
        default=None, ge=0, le=65535, validation_alias="CASE_WORKER_HTTP_PORT"
    )
    # The Temporal SDK's own metrics (task slots, pollers, schedule-to-start latency, task
    # failures), served by its core on a port of their own (unset: none) in every process
    # that runs a worker.
    temporal_metrics_port: int | None = Field(
        default=None, ge=0, le=65535, validation_alias="CASE_TEMPORAL_METRICS_PORT"
    )
    # Accounts (ISO 8601 durations like the process timings).
    session_idle_timeout: timedelta = Field(
        default=timedelta(minutes=30), validation_alias="CASE_SESSION_IDLE_TIMEOUT"
    )
    session_lifetime: timedelta = Field(
        default=timedelta(hours=10), validation_alias="CASE_SESSION_LIFETIME"
    )
    login_max_failures: int = Field(default=5, ge=1, validation_alias="CASE_LOGIN_MAX_FAILURES")
    login_failure_window: timedelta = Field(
        default=timedelta(minutes=15), validation_alias="CASE_LOGIN_FAILURE_WINDOW"
    )
    # Proxies (addresses or networks) whose X-Forwarded-For and X-Forwarded-Proto uvicorn
    # believes. None by default: a client can then claim neither TLS (which earns the HSTS
    # header) nor another address (which the login throttle counts by).
    trusted_proxies: tuple[str, ...] = Field(default=(), validation_alias="CASE_TRUSTED_PROXIES")
    # Secure cookies need https; runtime.main turns this off for its plain-http loopback run.
    cookie_secure: bool = Field(default=True, validation_alias="CASE_COOKIE_SECURE")
    # Single sign-on with the county's OpenID Connect provider (service/sso.py; docs/accounts.md
    # "Single Sign-On (OpenID Connect)"). Off unless the issuer is set. The secret inline or,
    # better, in a file (a mounted secret); neither: a public client (PKCE alone).
    oidc_issuer: str | None = Field(default=None, validation_alias="CASE_OIDC_ISSUER")
    oidc_client_id: str | None = Field(default=None, validation_alias="CASE_OIDC_CLIENT_ID")
    oidc_client_secret: SecretStr | None = Field(
        default=None, validation_alias="CASE_OIDC_CLIENT_SECRET"
    )
    oidc_client_secret_file: Path | None = Field(
        default=None, validation_alias="CASE_OIDC_CLIENT_SECRET_FILE"
    )
    oidc_scopes: str = Field(default="openid profile", validation_alias="CASE_OIDC_SCOPES")
    # The claim holding the person's groups (a dotted path reaches into an object, like
    # Keycloak's realm_access.roles), and which group gives which role:
    # CASE_OIDC_ROLE_GROUPS='{"GG-Fallsteuerung-ABH": "abh", "GG-Fallsteuerung-Admin": "admin"}'
    oidc_groups_claim: str = Field(
        default="groups", min_length=1, validation_alias="CASE_OIDC_GROUPS_CLAIM"
    )
    oidc_role_groups: dict[str, Role] = Field(
        default_factory=dict, validation_alias="CASE_OIDC_ROLE_GROUPS"
    )
    oidc_username_claim: str = Field(
        default="preferred_username", min_length=1, validation_alias="CASE_OIDC_USERNAME_CLAIM"
    )
    # A CA bundle (PEM) for the provider's TLS certificate, when the county's own CA signed it.
    oidc_ca_file: Path | None = Field(default=None, validation_alias="CASE_OIDC_CA_FILE")
    # Every process migrates the schema at its start (under a lock: one does, the others
    # wait). false: only `--role migrate` does, and the others refuse a schema behind.
    migrate_on_start: bool = Field(default=True, validation_alias="CASE_MIGRATE_ON_START")
    # Payload encryption (protection/): the master key ring, inline JSON or a file; neither
    # set means <data_dir>/keys/master-keys.json, generated on first start (embedded servers
    # only: with DATABASE_URL or TEMPORAL_ADDRESS set, a process without a ring refuses).
    master_keys: SecretStr | None = Field(default=None, validation_alias="CASE_MASTER_KEYS")
    master_key_file: Path | None = Field(default=None, validation_alias="CASE_MASTER_KEY_FILE")
    key_cache_seconds: float = Field(default=300.0, ge=0, validation_alias="CASE_KEY_CACHE_SECONDS")
    # The shredding log (protection/shredlog.py): one line per data key shredded by an
    # erasure, kept outside the database so that a restore of an older backup shreds those
    # keys again (commands/backup.py). Unset: <data_dir>/keys/shredded-keys.log. With several
    # workers it must be one file they share (a mounted volume), backed up apart from the DB.
    shred_log: Path | None = Field(default=None, validation_alias="CASE_SHRED_LOG")
    # Pages allowed to call /codec/* with a session (the Temporal UI); default: the embedded UI.
    codec_origins: tuple[str, ...] | None = Field(
        default=None, validation_alias="CASE_CODEC_ORIGINS"
    )

    # E-mail (mail/): SMTP when CASE_SMTP_HOST is set, else .eml files in <data_dir>/mailbox.
    smtp_host: str | None = Field(default=None, validation_alias="CASE_SMTP_HOST")
    smtp_port: int | None = Field(default=None, ge=1, le=65535, validation_alias="CASE_SMTP_PORT")
    smtp_username: str | None = Field(default=None, validation_alias="CASE_SMTP_USERNAME")
    # Or CASE_SMTP_PASSWORD_FILE (SecretFiles).
    smtp_password: SecretStr | None = Field(default=None, validation_alias="CASE_SMTP_PASSWORD")
    # STARTTLS on the submission port by default; CASE_SMTP_TLS=true for implicit TLS (465).
    smtp_starttls: bool = Field(default=True, validation_alias="CASE_SMTP_STARTTLS")
    smtp_tls: bool = Field(default=False, validation_alias="CASE_SMTP_TLS")
    smtp_timeout_seconds: float = Field(default=30.0, gt=0, validation_alias="CASE_SMTP_TIMEOUT")
    mail_from: str = Field(default="ausreise-faelle@localhost", validation_alias="CASE_MAIL_FROM")
    mail_poll_seconds: float = Field(default=5.0, gt=0, validation_alias="CASE_MAIL_POLL_SECONDS")
    mail_max_attempts: int = Field(default=30, ge=1, validation_alias="CASE_MAIL_MAX_ATTEMPTS")
    # Notices by e-mail (issue 14; activities/notices.py, docs/benachrichtigungen.md): one mail
    # per reminder, overdue notice, supporter reported and new KI referral, to the assignee's
    # address or the team's, and a daily digest per recipient at CASE_NOTICE_DIGEST_HOUR
    # (Europe/Berlin). CASE_NOTICE_MAILS: both, single, digest or off.
    notice_mails: NoticeMode = Field(default=NoticeMode.BOTH, validation_alias="CASE_NOTICE_MAILS")
    # CASE_NOTICE_QUEUE_ADDRESSES='{"abh": "abh-team@kreis-unna.de", "ki": "ki@kreis-unna.de"}'
    notice_queue_addresses: dict[Queue, MailAddress] = Field(
        default_factory=dict, validation_alias="CASE_NOTICE_QUEUE_ADDRESSES"
    )
    # The address the staff open the pages at (the mails' links); default: this API.
    public_url: str | None = Field(
        default=None, pattern=r"^https?://[^\s/]+[^\s]*$", validation_alias="CASE_PUBLIC_URL"
    )
    notice_digest_hour: int = Field(
        default=7, ge=0, le=23, validation_alias="CASE_NOTICE_DIGEST_HOUR"
    )
    # Attachments on a case (service/attachments.py, docs/anlagen.md): the largest file taken,
    # in bytes (10 MiB). A larger upload is refused before its body is read; at most 100 MiB,
    # as each file is held in memory once while it is sealed.
    attachment_max_bytes: int = Field(
        default=DEFAULT_MAX_BYTES,
        ge=1024,
        le=100 * 1024 * 1024,
        validation_alias="CASE_ATTACHMENT_MAX_BYTES",
    )
    notice_interval: timedelta = Field(
        default=timedelta(minutes=5),
        ge=timedelta(minutes=1),
        validation_alias="CASE_NOTICE_INTERVAL",
    )

    @model_validator(mode="after")
    def _single_sign_on(self) -> Settings:
        if self.oidc_issuer is None:
            return self
        issuer = urlsplit(self.oidc_issuer)
        loopback = issuer.hostname in {"127.0.0.1", "localhost", "::1"}
        if not (issuer.scheme == "https" or (issuer.scheme == "http" and loopback)):
            raise ValueError("CASE_OIDC_ISSUER must be an https URL (http only on loopback)")
        if not self.oidc_client_id:
            raise ValueError("CASE_OIDC_ISSUER is set: CASE_OIDC_CLIENT_ID is needed too")
        if self.oidc_client_secret is not None and self.oidc_client_secret_file is not None:
            raise ValueError(
                "set CASE_OIDC_CLIENT_SECRET or CASE_OIDC_CLIENT_SECRET_FILE, not both"
            )
        return self

    def oidc_secret(self) -> str | None:
        """The client secret: inline, or the file's first line; None for a public client."""
        if self.oidc_client_secret is not None:
            return self.oidc_client_secret.get_secret_value()
        if self.oidc_client_secret_file is not None:
            lines = self.oidc_client_secret_file.read_text("utf-8").splitlines()
            return lines[0].strip() if lines else ""
        return None

    @property
    def mailbox_dir(self) -> Path:
        """Where the embedded default delivers mail when no SMTP host is set."""
        return self.data_dir / "mailbox"

    @property
    def smtp_port_or_default(self) -> int:
        if self.smtp_port is not None:
            return self.smtp_port
        return 465 if self.smtp_tls else 587 if self.smtp_starttls else 25

    def site_url(self) -> str:
        """Where people and systems reach the service: CASE_PUBLIC_URL, else this API."""
        return self.public_url or f"http://{self.api_host}:{self.api_port}"

    def notice_delivery(self) -> NoticeDelivery:
        """How notices are mailed: the CASE_NOTICE_* variables and CASE_PUBLIC_URL."""
        return NoticeDelivery(
            mode=self.notice_mails,
            queue_addresses=self.notice_queue_addresses,
            public_url=self.site_url(),
            digest_hour=self.notice_digest_hour,
            interval=self.notice_interval,
        )

    def timings(self) -> ProcessTimings:
        return TimingSettings().timings()

    def arrival_timings(self) -> ArrivalTimings:
        return ArrivalTimingSettings().timings()

    def retention_rules(self) -> RetentionRules:
        """How long closed cases are kept: ``CASE_RETENTION_RULES_FILE`` or the defaults."""
        if self.retention_rules_file is None:
            return default_retention_rules()
        rules = TypeAdapter(tuple[RetentionRule, ...]).validate_json(
            self.retention_rules_file.read_bytes()
        )
        return RetentionRules(rules=rules)

    def residence_routes(self) -> ResidenceRoutes:
        """The Bleiberechtsregelungen as dated versions: the file or the shipped data."""
        return load_residence_routes(self.residence_routes_file)

    @property
    def default_master_key_file(self) -> Path:
        return self.data_dir / "keys" / "master-keys.json"

    @property
    def shred_log_file(self) -> Path:
        return self.shred_log or self.data_dir / "keys" / "shredded-keys.log"

    def allowed_codec_origins(self) -> tuple[str, ...]:
        if self.codec_origins is not None:
            return self.codec_origins
        port = self.temporal_ui_port
        return (f"http://127.0.0.1:{port}", f"http://localhost:{port}")

    def time_rules(self) -> tuple[TimeRule, ...]:
        """Enforcement time rules: a JSON list from ``CASE_TIME_RULES_FILE``, or the defaults."""
        if self.time_rules_file is None:
            return default_time_rules()
        return TypeAdapter(tuple[TimeRule, ...]).validate_json(self.time_rules_file.read_bytes())
