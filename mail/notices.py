"""The texts of the notice mails (issue 14, point 5): German, and nothing about the person.

A mail names what the inbox's list names of a task, and no more: the case reference (or the
arrival's reference), the task kind in German, its due date, and a link to the page behind
the login, where the staff see the rest. No name, date of birth, address, nationality,
language, status or free text of a case can appear: the functions here receive the rows of
``store.notices``, which hold none (``tests/test_notices.py`` searches the mails for a
canary person all the same).

Pure functions from rows to :class:`schemas.mail.MailRequest`; the activity
(``activities/notices.py``) queues them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from urllib.parse import quote

from schemas.local_time import BERLIN
from schemas.mail import MailRequest
from schemas.notices import DigestTaskRow, NoticeDelivery, PendingNoticeRow
from schemas.records import NoticeKind
from schemas.tasks import TASK_KIND_LABELS, Queue

QUEUE_NAMES = {Queue.ABH.value: "ABH", Queue.KI.value: "KI"}
SIGNATURE = (
    "Diese Nachricht nennt keine personenbezogenen Daten; die Angaben zum Fall sehen Sie nach "
    "der Anmeldung.\n\n-- \nAusreise-Fallsteuerung Kreis Unna (automatische Nachricht, bitte "
    "nicht antworten)"
)


@dataclass(frozen=True)
class Recipient:
    """Whom a mail goes to: an account's address, or a team's. ``key`` names it in the
    digest's idempotency key (an account id or a queue, never the address)."""

    address: str
    key: str
    team: str | None = None  # the queue, when the team's address is used

    def __repr__(self) -> str:  # the address stays out of logs and tracebacks
        return f"Recipient({self.key})"


def task_kind(kind: str | None) -> str:
    """The German name of a task kind; an unknown one as it is, so nothing disappears."""
    if kind is None:
        return "Aufgabe"
    return TASK_KIND_LABELS.get(kind, kind)


def reference(case_id: str | None, arrival_reference: str | None) -> str:
    if case_id is not None:
        return f"Fall {case_id}"
    return f"Neuzugang {arrival_reference or 'ohne Aktenzeichen'}"


def when(at: datetime) -> str:
    local = at.astimezone(BERLIN)
    return f"{local:%d.%m.%Y}, {local:%H:%M} Uhr"


def day(on: date) -> str:
    return f"{on:%d.%m.%Y}"


class Links:
    """The pages a mail links, under the configured public address."""

    def __init__(self, public_url: str) -> None:
        self._base = public_url.rstrip("/")

    def task(self, task_id: str) -> str:
        return f"{self._base}/aufgaben/{quote(task_id, safe='')}"

    def case(self, case_id: str) -> str:
        return f"{self._base}/faelle/{quote(case_id, safe='')}"

    def inbox(self, team: bool) -> str:
        return f"{self._base}/posteingang?ansicht={'gruppe' if team else 'meine'}"

    def of(self, notice: PendingNoticeRow) -> str:
        if notice.task_id is not None:
            return self.task(notice.task_id)
        if notice.case_id is not None:
            return self.case(notice.case_id)
        return f"{self._base}/posteingang"


def _why(recipient: Recipient) -> str:
    if recipient.team is not None:
        name = QUEUE_NAMES.get(recipient.team, recipient.team)
        return f"Sie erhalten diese Nachricht an die Adresse des Teams {name}."
    return "Sie erhalten diese Nachricht, weil Ihnen die Aufgabe zugewiesen ist."


