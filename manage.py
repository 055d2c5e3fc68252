#!/usr/bin/env python3
"""The one entry point for people and CI: ``python3 manage.py run|test|check``.

It needs nothing but the standard library, so a fresh clone works with a bare ``python3``. Each
command first makes sure ``.venv`` exists and holds exactly ``requirements-dev.lock`` (every
file checked against its sha256: ``pip install --require-hashes``; what the lock no longer
names is removed) and the project itself on top (``--no-deps``). It reinstalls only when the
lock or ``pyproject.toml`` changed (sha256 stamps inside ``.venv``), so the usual start costs no
network round trip. ``scripts/lock`` regenerates the locks (docs/deployment.md).
"""

import hashlib
import json
import os
import re
import shutil
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
# Runtime, the embedded servers and the tools (the image installs requirements.lock instead).
LOCK = ROOT / "requirements-dev.lock"
LOCK_STAMP = VENV / ".lock.sha256"
PROJECT = "kreis-unna-ausreise"
# What the venv itself brings and the lock does not pin.
_KEEP = {"pip", PROJECT}

# The browser tests (tests/test_browser.py) drive Debian's Chromium and inject axe-core, a
# pinned release from the npm registry; the single sign-on tests (tests/test_sso.py) run a
# real OpenID provider, oidc-provider (pinned too), with the machine's Node.js. All are
# fetched here, once, by the test command.
CHROMIUM = Path("/usr/bin/chromium")
AXE_CORE = "axe-core@4.14.1"
OIDC_PROVIDER = "oidc-provider@9.13.3"
# The OpenAPI document is linted by Redocly's CLI (tests/test_contract.py), pinned as well.
REDOCLY = "@redocly/cli@2.77.0"
NPM_DIR = ROOT / ".data" / "npm"
AXE_JS = NPM_DIR / "node_modules" / "axe-core" / "axe.min.js"
OIDC_PROVIDER_JS = NPM_DIR / "node_modules" / "oidc-provider" / "lib" / "index.js"
REDOCLY_BIN = NPM_DIR / "node_modules" / ".bin" / "redocly"
# The monitoring tests (tests/test_monitoring.py) run a real Prometheus and promtool: Debian's
# package, downloaded with apt-get and unpacked here (dpkg -x), so neither root nor an
# installation is needed and nothing of it lands on the system.
PROMETHEUS_DIR = ROOT / ".data" / "prometheus"
PROMETHEUS = PROMETHEUS_DIR / "usr" / "bin" / "prometheus"

USAGE = """usage: python3 manage.py COMMAND [ARGS...]

commands:
  run            start the service (embedded PostgreSQL and Temporal unless configured)
  test [ARGS]    run pytest; ARGS are passed through
  check          run the linters and the type checker (scripts/check)
"""


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _locked_names() -> "set[str]":
    """The distributions ``requirements-dev.lock`` pins (``name==version`` lines)."""
    pins = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", LOCK.read_text(), flags=re.MULTILINE)
    return {_normalize(name) for name in pins}


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


