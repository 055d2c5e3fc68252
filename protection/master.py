"""Master keys: the keys that wrap every case's data key. They never enter the database.

The key ring is JSON, ``{"current": "m-…", "keys": {"m-…": "<base64 of 32 bytes>", …}}``:
``current`` wraps new data keys; every key listed can unwrap. It comes from
``CASE_MASTER_KEYS`` (the JSON itself, for deployments with a secret store) or from the file
``CASE_MASTER_KEY_FILE``; the embedded default is ``<CASE_DATA_DIR>/keys/master-keys.json``,
generated on first start (mode 0600) and announced in the log, never in the repository.

Rotation without downtime (``python -m commands.keys rotate-master``): a new key is added
and made current in the file, then every data key is rewrapped. A process that meets a data
key wrapped by a master key it does not know reloads its source once, so running workers pick
the new key up by themselves; the old key can be retired when no data key uses it any more.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

KEY_BYTES = 32


class MasterKeyError(Exception):
    """The key ring is missing, malformed, or lacks a key that is needed."""


def new_key_id() -> str:
    return "m-" + secrets.token_hex(6)


@dataclass(frozen=True)
class KeyRingData:
    current: str
    keys: dict[str, bytes] = field(repr=False)

    def to_json(self) -> str:
        encoded = {key_id: base64.b64encode(key).decode() for key_id, key in self.keys.items()}
        return json.dumps({"current": self.current, "keys": encoded}, indent=2) + "\n"

    @classmethod
    def parse(cls, text: str, origin: str) -> KeyRingData:
        try:
            raw = json.loads(text)
            keys = {str(k): base64.b64decode(v, validate=True) for k, v in raw["keys"].items()}
            current = str(raw["current"])
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise MasterKeyError(f"{origin}: not a master key ring ({error})") from None
        if current not in keys:
            raise MasterKeyError(f"{origin}: the current key {current!r} is not in the ring")
        if any(len(key) != KEY_BYTES for key in keys.values()):
            raise MasterKeyError(f"{origin}: every master key must be {KEY_BYTES} bytes")
        return cls(current, keys)

    @classmethod
    def generate(cls) -> KeyRingData:
        key_id = new_key_id()
        return cls(key_id, {key_id: secrets.token_bytes(KEY_BYTES)})


def write_ring_file(path: Path, ring: KeyRingData) -> None:
    """Replace the file atomically; it never exists with permissions wider than 0600."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(path.name + ".neu")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(ring.to_json())
        file.flush()
        os.fsync(file.fileno())
    temporary.replace(path)


class MasterKeys:
    """The key ring of this process, reloadable from where it came from."""

    def __init__(self, *, text: str | None = None, path: Path | None = None) -> None:
        if (text is None) == (path is None):
            raise ValueError("give the key ring as text or as a file, not both")
        self._text = text
        self.path = path
        self._ring = self._read()

    @classmethod
    def from_settings(
        cls, inline: str | None, path: Path | None, default_path: Path
    ) -> tuple[MasterKeys, bool]:
        """The configured ring; generates the default file when nothing is configured.

        Returns the ring and whether a new file was generated (the caller says so in the log).
        """
        if inline:
            return cls(text=inline), False
        if path is not None:
            return cls(path=path), False
        created = False
        if not default_path.exists():
            write_ring_file(default_path, KeyRingData.generate())
            created = True
        return cls(path=default_path), created

    def _read(self) -> KeyRingData:
        if self._text is not None:
            return KeyRingData.parse(self._text, "CASE_MASTER_KEYS")
        assert self.path is not None
        try:
            text = self.path.read_text()
        except OSError as error:
            raise MasterKeyError(f"{self.path}: cannot be read ({error.strerror})") from None
        return KeyRingData.parse(text, str(self.path))

    @property
    def current_id(self) -> str:
        return self._ring.current

    @property
    def current(self) -> bytes:
        return self._ring.keys[self._ring.current]

    def ids(self) -> list[str]:
        return list(self._ring.keys)

    def get(self, key_id: str) -> bytes:
        """The master key ``key_id``; reloads the source once when it is not known yet."""
        key = self._ring.keys.get(key_id)
        if key is None:
            self.reload()
            key = self._ring.keys.get(key_id)
        if key is None:
            raise MasterKeyError(f"master key {key_id!r} is not in the key ring")
        return key

    def reload(self) -> None:
        self._ring = self._read()

    # ------------------------------------------------------------- rotation (file only)

    def add_current(self) -> str:
        """A new master key, made current in the file; the old ones stay for unwrapping."""
        if self.path is None:
            raise MasterKeyError(
                "CASE_MASTER_KEYS comes from the environment: add the new key there (see README)"
            )
        ring = self._read()
        key_id = new_key_id()
        write_ring_file(
            self.path, KeyRingData(key_id, {**ring.keys, key_id: secrets.token_bytes(KEY_BYTES)})
        )
        self.reload()
        return key_id

    def retire(self, key_id: str) -> None:
        if self.path is None:
            raise MasterKeyError("CASE_MASTER_KEYS comes from the environment: remove it there")
        ring = self._read()
        if key_id == ring.current:
            raise MasterKeyError(f"{key_id} is the current master key; rotate first")
        if key_id not in ring.keys:
            raise MasterKeyError(f"master key {key_id!r} is not in the key ring")
        keys = {k: v for k, v in ring.keys.items() if k != key_id}
        write_ring_file(self.path, KeyRingData(ring.current, keys))
        self.reload()
