"""Compute cost of a model on this machine: params, GMACs, CPU latency and peak memory of one forward pass.

Each latency/memory measurement runs in a fresh Python process (``python -m mobileiqa.eval.compute``) so that
thread settings and the peak-RSS counter are clean. Peak memory is the growth of the process's peak resident set
during the timed forwards, over its size after the model was built (Linux ``VmHWM`` reset via ``clear_refs``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from mobileiqa.environment import status_kb
from mobileiqa.models import create_model
from mobileiqa.models.complexity import complexity

CLEAR_REFS = Path("/proc/self/clear_refs")


@dataclass(frozen=True)
class Measurement:
    model: str
    height: int
    width: int
    threads: int
    params_m: float
    gmacs: float
    latency_s: float  # median over repeats, batch 1, eval mode, no_grad
    latency_min_s: float
    repeats: int
    peak_mem_mb: float | None  # forward-pass growth of peak RSS over the built model; None where unsupported


def _measure_here(name: str, height: int, width: int, threads: int, repeats: int) -> Measurement:
    import torch

    torch.set_num_threads(threads)
    cost = complexity(name, height, width)
    model = create_model(name).eval()
    x = torch.rand(1, 3, height, width)
    base = status_kb("VmRSS")
    try:
        CLEAR_REFS.write_text("5")  # reset the peak-RSS counter to the current RSS
        can_peak = base is not None
    except OSError:
        can_peak = False
    times = []
    with torch.no_grad():
        model(x)  # warm-up
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t0)
    peak = status_kb("VmHWM") if can_peak else None
    times.sort()
    return Measurement(
        model=name, height=height, width=width, threads=threads, params_m=round(cost.params_m, 3),
        gmacs=round(cost.gmacs, 2), latency_s=round(times[len(times) // 2], 4), latency_min_s=round(times[0], 4),
        repeats=repeats, peak_mem_mb=None if peak is None else round((peak - base) / 1024, 1),
    )


def measure(name: str, height: int, width: int, threads: int = 1, repeats: int = 3) -> Measurement:
    """Measure in a fresh subprocess (clean threads and peak-RSS counter)."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OMP_WAIT_POLICY="PASSIVE")
    cmd = [sys.executable, "-m", "mobileiqa.eval.compute", name, str(height), str(width), str(threads), str(repeats)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"measuring {name} at {width}x{height} failed:\n{proc.stderr[-2000:]}")
    return Measurement(**json.loads(proc.stdout.strip().splitlines()[-1]))


if __name__ == "__main__":
    n, h, w, t, r = sys.argv[1:6]
    print(json.dumps(asdict(_measure_here(n, int(h), int(w), int(t), int(r)))))
