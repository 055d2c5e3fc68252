"""What one document costs to render, per kind and language (no database, no Temporal).

    .venv/bin/python -m bench.documents            # --repeat 10 --languages de uk ar

Renders each document kind (the sample contexts of documents.examples) in each language in this
process, after one warm-up rendering (the compiler made, its fonts loaded), and prints the best
of ``--repeat`` renderings in milliseconds of CPU (this process, all its threads) and of wall
clock, with the page count. Every rendering has a file reference (a date, on the flyer) of its
own, as every case's documents do, and they go round robin over every kind and language: Typst
remembers what it laid out for the last few compilations, and the same input again, or the same
document straight after itself, would measure that memory rather than the layout. The baseline
in the same run is Typst compiling an empty page with the same compiler (each time a new title,
for the same reason): what the engine costs before there is anything to lay out. Then all ten
towns' flyers in all ten languages, as a change of the directory regenerates them: through the
renderer processes (``render_off_loop``), all at once, started cold and then again warm.
The case workflow renders three documents per case (record, departure letter, consent).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import time
from collections.abc import Callable

from documents import render_off_loop
from documents.examples import SAMPLE_FLYER, SAMPLES, page_count
from documents.render import render, shutdown_renderer
from documents.texts import LANGUAGES
from documents.typeset import compiler
from schemas.documents import DocumentContext, DocumentKind, FlyerContext
from schemas.offers import COUNTY_TOWNS

TARGET_MS = 20.0  # CPU per document, every kind and language (issue 12)
FLYERS_TARGET_S = 3.0  # every town's flyer in every language


def best_of(repeat: int, work: Callable[[int], object], start: int = 0) -> tuple[float, float]:
    """Milliseconds of CPU and of wall clock of the fastest of ``repeat`` runs of ``work(n)``."""
    cpu = wall = float("inf")
    for n in range(start, start + repeat):
        started_cpu, started = time.process_time(), time.perf_counter()
        work(n)
        cpu = min(cpu, time.process_time() - started_cpu)
        wall = min(wall, time.perf_counter() - started)
    return cpu * 1000, wall * 1000


_RUNS = itertools.count()


def empty_page(_: int) -> None:
    """An empty page, with a title of its own (the PDF is written anew, not remembered)."""
    compiler().compile(input=f'#set document(title: "{next(_RUNS)}")'.encode())


def variant(kind: DocumentKind, n: int) -> DocumentContext:
    """The sample context of ``kind``, made the ``n``-th distinct one."""
    context = SAMPLES[kind]
    if isinstance(context, FlyerContext):
        return context.model_copy(update={"as_of": context.as_of + dt.timedelta(days=n)})
    return context.model_copy(update={"file_reference": f"ABH-2026-{next(_RUNS):05d}"})


def render_one(kind: DocumentKind, language: str) -> Callable[[int], object]:
    return lambda n: render(kind, language, variant(kind, n))


def town_flyers() -> list[tuple[str, FlyerContext]]:
    """The sample offers as every town's, in every language: 100 flyers."""
    return [
        (
            language,
            SAMPLE_FLYER.model_copy(
                update={
                    "town": town,
                    "offers": [o.model_copy(update={"town": town}) for o in SAMPLE_FLYER.offers],
                }
            ),
        )
        for town in COUNTY_TOWNS
        for language in LANGUAGES
    ]


async def regenerate(flyers: list[tuple[str, FlyerContext]]) -> float:
    """Seconds of wall clock for all ``flyers`` at once through the renderer processes."""
    started = time.perf_counter()
    await asyncio.gather(
        *(render_off_loop(DocumentKind.FLYER, language, context) for language, context in flyers)
    )
    return time.perf_counter() - started


async def flyer_figures() -> tuple[int, float, float]:
    flyers = town_flyers()
    try:
        cold = await regenerate(flyers)  # the renderer processes start on the way
        warm = await regenerate(flyers)
    finally:
        shutdown_renderer()
    return len(flyers), cold, warm


def documents_table(repeat: int, languages: list[str]) -> float:
    """Print the table; the slowest kind and language's best, in ms of CPU."""
    best: dict[tuple[DocumentKind, str], tuple[float, float]] = {}
    # Round robin over every kind and language: the same one comes again only after all the
    # others, as in a renderer serving many cases, not straight after itself.
    for n in range(repeat):
        for kind in SAMPLES:
            for language in languages:
                cpu, wall = best_of(1, render_one(kind, language), start=n)
                old = best.get((kind, language), (float("inf"), float("inf")))
                best[kind, language] = (min(old[0], cpu), min(old[1], wall))
    print(f"best of {repeat}, ms CPU / ms wall / pages")
    print(f"{'kind':<22}" + "".join(f"{lang:>17}" for lang in languages))
    for kind, context in SAMPLES.items():
        cells = []
        for language in languages:
            cpu, wall = best[kind, language]
            pages = page_count(render(kind, language, context))
            cells.append(f"{cpu:5.1f}/{wall:5.1f}/{pages}p")
        print(f"{kind.value:<22}" + "".join(f"{c:>17}" for c in cells))
    return max(cpu for cpu, _ in best.values())


def bench(repeat: int, languages: list[str]) -> int:
    render(DocumentKind.FLYER, "de", SAMPLE_FLYER)  # warm-up: the compiler and its fonts
    base_cpu, base_wall = best_of(repeat, empty_page)
    print(f"baseline: Typst, an empty page: {base_cpu:.2f} ms CPU, {base_wall:.2f} ms wall")
    worst = documents_table(repeat, languages)
    verdict = "ok" if worst <= TARGET_MS else "OVER"
    print(f"slowest document: {worst:.1f} ms CPU (target ≤ {TARGET_MS:.0f} ms: {verdict})")
    count, cold, warm = asyncio.run(flyer_figures())
    verdict = "ok" if cold < FLYERS_TARGET_S else "OVER"
    print(
        f"flyers, {len(COUNTY_TOWNS)} towns × {len(LANGUAGES)} languages = {count}, all at once "
        f"through the renderer processes: {cold:.2f} s cold (processes started), "
        f"{warm:.2f} s warm (target < {FLYERS_TARGET_S:.0f} s: {verdict})"
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.documents", description=__doc__)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--languages", nargs="+", default=list(LANGUAGES))
    args = parser.parse_args()
    return bench(args.repeat, args.languages)


if __name__ == "__main__":
    raise SystemExit(main())
