"""The shredding log: which data keys erasure destroyed, kept outside the database.

A backup of the database taken before an erasure still holds the erased case's wrapped key; a
restore of it would make the case readable again. So every shred is also written here, one
line per key id (``<key id> <UTC time>``: random ids and a time, no personal data), and a
restore shreds every key named here again before the service starts (``commands/backup.py``).

The line is written inside the erasure's transaction, before it commits, and is on disk
(fsync) when the erasure returns: a crash between the two leaves a line for a key that was not
shredded yet, which a later restore shreds (the erasure had been decided); the reverse, a
shredded key without its line, cannot happen. Lines are only ever appended (``O_APPEND``, one
``write`` each), so processes sharing the file do not interleave within a line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

_KEY_ID = re.compile(r"^k-[0-9a-f]{24}$")


class ShredLogError(RuntimeError):
    """The shredding log cannot be written, or holds a line that is not ours."""


def append(path: Path, key_ids: Sequence[str], at: datetime) -> None:
    """Append one line per key id and fsync; the folder is created (and synced) if new."""
    if not key_ids:
        return
    for key_id in key_ids:
        if not _KEY_ID.match(key_id):
            raise ShredLogError(f"not a data key id: {key_id!r}")
    stamp = at.astimezone(UTC).isoformat(timespec="seconds")
    lines = "".join(f"{key_id} {stamp}\n" for key_id in key_ids).encode()
    new = not path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, lines)
        os.fsync(fd)
    finally:
        os.close(fd)
    if new:  # the file's name in its folder must survive a power cut too
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def read(path: Path) -> list[str]:
    """The key ids in the log, in order, each once; a missing file is an empty log.

    A last line without its newline (a write cut off by a crash) is taken if it holds a
    whole key id and skipped if not (that erasure had not returned); any other line that is
    not ours is refused rather than skipped.
    """
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        return []
    seen: dict[str, None] = {}
    lines = text.splitlines()
    torn = bool(text) and not text.endswith("\n")
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        key_id = line.split()[0]
        if not _KEY_ID.match(key_id):
            if torn and number == len(lines):
                break
            raise ShredLogError(f"{path}:{number}: not a line of the shredding log")
        seen.setdefault(key_id)
    return list(seen)
