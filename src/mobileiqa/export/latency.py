"""ORT CPU latency of an exported file: median seconds of one ``(1, 3, H, W)`` forward after a warm-up run,
with the machine it was measured on (:func:`mobileiqa.environment.machine_id`). Shared machines add noise:
read the numbers as upper bounds.

:func:`measure_cost` times what part of a graph costs: two files (the full graph and a reduced one, e.g. the
graph of a model with explanation heads and the same graph pruned to ``score``:
:func:`mobileiqa.export.prune.prune_outputs`) in one process, their timed runs interleaved (alternating which runs
first) so that a shared machine's load weighs on both alike; the difference of the medians is the cost. On a
busy machine that difference swings by several per cent of the whole, so with ``profile_repeats`` it also adds
what the part's own nodes take: ORT's profiler times every node of both graphs (:func:`profile_nodes`), and
:func:`own_kernel_ms` sums the kernels of the nodes the reduced graph lacks (a figure of a few per cent stays
within a millisecond or two between rounds).

:func:`measure` times in this process (the export stage); :func:`measure_isolated` runs the same timing in a
fresh Python process (``python -m mobileiqa.export.latency``, intra-op threads and ``OMP_NUM_THREADS`` =
``threads``) and also reports memory: peak RSS (``VmHWM`` of /proc/self/status: unlike ``getrusage``'s
ru_maxrss it is not inherited from the parent across exec) after the first run, minus RSS right after session
creation, for one image (the benchmarks use it).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from mobileiqa.environment import machine_id, status_kb
from mobileiqa.export.runtime import run_all, session

# ORT's layout conversions (to and from its blocked NCHWc format): numbered afresh in each session, so those of
# two graphs cannot be matched by name; a pruned graph converts the same backbone maps as the full one
LAYOUT_OPS = frozenset({"ReorderInput", "ReorderOutput"})


def _input(width: int, height: int) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((1, 3, height, width)).astype(np.float32)


def _seconds(sess, x: np.ndarray) -> float:
    """One timed forward asking for every output of the graph (onnxruntime may skip nodes no requested output
    needs, so asking for ``score`` alone would not time the explanation heads)."""
    t0 = time.perf_counter()
    run_all(sess, x)
    return time.perf_counter() - t0


def measure(path: str | os.PathLike, width: int, height: int, threads: int = 1, repeats: int = 3) -> dict:
    sess = session(path, threads=threads)
    x = _input(width, height)
    _seconds(sess, x)  # warm-up (allocations, kernel selection)
    times = [_seconds(sess, x) for _ in range(repeats)]
    median = statistics.median(times)
    return {"ms": round(1000 * median, 2), "seconds": median, "min_ms": round(1000 * min(times), 2),
            "width": width, "height": height, "threads": threads, "repeats": repeats, "machine": machine_id()}


def measure_cost(full: str | os.PathLike, reduced: str | os.PathLike, width: int, height: int, threads: int = 1,
                 repeats: int = 3, profile_repeats: int = 0) -> dict:
    """Median latency of ``full`` and of ``reduced`` (interleaved runs, one warm-up each) and the difference:
    ``ms_full``, ``ms_reduced``, ``cost_ms`` and ``cost_pct`` (of ``ms_reduced``); also each one's fastest run
    (``min_ms_full``, ``min_ms_reduced``: the least disturbed on a loaded machine). ``profile_repeats > 0``
    adds ``kernel_ms`` and ``kernel_pct`` (of ``ms_reduced``): the kernel time of the nodes ``reduced`` lacks
    (:func:`own_kernel_ms`, each graph profiled over that many forwards), and ``kernel_ops``, its largest
    operator types."""
    sessions = [session(full, threads=threads), session(reduced, threads=threads)]
    x = _input(width, height)
    for sess in sessions:
        _seconds(sess, x)  # warm-up
    times: list[list[float]] = [[], []]
    for r in range(repeats):
        for k in ((0, 1) if r % 2 == 0 else (1, 0)):
            times[k].append(_seconds(sessions[k], x))
    a, b = (statistics.median(t) for t in times)
    out = {"ms_full": round(1000 * a, 2), "ms_reduced": round(1000 * b, 2), "cost_ms": round(1000 * (a - b), 2),
           "cost_pct": round(100 * (a - b) / b, 2), "min_ms_full": round(1000 * min(times[0]), 2),
           "min_ms_reduced": round(1000 * min(times[1]), 2), "width": width, "height": height, "threads": threads,
           "repeats": repeats, "machine": machine_id()}
    if profile_repeats > 0:
        del sessions
        own = own_kernel_ms(*(profile_nodes(p, width, height, threads, profile_repeats)[1] for p in (full, reduced)))
        kernel = sum(own.values())
        out.update(kernel_ms=round(kernel, 2), kernel_pct=round(100 * kernel / (1000 * b), 2),
                   kernel_ops=", ".join(f"{op} {ms:.1f}" for op, ms in list(own.items())[:5]))
    return out


def profile_nodes(path: str | os.PathLike, width: int, height: int, threads: int = 1,
                  repeats: int = 3) -> tuple[float, dict[tuple[str, str], float]]:
    """ORT's profiler over ``repeats`` forwards (every output asked for) after one warm-up: the mean wall ms of a
    forward and the mean kernel ms of each node, keyed ``(operator type, node name)`` of the optimised graph."""
    with tempfile.TemporaryDirectory(prefix="mobileiqa-profile-") as tmp:
        sess = session(path, threads=threads, profile_prefix=Path(tmp) / "ort")
        x = _input(width, height)
        for _ in range(repeats + 1):
            run_all(sess, x)
        events = json.loads(Path(sess.end_profiling()).read_text())
    runs = sorted((e for e in events if e.get("name") == "model_run"), key=lambda e: e["ts"])
    warm_end = runs[0]["ts"] + runs[0]["dur"]
    nodes: dict[tuple[str, str], float] = defaultdict(float)
    for e in events:
        name = e.get("name", "")
        if e.get("cat") == "Node" and name.endswith("_kernel_time") and e["ts"] > warm_end:
            key = (e.get("args", {}).get("op_name", "?"), name[: -len("_kernel_time")])
            nodes[key] += e["dur"] / 1000 / repeats
    return statistics.mean(e["dur"] for e in runs[1:]) / 1000, dict(nodes)


def own_kernel_ms(full: dict[tuple[str, str], float], reduced: dict[tuple[str, str], float]) -> dict[str, float]:
    """Kernel ms per operator type of the nodes of ``full`` (from :func:`profile_nodes`) that ``reduced`` lacks:
    what the part pruned away computes itself (layout conversions left out, :data:`LAYOUT_OPS`), largest first."""
    names = {name for _, name in reduced}
    own: dict[str, float] = defaultdict(float)
    for (op, name), ms in full.items():
        if name not in names and op not in LAYOUT_OPS:
            own[op] += ms
    return dict(sorted(own.items(), key=lambda kv: -kv[1]))


def _measure_here(path: str, width: int, height: int, threads: int, repeats: int) -> dict:
    """The child of :func:`measure_isolated`: one session, warm-up, memory, timed runs."""
    sess = session(path, threads=threads)
    rss_session = status_kb("VmRSS")
    x = _input(width, height)
    first = _seconds(sess, x)
    peak_after_first = status_kb("VmHWM")
    times = [_seconds(sess, x) for _ in range(repeats)]
    mem = None if rss_session is None or peak_after_first is None else (peak_after_first - rss_session) / 1024
    return {"latency_s": statistics.median(times), "min_s": min(times), "first_s": first,
            "rss_session_mb": None if rss_session is None else rss_session / 1024,
            "peak_rss_mb": None if peak_after_first is None else peak_after_first / 1024, "mem_mb": mem}


def measure_isolated(path: str | os.PathLike, width: int, height: int, threads: int = 1, repeats: int = 3) -> dict:
    """Latency and memory of ``path`` measured in a fresh subprocess: ``latency_s`` (median of ``repeats`` runs
    after one warm-up), ``min_s``, ``first_s`` (the warm-up), ``rss_session_mb``, ``peak_rss_mb`` and ``mem_mb``
    (peak RSS after the first run minus RSS after session creation; None where /proc is unavailable)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "OMP_WAIT_POLICY": "PASSIVE"}
    cmd = [sys.executable, "-m", "mobileiqa.export.latency", os.fspath(path), str(width), str(height), str(threads),
           str(repeats)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if out.returncode:
        raise RuntimeError(f"measuring {path} at {width}x{height} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    print(json.dumps(_measure_here(sys.argv[1], *(int(v) for v in sys.argv[2:6]))))
