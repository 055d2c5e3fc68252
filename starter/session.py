"""The CLI's saved login: ``python -m starter login`` once, then commands that need a person.

A person's session is a secret as good as their password for as long as it lives (30 minutes
idle, 10 hours at most), so it is kept in a file only its owner can read (mode 0600, written
without a moment of wider permissions), bound to the API it came from: a session for one
server is never sent to another. ``logout`` ends it on the server and deletes the file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def default_path() -> Path:
    """``$CASE_CLI_SESSION_FILE``, else ``$XDG_CONFIG_HOME`` or ``~/.config``."""
    explicit = os.environ.get("CASE_CLI_SESSION_FILE")
    if explicit:
        return Path(explicit)
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "ausreise-faelle" / "sitzung.json"


def _same_api(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


def load(path: Path, api: str) -> str | None:
    """The saved session token for ``api``, or None (none saved, another API, unreadable)."""
    try:
        data = json.loads(path.read_text())
        saved_api, token = str(data["api"]), str(data["token"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return token if _same_api(saved_api, api) else None


def save(path: Path, api: str, token: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(path.name + ".neu")
    temporary.unlink(missing_ok=True)
    # O_EXCL with mode 0600: the file never exists with wider permissions, not even briefly.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump({"api": api.rstrip("/"), "token": token}, file)
    temporary.replace(path)


def forget(path: Path) -> None:
    path.unlink(missing_ok=True)
