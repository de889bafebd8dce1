"""ORT CPU latency of an exported file: median seconds of one ``(1, 3, H, W)`` forward after a warm-up run,
with the machine it was measured on (:func:`mobileiqa.eval.compute.machine_id`). Shared machines add noise:
read the numbers as upper bounds."""

from __future__ import annotations

import os
import statistics
import time

import numpy as np


def measure(path: str | os.PathLike, width: int, height: int, threads: int = 1, repeats: int = 3) -> dict:
    from mobileiqa.eval.compute import machine_id
    from mobileiqa.export.onnx import run, session

    sess = session(path, threads=threads)
    x = np.random.default_rng(0).standard_normal((1, 3, height, width)).astype(np.float32)
    run(sess, x)  # warm-up (allocations, kernel selection)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run(sess, x)
        times.append(time.perf_counter() - t0)
    median = statistics.median(times)
    return {"ms": round(1000 * median, 2), "seconds": median, "min_ms": round(1000 * min(times), 2),
            "width": width, "height": height, "threads": threads, "repeats": repeats, "machine": machine_id()}
