"""Seconds, system time and page faults per training step of the detector model, with glibc's
default malloc settings and with `deepshield train`'s (freed memory kept for the next step,
`training/allocator.py`).

The setting holds for a whole process, so each measurement runs in a fresh one, the two kinds in
alternation ``--repeats`` times, so that a noisy machine slows both alike. A step is a training
step on 24 random images of 224 px (training's largest batch; content does not change the time);
each process reports the median of ``--steps`` steps after one warm-up step, and a digest of
the weights they leave, which must be the same everywhere. Read the ratio.

    python benchmarks/training_allocator.py [--repeats 3] [--steps 8] [--channels-last]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

ARMS = ("glibc-default", "keep-freed-memory")


def measure(keep: bool, steps: int, channels_last: bool) -> dict[str, object]:
    """One process's figures (median step seconds; user and system seconds, minor page faults
    per step; peak resident memory in MiB) and a digest of the weights the steps left."""
    from training_step import training_setup  # brings torch, which the parent does without

    from deepshield.training.allocator import keep_freed_memory
    from deepshield.training.train import training_step

    if keep and not keep_freed_memory():
        raise SystemExit("this C library is not glibc: nothing to compare")
    model, optimizer, images, labels = training_setup(channels_last, batch=24)
    training_step(model, optimizer, images, labels, 0.0)  # warm-up: oneDNN picks its kernels
    before = resource.getrusage(resource.RUSAGE_SELF)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        training_step(model, optimizer, images, labels, 0.0)
        times.append(time.perf_counter() - start)
    after = resource.getrusage(resource.RUSAGE_SELF)
    digest = hashlib.sha256()
    for tensor in model.state_dict().values():
        digest.update(tensor.contiguous().numpy().tobytes())
    figures = {
        "step_s": statistics.median(times),
        "user_s": (after.ru_utime - before.ru_utime) / steps,
        "sys_s": (after.ru_stime - before.ru_stime) / steps,
        "page_faults": (after.ru_minflt - before.ru_minflt) / steps,
        "peak_rss_mib": after.ru_maxrss / 1024,  # kilobytes on Linux
    }
    return {"figures": figures, "weights_sha256": digest.hexdigest()}


def run_child(arm: str, steps: int, channels_last: bool) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", arm, "--steps", str(steps)]
    if channels_last:
        command.append("--channels-last")
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(output)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--child", choices=ARMS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        keep = args.child == "keep-freed-memory"
        print(json.dumps(measure(keep, args.steps, args.channels_last)))
        return
    runs: dict[str, list[dict[str, float]]] = {arm: [] for arm in ARMS}
    digests = set()
    for _ in range(args.repeats):
        for arm in ARMS:
            result = run_child(arm, args.steps, args.channels_last)
            runs[arm].append(result["figures"])
            digests.add(result["weights_sha256"])
    medians = {
        arm: {key: round(statistics.median(r[key] for r in results), 3) for key in results[0]}
        for arm, results in runs.items()
    }
    ratio = medians["glibc-default"]["step_s"] / medians["keep-freed-memory"]["step_s"]
    print(
        json.dumps(
            {
                "layout": "channels-last" if args.channels_last else "nchw",
                "repeats": args.repeats,
                "median": medians,
                "step_time_default_over_keep": round(ratio, 2),
                # every process trains the same steps from the same seed: one digest means the
                # allocator changed no number
                "same_weights_everywhere": len(digests) == 1,
            },
            indent=2,
        )
    )
    if len(digests) != 1:
        raise SystemExit("the allocator setting changed the trained weights")


if __name__ == "__main__":
    main()
