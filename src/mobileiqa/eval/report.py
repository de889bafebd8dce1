"""Render ``docs/BENCHMARKS.md`` from the committed per-machine JSON results under ``benchmarks/results/``.

Each machine's results live in their own folder, so rows measured on a GPU box survive a CPU-only rerun.
"""

from __future__ import annotations

import json
from pathlib import Path

HEADER = """# Benchmarks

Rendered by `mobileiqa render-benchmarks` from `benchmarks/results/<machine>/*.json`; do not edit by hand.
Every table names the machine and the command that produced it.
"""


def _model_compute_section(data: dict) -> list[str]:
    lines = [
        f"### Model compute — `{data['machine']}`",
        "",
        f"Command: `{data['command']}`  ",
        f"Date: {data['date']}; torch {data['torch']}; {data['threads']} thread(s); batch 1, eval mode, fp32; "
        "latency = median of the timed runs after one warm-up; peak memory = growth of the process's peak RSS "
        "during the forward passes over the built model.",
        "",
        "| model | params (M) | input (W×H) | GMACs | latency (s) | peak memory (MB) |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for r in data["rows"]:
        mem = "n/a" if r["peak_mem_mb"] is None else f"{r['peak_mem_mb']:.0f}"
        lines.append(f"| {r['model']} | {r['params_m']:.2f} | {r['width']}×{r['height']} | {r['gmacs']:.2f} | "
                     f"{r['latency_s']:.3f} | {mem} |")
    return [*lines, ""]


def _dataset_build_section(data: dict) -> list[str]:
    lines = [
        f"### Default dataset build — `{data['machine']}`",
        "",
        f"Command: `{data['command']}`  ",
        f"Date: {data['date']}. Target: at most 12 minutes on 2 cores with at least 60 photos and all 25 types.",
        "",
        "| photos | images | long side | levels/type | workers | wall time | size | annotators' mean pairwise SRCC | "
        "cell SRCC vs KADID humans, uncalibrated → calibrated (held-out refs) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in data["rows"]:
        q, spec = r["calibration_quality"], r["spec"]
        lines.append(
            f"| {r['photos']} | {r['images']} | {spec['long_side']} | {spec['levels_per_type']} | {spec['workers']} | "
            f"{r['seconds'] / 60:.1f} min | {r['bytes'] / 1e6:.0f} MB | {r['agreement']['mean_pairwise_srcc']:.3f} | "
            f"{q['uncalibrated_consensus_cell_srcc']:.3f} → {q['calibrated_cell_srcc_heldout_refs']:.3f} |")
    return [*lines, ""]


SECTIONS = {"model_compute": _model_compute_section, "dataset_build": _dataset_build_section}


def render(results_dir: str | Path) -> str:
    out = [HEADER]
    files = sorted(Path(results_dir).glob("*/*.json"))
    if not files:
        out.append("No results yet: run `python benchmarks/model_compute.py`.\n")
    for kind, section in SECTIONS.items():
        chosen = [f for f in files if f.stem == kind]
        if chosen:
            out.append(f"## {kind.replace('_', ' ').capitalize()}\n")
        for f in chosen:
            out.extend(section(json.loads(f.read_text())))
    return "\n".join(out).rstrip() + "\n"
