#!/usr/bin/env python3
"""The one entry point for people and CI: ``python3 manage.py run|test|check``.

It needs nothing but the standard library, so a fresh clone works with a bare ``python3``. Each
command first makes sure ``.venv`` exists and holds the project as described by the current
``pyproject.toml``; it reinstalls only when that file changed (a sha256 stamp inside ``.venv``),
so the usual start costs no network round trip.
"""

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

# Checked before anything else runs. The file avoids newer syntax (annotations that need
# evaluation are quoted) so that Python 3.6 and later parse it and print this message.
MIN_PYTHON = (3, 11)
if sys.version_info < MIN_PYTHON:
    sys.exit(
        "manage.py needs Python {}.{} or newer; this is {}.{} ({}).".format(
            *MIN_PYTHON, *sys.version_info[:2], sys.executable
        )
    )

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
VENV_BIN = VENV / "bin"
VENV_PYTHON = VENV_BIN / "python"
PYPROJECT = ROOT / "pyproject.toml"
STAMP = VENV / ".pyproject.sha256"

USAGE = """usage: python3 manage.py COMMAND [ARGS...]

commands:
  run            start the service (embedded PostgreSQL and Temporal unless configured)
  test [ARGS]    run pytest; ARGS are passed through
  check          run the linters and the type checker (scripts/check)
"""


def _pyproject_digest() -> str:
    return hashlib.sha256(PYPROJECT.read_bytes()).hexdigest()


def _venv_works() -> bool:
    """A venv whose interpreter moved or vanished is useless: detect it, don't fail later."""
    if not VENV_PYTHON.exists():
        return False
    probe = subprocess.run(
        [str(VENV_PYTHON), "-c", "import sys; sys.exit(sys.version_info < (3, 11))"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    return probe.returncode == 0


def _pip(*args: str) -> None:
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1")
    subprocess.run(
        [str(VENV_PYTHON), "-m", "pip", "--quiet", *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        check=True,
    )


def ensure_venv() -> None:
    """Create ``.venv`` if needed and install the project when ``pyproject.toml`` changed."""
    if not _venv_works():
        print(f"manage.py: creating {VENV} with {sys.executable}", file=sys.stderr)
        venv.EnvBuilder(clear=True, with_pip=True).create(VENV)
    digest = _pyproject_digest()
    if STAMP.exists() and STAMP.read_text().strip() == digest:
        return
    print("manage.py: installing the project into .venv (pyproject.toml changed)", file=sys.stderr)
    try:
        _pip("install", "--upgrade", "pip")
        _pip("install", "--editable", ".[dev]")
    except subprocess.CalledProcessError as err:
        sys.exit(f"manage.py: pip failed (exit {err.returncode}); see its output above")
    STAMP.write_text(digest + "\n")


def _exec(argv: "list[str]") -> None:
    """Replace this process, so signals and the exit code belong to the real program."""
    env = dict(os.environ)
    env["VIRTUAL_ENV"] = str(VENV)
    env["PATH"] = os.pathsep.join([str(VENV_BIN), env.get("PATH", "")])
    os.chdir(ROOT)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(argv[0], argv, env)


def compile_workflows() -> None:
    """Write bytecode for ``workflows/``, even where PYTHONDONTWRITEBYTECODE is set.

    The Temporal sandbox imports the workflow modules afresh for every workflow run; without
    bytecode each run compiles them from source, which costs measurably (bench/lifecycle.py).
    """
    subprocess.run(
        [str(VENV_PYTHON), "-m", "compileall", "-q", str(ROOT / "workflows")],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def main(argv: "list[str]") -> None:
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(USAGE, end="")
        sys.exit(0 if argv else 2)
    command, rest = argv[0], argv[1:]
    if command not in {"run", "test", "check"}:
        sys.exit(f"manage.py: unknown command {command!r}\n\n{USAGE}")
    ensure_venv()
    if command in {"run", "test"}:
        compile_workflows()
    if command == "run":
        _exec([str(VENV_PYTHON), "-m", "service.main", *rest])
    elif command == "test":
        _exec([str(VENV_PYTHON), "-m", "pytest", *rest])
    else:
        _exec(["/usr/bin/env", "bash", str(ROOT / "scripts" / "check"), *rest])


if __name__ == "__main__":
    main(sys.argv[1:])
