"""Documents render in processes of their own; they must not outlive the process that started
them (a worker killed outright would otherwise leave renderers behind per crash)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from documents import render, render_off_loop
from documents.examples import SAMPLE_FLYER
from schemas.documents import DocumentKind

ROOT = Path(__file__).resolve().parent.parent


async def test_the_renderer_renders_what_this_process_renders() -> None:
    """Same input, same bytes, in whichever process; as many renderers as this process has
    cores, started only when needed."""
    document = await render_off_loop(DocumentKind.FLYER, "ar", SAMPLE_FLYER)
    assert document == render(DocumentKind.FLYER, "ar", SAMPLE_FLYER)
    renderer = sys.modules["documents.render"]._renderer()
    assert renderer._max_workers == len(os.sched_getaffinity(0))
    assert len(renderer._processes) <= renderer._max_workers


# Render once, print the renderer's pid, die without any cleanup (as a killed worker does).
SCRIPT = """
import asyncio, os, sys
from documents import render_off_loop
from documents.examples import SAMPLE_FLYER
from schemas.documents import DocumentKind

async def main():
    document = await render_off_loop(DocumentKind.FLYER, "uk", SAMPLE_FLYER)
    assert document.pdf.startswith(b"%PDF")
    renderer = sys.modules["documents.render"]._renderer()
    print(*renderer._processes, flush=True)
    os._exit(9)

asyncio.run(main())
"""


async def test_the_renderer_ends_when_its_worker_is_killed() -> None:
    dying = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SCRIPT, cwd=ROOT, stdout=asyncio.subprocess.PIPE
    )
    assert dying.stdout is not None
    line = await asyncio.wait_for(dying.stdout.readline(), timeout=60)
    [renderer] = [int(pid) for pid in line.split()]
    for _ in range(50):  # its watcher looks once a second
        if not Path(f"/proc/{renderer}").exists():
            break
        await asyncio.sleep(0.2)
    status = Path(f"/proc/{renderer}/status")
    gone = not status.exists() or "zombie" in status.read_text()
    assert gone, "the renderer outlived its worker"
    assert await asyncio.wait_for(dying.wait(), timeout=10) == 9


# Render once, print the renderer's pid, then wait for Ctrl-C as `manage.py run` does.
CTRL_C = """
import asyncio, signal, sys
# As a terminal starts it: the test's own process may ignore SIGINT (an xdist worker does),
# and an ignored SIGINT is inherited through exec, so Python would install no handler.
signal.signal(signal.SIGINT, signal.default_int_handler)
from documents import render_off_loop
from documents.examples import SAMPLE_FLYER
from schemas.documents import DocumentKind

async def main():
    await render_off_loop(DocumentKind.FLYER, "uk", SAMPLE_FLYER)
    print(*sys.modules["documents.render"]._renderer()._processes, flush=True)
    await asyncio.sleep(120)

try:
    asyncio.run(main())
except KeyboardInterrupt:
    sys.exit(130)
"""


async def test_ctrl_c_stops_the_renderer_without_a_traceback() -> None:
    """Ctrl-C in a terminal signals the whole process group, the renderer included."""
    running = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CTRL_C,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    assert running.stdout is not None and running.stderr is not None
    line = await asyncio.wait_for(running.stdout.readline(), timeout=60)
    [renderer] = [int(pid) for pid in line.split()]
    os.killpg(running.pid, signal.SIGINT)
    try:
        code = await asyncio.wait_for(running.wait(), timeout=30)
    except TimeoutError:

        def masks(pid: int | str) -> str:
            lines = Path(f"/proc/{pid}/status").read_text().splitlines()
            return " ".join(x for x in lines if x.startswith(("SigBlk", "SigIgn", "SigCgt")))

        raise AssertionError(f"hung: child {masks(running.pid)}; pytest {masks('self')}") from None
    assert code == 130
    stderr = (await running.stderr.read()).decode()
    assert "Traceback" not in stderr, stderr
    status = Path(f"/proc/{renderer}/status")
    assert not status.exists() or "zombie" in status.read_text()
