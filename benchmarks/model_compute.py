"""Model compute benchmark: params, GMACs, torch CPU latency and peak memory per registered variant.

Usage (from the project root, inside .venv):
    python benchmarks/model_compute.py                      # all non-tiny variants, 3 sizes, 1 and all threads
    python benchmarks/model_compute.py --models NAME --sizes 512x512 --threads 1 --repeats 3

Runs above --max-gmacs (default 400: the faithful pair at 3840x2160) are skipped on CPU and say so.

Writes benchmarks/results/<machine>/model_compute.json and re-renders docs/BENCHMARKS.md. Numbers are printed,
never asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shlex
import sys
from dataclasses import asdict
from pathlib import Path

import torch
from tqdm import tqdm

from mobileiqa.atomic import write_json, write_text
from mobileiqa.eval.compute import machine_id, measure
from mobileiqa.eval.report import render
from mobileiqa.models import list_models
from mobileiqa.models.complexity import complexity

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="*", default=[n for n in list_models() if not n.endswith("_tiny")])
    ap.add_argument("--sizes", nargs="*", default=["512x512", "1907x1231", "3840x2160"], help="WxH")
    ap.add_argument("--threads", type=int, nargs="*", default=[1, os.cpu_count() or 1])
    ap.add_argument("--max-gmacs", type=float, default=400.0, help="skip larger runs (printed)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--results", default=str(ROOT / "benchmarks" / "results"))
    args = ap.parse_args()

    jobs = [(m, *map(int, s.lower().split("x")), t) for m in args.models for s in args.sizes
            for t in sorted(set(args.threads))]
    rows = []
    for name, w, h, threads in tqdm(jobs, desc="model compute", unit="run"):
        gmacs = complexity(name, h, w).gmacs
        if gmacs > args.max_gmacs:
            tqdm.write(f"{name:46} {w}x{h:<5} skipped: {gmacs:.0f} GMACs > --max-gmacs {args.max_gmacs:g}")
            continue
        r = measure(name, h, w, threads=threads, repeats=args.repeats)
        rows.append(asdict(r))
        mem = "n/a" if r.peak_mem_mb is None else f"{r.peak_mem_mb:.0f} MB"
        tqdm.write(f"{name:46} {w}x{h:<5} {threads}t {r.params_m:7.2f} M {r.gmacs:8.2f} GMACs "
                   f"{r.latency_s:8.3f} s  {mem}")
    machine = machine_id()
    write_json(Path(args.results) / machine / "model_compute.json", {
        "machine": machine,
        "command": shlex.join(["python", "benchmarks/model_compute.py", *sys.argv[1:]]),
        "date": dt.date.today().isoformat(),
        "torch": torch.__version__,
        "threads": sorted(set(args.threads)),
        "rows": rows,
    })
    write_text(ROOT / "docs" / "BENCHMARKS.md", render(args.results))
    print(f"results: {Path(args.results) / machine / 'model_compute.json'}; rendered docs/BENCHMARKS.md")


if __name__ == "__main__":
    main()
