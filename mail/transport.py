"""How a mail leaves: one interface, two implementations.

``SmtpTransport`` speaks SMTP with the standard library's ``smtplib`` in a worker thread: no
extra runtime dependency for a path that sends a handful of mails a minute, and the thread
keeps the event loop (and with it the Temporal worker) free while a slow server answers.
``MailboxTransport`` is the embedded default: each mail becomes an ``.eml`` file in a folder.

Transports raise :class:`TemporaryFailure` (try again later) or :class:`PermanentFailure`
(this mail will never go out). Their ``reason`` is an error class and an SMTP code, never the
server's text, which commonly repeats the recipient's address.
"""

from __future__ import annotations

import asyncio
import os
import re
import smtplib
import ssl
import tempfile
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from pydantic import SecretStr

from config.settings import Settings


class DeliveryFailure(Exception):
    """A mail was not sent. ``reason`` is safe to store and log (no personal data)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TemporaryFailure(DeliveryFailure):
    """Server unreachable, 4xx, or a configuration problem the operator can fix: retry."""


class PermanentFailure(DeliveryFailure):
    """The server refused this mail for good (5xx): retrying would not help."""


class Transport(Protocol):
    """Sends one message. Must be safe to call again for the same message (a retry)."""

    async def send(self, message: EmailMessage) -> None: ...


def _classify(code: int, what: str) -> DeliveryFailure:
    reason = f"{what} {code}"
    return PermanentFailure(reason) if 500 <= code < 600 else TemporaryFailure(reason)


class SmtpTransport:
    """SMTP submission with implicit TLS (``tls``), STARTTLS, or plain (loopback relays).

    Connection errors, timeouts and 4xx replies are temporary; 5xx replies to this mail are
    permanent. A refused login or a missing STARTTLS is temporary although it is a 5xx: it is
    the configuration, not the mail, and every mail would otherwise be marked failed.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        username: str | None = None,
        password: SecretStr | None = None,
        starttls: bool = True,
        tls: bool = False,
        timeout: float = 30.0,
        context: ssl.SSLContext | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self._username = username
        self._password = password
        self._starttls = starttls and not tls
        self._tls = tls
        self._timeout = timeout
        self._context = context

    async def send(self, message: EmailMessage) -> None:
        await asyncio.to_thread(self._send, message)

    def _connect(self) -> smtplib.SMTP:
        context = self._context or ssl.create_default_context()
        if self._tls:
            return smtplib.SMTP_SSL(self._host, self._port, timeout=self._timeout, context=context)
        smtp = smtplib.SMTP(self._host, self._port, timeout=self._timeout)
        if self._starttls:
            smtp.starttls(context=context)
        return smtp

    def _send(self, message: EmailMessage) -> None:
        try:
            smtp = self._connect()
        except smtplib.SMTPConnectError as err:
            raise TemporaryFailure(f"SMTPConnectError {err.smtp_code}") from None
        except smtplib.SMTPNotSupportedError:
            raise TemporaryFailure("SMTPNotSupportedError (no STARTTLS)") from None
        except smtplib.SMTPResponseException as err:
            raise TemporaryFailure(f"{type(err).__name__} {err.smtp_code}") from None
        except (OSError, smtplib.SMTPException) as err:
            raise TemporaryFailure(type(err).__name__) from None
        try:
            try:
                if self._username is not None:
                    password = self._password.get_secret_value() if self._password else ""
                    smtp.login(self._username, password)
                smtp.send_message(message)
            except smtplib.SMTPAuthenticationError as err:
                raise TemporaryFailure(f"SMTPAuthenticationError {err.smtp_code}") from None
            except smtplib.SMTPRecipientsRefused as err:
                codes = [code for code, _ in err.recipients.values()]
                raise _classify(max(codes, default=550), "SMTPRecipientsRefused") from None
            except smtplib.SMTPResponseException as err:
                raise _classify(err.smtp_code, type(err).__name__) from None
            except (OSError, smtplib.SMTPException) as err:
                raise TemporaryFailure(type(err).__name__) from None
        finally:
            # The mail is accepted or not by now; a failing QUIT must not turn an accepted
            # mail into a retry (and a duplicate).
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class MailboxTransport:
    """The embedded default: every mail an ``.eml`` file in ``folder`` (readable by any mail
    client). The file is named after the Message-ID, so a retried send rewrites the same file
    instead of adding a second one; it is written to a temporary name and renamed, so a
    reader never sees half a mail. Files and folder are private to the service's user."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def send(self, message: EmailMessage) -> None:
        try:
            await asyncio.to_thread(self._write, message)
        except OSError as err:  # disk full, permissions: the operator can fix it, retry
            raise TemporaryFailure(type(err).__name__) from None

    def path_for(self, message: EmailMessage) -> Path:
        message_id = str(message["Message-ID"] or "").strip("<>")
        name = _UNSAFE.sub("_", message_id.split("@", 1)[0]) or "mail"
        return self.folder / f"{name}.eml"

    def _write(self, message: EmailMessage) -> None:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        target = self.path_for(message)
        fd, temporary = tempfile.mkstemp(dir=self.folder, prefix=".", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(message.as_bytes())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def transport_from_settings(settings: Settings) -> SmtpTransport | MailboxTransport:
    """SMTP when ``CASE_SMTP_HOST`` is set, else the mailbox folder under the data dir."""
    if settings.smtp_host is None:
        return MailboxTransport(settings.mailbox_dir)
    return SmtpTransport(
        settings.smtp_host,
        settings.smtp_port_or_default,
        username=settings.smtp_username,
        password=settings.smtp_password,
        starttls=settings.smtp_starttls,
        tls=settings.smtp_tls,
        timeout=settings.smtp_timeout_seconds,
    )