def headline(notice: PendingNoticeRow) -> tuple[str, str]:
    """A notice's subject and its first sentence."""
    kind = task_kind(notice.task_kind)
    ref = reference(notice.case_id, notice.arrival_reference)
    due = when(notice.due_at) if notice.due_at is not None else None
    if notice.kind == NoticeKind.REMINDER:
        return (
            f"Erinnerung: {kind} – {ref}",
            f"Die Aufgabe „{kind}“ im {ref} ist bald fällig" + (f": am {due}." if due else "."),
        )
    if notice.kind == NoticeKind.OVERDUE:
        return (
            f"Überfällig: {kind} – {ref}",
            f"Die Aufgabe „{kind}“ im {ref} ist überfällig"
            + (f" (fällig war sie am {due})." if due else "."),
        )
    if notice.kind == NoticeKind.KI_REFERRAL:
        return (
            f"Neue Vermittlung an das KI – {ref}",
            f"Dem KI ist ein Fall zur Vermittlung übermittelt worden ({ref}). Neue Aufgabe: "
            f"„{kind}“" + (f", fällig am {due}." if due else "."),
        )
    if notice.kind == NoticeKind.SUPPORTER_REPORTED:
        return (
            f"Unterstützer*in gemeldet – {ref}",
            f"Im {ref} ist eine Unterstützer*in gemeldet worden. Bitte die Angaben im Fall "
            "ansehen.",
        )
    return f"Hinweis – {ref}", f"Ein Hinweis zum {ref}."


def notice_mail(notice: PendingNoticeRow, recipient: Recipient, links: Links) -> MailRequest:
    """One notice as a mail of its own, queued once (``notice:<key>``)."""
    subject, sentence = headline(notice)
    body = (
        f"Guten Tag,\n\n{sentence}\n\nZur Seite (Anmeldung erforderlich):\n{links.of(notice)}"
        f"\n\n{_why(recipient)}\n{SIGNATURE}\n"
    )
    return MailRequest(
        idempotency_key=notice_key(notice.key),
        case_id=notice.case_id,
        arrival_id=None if notice.arrival_id is None else str(notice.arrival_id),
        recipient=recipient.address,
        subject=subject,
        body=body,
    )


def notice_key(key: str) -> str:
    return f"notice:{key}"


def digest_key(on: date, recipient: Recipient) -> str:
    return f"digest:{on.isoformat()}:{recipient.key}"


def _task_line(task: DigestTaskRow, links: Links) -> str:
    state = "überfällig seit" if task.overdue else "fällig am"
    return (
        f"- {task_kind(task.kind)}, {reference(task.case_id, task.arrival_reference)}: "
        f"{state} {when(task.due_at)}\n  {links.task(task.task_id)}"
    )


def digest_mail(
    recipient: Recipient,
    tasks: list[DigestTaskRow],
    notices: list[PendingNoticeRow],
    *,
    at: datetime,
    delivery: NoticeDelivery,
) -> MailRequest:
    """The day's overview for one recipient: counts of the open and the overdue tasks, the
    first ``digest_limit`` of them with their links, and (digest-only mode) the notices
    since the last digest."""
    links = Links(delivery.public_url)
    on = at.astimezone(BERLIN).date()
    overdue = sum(task.overdue for task in tasks)
    if recipient.team is not None:
        name = QUEUE_NAMES.get(recipient.team, recipient.team)
        whose = (
            f"Offene Aufgaben des Teams {name}, die niemandem mit E-Mail-Adresse zugewiesen sind"
        )
    else:
        whose = "Ihre offenen Aufgaben"
    lines = [
        "Guten Tag,",
        "",
        f"{whose}, Stand {when(at)}:",
        "",
        f"  offen: {len(tasks)}",
        f"  davon überfällig: {overdue}",
    ]
    shown = tasks[: delivery.digest_limit]
    if shown:
        lines += ["", *(_task_line(task, links) for task in shown)]
    if len(tasks) > len(shown):
        lines += ["", f"… und {len(tasks) - len(shown)} weitere im Posteingang."]
    if notices:
        lines += ["", "Hinweise seit der letzten Übersicht:"]
        for notice in notices:
            subject, _ = headline(notice)
            lines.append(f"- {subject}\n  {links.of(notice)}")
    lines += [
        "",
        f"Zum Posteingang (Anmeldung erforderlich):\n{links.inbox(recipient.team is not None)}",
        "",
        SIGNATURE,
        "",
    ]
    return MailRequest(
        idempotency_key=digest_key(on, recipient),
        recipient=recipient.address,
        subject=f"Tagesübersicht {day(on)}: {len(tasks)} offen, davon {overdue} überfällig",
        body="\n".join(lines),
    )
