"""20 concurrent image uploads against a real `deepshield serve` (loopback only, bounded):
every upload must be answered and every job must complete; prints submit latency p50/p95
(medians over rounds) and how long the queue took to drain.

    python benchmarks/api_load.py [--uploads 20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from make_clips import make_photo  # noqa: E402
from tests.fixtures.server import free_port, start_server, stop_server  # noqa: E402


async def one_round(base: str, photo: bytes, uploads: int) -> dict[str, float]:
    async with httpx.AsyncClient(timeout=60) as client:

        async def submit(i: int) -> tuple[float, int, str | None]:
            start = time.perf_counter()
            response = await client.post(
                f"{base}/analyze-image", files={"file": (f"p{i}.jpg", photo, "image/jpeg")}
            )
            elapsed = time.perf_counter() - start
            return elapsed, response.status_code, response.json().get("job_id")

        started = time.perf_counter()
        answers = await asyncio.gather(*(submit(i) for i in range(uploads)))
        latencies = sorted(a[0] for a in answers)
        job_ids = {a[2] for a in answers if a[1] == 202}
        pending = set(job_ids)
        deadline = time.perf_counter() + 300
        while pending and time.perf_counter() < deadline:
            for job_id in list(pending):
                state = (await client.get(f"{base}/results/{job_id}")).json()["state"]
                if state == "COMPLETED":
                    pending.discard(job_id)
                elif state == "FAILED":
                    raise SystemExit(f"job {job_id} failed")
            await asyncio.sleep(0.2)
        drained = time.perf_counter() - started
    return {
        "answered": sum(1 for a in answers if a[1] == 202),
        "completed": len(job_ids) - len(pending),
        "p50_submit_ms": 1000 * statistics.median(latencies),
        "p95_submit_ms": 1000 * latencies[max(0, round(0.95 * len(latencies)) - 1)],
        "drain_s": drained,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--uploads", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    photo = make_photo(768).read_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        server = start_server(Path(tmp), port)
        try:
            base = f"http://127.0.0.1:{port}/api"
            rounds = [asyncio.run(one_round(base, photo, args.uploads)) for _ in range(args.rounds)]
        finally:
            stop_server(server)
    summary = {key: round(statistics.median(r[key] for r in rounds), 1) for key in rounds[0]}
    summary.update(
        uploads_per_round=args.uploads,
        rounds=args.rounds,
        jobs_per_s=round(args.uploads / summary["drain_s"], 2),
    )
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