def _pip(*args: str, quiet: bool = True) -> "subprocess.CompletedProcess[str]":
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1")
    return subprocess.run(
        [str(VENV_PYTHON), "-m", "pip", *(["--quiet"] if quiet else []), *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=None if quiet else subprocess.PIPE,
        text=True,
        check=True,
    )


def _sync_lock() -> None:
    """Install the lock (hashes required: a changed or unpinned file is refused), then
    remove what it does not name, so the venv is the lock and not a pile of old installs."""
    _pip("install", "--require-hashes", "--requirement", str(LOCK))
    listed = _pip("list", "--format=json", quiet=False).stdout
    installed = {_normalize(dist["name"]) for dist in json.loads(listed)}
    extra = sorted(installed - _locked_names() - _KEEP)
    if extra:
        _pip("uninstall", "--yes", *extra)


def ensure_venv() -> None:
    """Create ``.venv`` if needed; install the lock when it changed and the project (without
    its dependencies: the lock has them) when ``pyproject.toml`` or the lock changed."""
    if not _venv_works():
        print(f"manage.py: creating {VENV} with {sys.executable}", file=sys.stderr)
        venv.EnvBuilder(clear=True, with_pip=True).create(VENV)
    lock = _digest(LOCK)
    project = _digest(PYPROJECT)
    locked = LOCK_STAMP.exists() and LOCK_STAMP.read_text().strip() == lock
    if locked and STAMP.exists() and STAMP.read_text().strip() == project:
        return
    try:
        if not locked:
            print(f"manage.py: installing {LOCK.name} into .venv", file=sys.stderr)
            STAMP.unlink(missing_ok=True)
            _sync_lock()
            LOCK_STAMP.write_text(lock + "\n")
        print("manage.py: installing the project into .venv", file=sys.stderr)
        # The build backend (setuptools) comes from the lock too: no unpinned download.
        _pip("install", "--no-deps", "--no-build-isolation", "--editable", ".")
        # Every dependency pyproject.toml declares is met by what the lock installed.
        _pip("check")
    except subprocess.CalledProcessError as err:
        sys.exit(f"manage.py: pip failed (exit {err.returncode}); see its output above")
    STAMP.write_text(project + "\n")


def _run_quietly(argv: "list[str]", env: "dict[str, str] | None" = None) -> bool:
    result = subprocess.run(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        check=False,
    )
    if result.returncode != 0:
        print(result.stdout[-3000:], file=sys.stderr)
    return result.returncode == 0


def _install_chromium() -> None:
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        print(
            f"manage.py: {CHROMIUM} is missing and cannot be installed from here (needs root and"
            " apt-get); the browser tests will fail: install Debian's 'chromium' package.",
            file=sys.stderr,
        )
        return
    print("manage.py: installing Debian's chromium for the browser tests", file=sys.stderr)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    packages = ["chromium", "fonts-dejavu-core"]
    install = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    # A fresh machine may have empty package lists: refresh them only when the install needs it.
    if not _run_quietly(install, env) and not (
        _run_quietly(["apt-get", "update"], env) and _run_quietly(install, env)
    ):
        print("manage.py: apt-get could not install chromium (output above)", file=sys.stderr)


def ensure_browser_tools() -> None:
    """Debian's Chromium, axe-core and oidc-provider for the browser and single sign-on
    tests; each fetched only when missing."""
    if not CHROMIUM.exists():
        _install_chromium()
    if AXE_JS.exists() and OIDC_PROVIDER_JS.exists() and REDOCLY_BIN.exists():
        return
    if shutil.which("npm") is None:
        print(
            "manage.py: npm is missing; the accessibility, single sign-on and contract tests"
            " will fail",
            file=sys.stderr,
        )
        return
    # All in one install: npm removes what a --no-save install of another package left.
    packages = [AXE_CORE, OIDC_PROVIDER, REDOCLY]
    print(f"manage.py: installing {' '.join(packages)} from the npm registry", file=sys.stderr)
    NPM_DIR.mkdir(parents=True, exist_ok=True)
    npm = ["npm", "install", "--prefix", str(NPM_DIR), "--no-save", "--no-audit", "--no-fund"]
    if not _run_quietly([*npm, *packages]):
        print(f"manage.py: npm could not install {packages} (output above)", file=sys.stderr)


def ensure_prometheus() -> None:
    """Debian's prometheus package unpacked into .data/prometheus, once."""
    if PROMETHEUS.exists():
        return
    if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
        print(
            "manage.py: apt-get or dpkg is missing; the monitoring tests will fail: put Debian's"
            f" prometheus package's files under {PROMETHEUS_DIR}",
            file=sys.stderr,
        )
        return
    print("manage.py: fetching Debian's prometheus for the monitoring tests", file=sys.stderr)
    download = PROMETHEUS_DIR.with_name("prometheus-download")
    shutil.rmtree(download, ignore_errors=True)
    download.mkdir(parents=True)
    fetch = ["apt-get", "download", "prometheus"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    fetched = subprocess.run(fetch, cwd=download, stdin=subprocess.DEVNULL, capture_output=True)
    if fetched.returncode != 0 and os.geteuid() == 0:
        # A fresh machine may have empty package lists.
        _run_quietly(["apt-get", "update"], env)
        fetched = subprocess.run(fetch, cwd=download, stdin=subprocess.DEVNULL, capture_output=True)
    debs = sorted(download.glob("prometheus_*.deb"))
    if fetched.returncode != 0 or not debs:
        print(fetched.stderr.decode(errors="replace")[-2000:], file=sys.stderr)
        print("manage.py: apt-get could not download prometheus (output above)", file=sys.stderr)
        return
    if _run_quietly(["dpkg", "-x", str(debs[-1]), str(PROMETHEUS_DIR)]):
        shutil.rmtree(download, ignore_errors=True)
    else:
        print("manage.py: dpkg could not unpack prometheus (output above)", file=sys.stderr)


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


def _parallel(args: "list[str]") -> "list[str]":
    """One pytest process per core (pytest-xdist; tests/conftest.py gives each worker its own
    servers): the suite spends most of its time waiting on servers and timers, so two
    processes on two cores take about half the time. ``-n 0`` (or any ``-n``) overrides."""
    if any(arg == "-n" or arg.startswith(("-n", "--numprocesses")) for arg in args):
        return args
    return ["-n", "auto", *args]


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
        _exec([str(VENV_PYTHON), "-m", "runtime.main", *rest])
    elif command == "test":
        ensure_browser_tools()
        ensure_prometheus()
        _exec([str(VENV_PYTHON), "-m", "pytest", *_parallel(rest)])
    else:
        _exec(["/usr/bin/env", "bash", str(ROOT / "scripts" / "check"), *rest])


if __name__ == "__main__":
    main(sys.argv[1:])
