"""What the payload encryption costs per payload, against the pydantic conversion alone.

    .venv/bin/python -m bench.codec            # --payloads 20000

Converts a typical update payload (a status event with a person, ~0.6 KB as JSON) with the
service's data converter, with and without the codec, encoding and decoding, on a real
PostgreSQL (the data key is read once, then cached as in the service). Prints microseconds
per payload for each and the codec's share; the case lifecycle in bench/lifecycle.py moves
about 200 payloads, so the per-case cost is that figure times 200.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, WorkflowSerializationContext

from bench.common import bench_environment, say
from protection.codec import data_converter, keyring_of
from schemas.events import StatusEvent

EVENT = StatusEvent.model_validate(
    {
        "event_id": "bench-e1",
        "case_id": "BENCH-1",
        "status": "ausreisepflichtig",
        "effective_date": "2026-11-27",
        "departure_deadline": "2027-02-27",
        "person": {
            "given_name": "Benchvorname",
            "family_name": "Benchnachname",
            "date_of_birth": "1990-04-01",
            "nationality": "IRQ",
            "language": "ar",
            "phone": "+49 2303 123456",
            "address": {"street": "Bahnhofstraße 1", "postal_code": "59423", "town": "Unna"},
        },
    }
)


async def per_payload(converter: DataConverter, count: int) -> float:
    """Microseconds for one encode plus one decode."""
    payloads = await converter.encode([EVENT])  # warm-up: the key is fetched and cached
    await converter.decode(payloads, [StatusEvent])
    started = time.perf_counter()
    for _ in range(count):
        payloads = await converter.encode([EVENT])
        await converter.decode(payloads, [StatusEvent])
    return (time.perf_counter() - started) / count * 1e6


async def bench(count: int) -> int:
    async with bench_environment("codec") as env:
        context = WorkflowSerializationContext(
            namespace="default", workflow_id=f"case-BENCH-{uuid.uuid4().hex[:6]}"
        )
        plain = pydantic_data_converter.with_context(context)
        sealed = data_converter(keyring_of(env.client)).with_context(context)
        size = len((await plain.encode([EVENT]))[0].data)
        rounds = []
        for _ in range(3):  # alternate, so drift on a shared machine hits both alike
            rounds.append((await per_payload(plain, count), await per_payload(sealed, count)))
        plain_us = min(r[0] for r in rounds)
        sealed_us = min(r[1] for r in rounds)
        say(f"payload: a StatusEvent with a person, {size} bytes as JSON; best of 3 x {count}")
        print(f"pydantic only:          {plain_us:8.1f} µs per payload (encode + decode)")
        print(f"pydantic + AES-256-GCM: {sealed_us:8.1f} µs per payload (encode + decode)")
        print(f"codec share:            {sealed_us - plain_us:8.1f} µs per payload, "
              f"x{sealed_us / plain_us:.2f}")  # fmt: skip
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.codec", description=__doc__)
    parser.add_argument("--payloads", type=int, default=20000)
    return asyncio.run(bench(parser.parse_args().payloads))


if __name__ == "__main__":
    raise SystemExit(main())
