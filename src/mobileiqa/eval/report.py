"""Render ``docs/BENCHMARKS.md`` from the committed per-machine JSON results under ``benchmarks/results/``.

Each machine's results live in their own folder, so rows measured on a GPU box survive a CPU-only rerun.
A result file may list images under ``"plots"`` (paths relative to the project root, or absolute): each is shown
below its section, linked relative to the rendered document.
"""

from __future__ import annotations

import json
import os
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
        f"Date: {data['date']}; torch {data['torch']}"
        + (f"; onnxruntime {data['onnxruntime']}" if data.get("onnxruntime") else "")
        + "; batch 1, each run in a fresh process; latency = median of the timed runs after one warm-up; "
        "peak memory = growth of the process's peak RSS during the forward passes over the loaded model. torch: "
        "the built model, eval mode, fp32; onnxruntime (CPU): the registered model exported to fp32 ONNX, or an "
        "exported file (model = its file name), memory over the RSS after session creation.",
        "",
        "| model | backend | params (M) | input (W×H) | GMACs | threads | latency (s) | peak memory (MB) |",
        "|---|---|---:|---|---:|---:|---:|---:|",
    ]

    def num(value, fmt: str) -> str:
        return "n/a" if value is None else format(value, fmt)

    for r in data["rows"]:
        lines.append(f"| {r['model']} | {r.get('backend', 'torch')} | {num(r.get('params_m'), '.2f')} | "
                     f"{r['width']}×{r['height']} | {num(r.get('gmacs'), '.2f')} | "
                     f"{r.get('threads', data['threads'])} | {r['latency_s']:.3f} | "
                     f"{num(r.get('peak_mem_mb'), '.0f')} |")
    return [*lines, ""]


def _dataset_build_section(data: dict) -> list[str]:
    lines = [
        f"### Default dataset build — `{data['machine']}`",
        "",
        "Target: the default build in at most 12 minutes on 2 cores (until issue 20 with at least 60 photos and all "
        "25 KADID types; since then every photo, KADID's types and the phone families). Each row is one spec "
        "(`--label`), with its command and date. Types/photo: how many of the KADID types and phone families each "
        "photo gets (all: every one). Phone labels: over the phone-camera families, the "
        "lowest annotator agreement (mean pairwise SRCC within the family), the lowest share of same-photo level "
        "steps where the MOS falls (– with one level per photo) and the highest Spearman correlation of level and "
        "MOS over a family's images (negative = falls).",
        "",
        "| spec | photos | images | long side | types/photo | levels/type | phone families | mixtures / regional "
        "| workers "
        "| wall time | size | annotators' mean pairwise SRCC "
        "| cell SRCC vs KADID humans, uncalibrated → calibrated (held-out refs) "
        "| phone labels: agreement ≥, MOS falls ≥, Spearman(level, MOS) ≤ |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---|---|",
    ]
    commands = []
    for r in data["rows"]:
        q, spec = r["calibration_quality"], r["spec"]
        phone, mix = r.get("phone"), r.get("mixtures")
        families = phone["families"] if phone else 0
        mixed = f"{mix['mixtures']} / {mix['regional_images']}" if mix else "–"
        sanity = "–"
        if phone:
            falls = "–" if phone.get("min_mos_falls") is None else f"{phone['min_mos_falls']:.0%}"
            level = phone.get("max_level_mos_srcc")
            sanity = f"{phone['min_agreement']:.3f}, {falls}" + ("" if level is None else f", {level:+.3f}")
        lines.append(
            f"| {r.get('label', 'default')} | {r['photos']} | {r['images']} | {spec['long_side']} | "
            f"{spec.get('types_per_photo') or 'all'} | {spec['levels_per_type']} | {families} | {mixed} | "
            f"{spec['workers']} | {r['seconds'] / 60:.1f} min | "
            f"{r['bytes'] / 1e6:.0f} MB | {r['agreement']['mean_pairwise_srcc']:.3f} | "
            f"{q['uncalibrated_consensus_cell_srcc']:.3f} → {q['calibrated_cell_srcc_heldout_refs']:.3f} | {sanity} |")
        note = f"; {r['note']}" if r.get("note") else ""
        commands.append(f"- {r.get('label', 'default')}: `{r.get('command') or data.get('command', '?')}` "
                        f"({r.get('date') or data.get('date', '?')}{note})")
    return [*lines, "", *commands, ""]


SECTIONS = {"model_compute": _model_compute_section, "dataset_build": _dataset_build_section}


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "–" if value is None else str(value)


def _generic_section(kind: str, data: dict) -> list[str]:
    """Any other result file: its notes, then its ``rows`` (list of flat dicts) as a table (less the columns whose
    every value is the file's own value of that key)."""
    lines = [f"### {kind.replace('_', ' ').capitalize()} — `{data.get('machine', '?')}`", ""]
    if data.get("command"):
        lines.append(f"Command: `{data['command']}`  ")
    if data.get("date"):
        lines.append(f"Date: {data['date']}.  ")
    if data.get("notes"):
        lines.append(str(data["notes"]))
    rows = [r for r in data.get("rows", []) if isinstance(r, dict)]
    if rows:
        keys = list(dict.fromkeys(k for r in rows for k, v in r.items() if not isinstance(v, dict | list)))
        # a column every row shares with the file's own field (its command, its date) is said once, above
        keys = [k for k in keys if k not in data or any(r.get(k) != data[k] for r in rows)]
        lines += ["", "| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
        lines += ["| " + " | ".join(_cell(r.get(k)) for k in keys) + " |" for r in rows]
    return [*lines, ""]


def _plot_lines(data: dict, doc_dir: Path, root: Path) -> list[str]:
    """``![name](link)`` for each of the result's ``plots``, linked relative to ``doc_dir``."""
    lines = []
    for plot in data.get("plots") or []:
        link = Path(os.path.relpath(root / plot, doc_dir)).as_posix()
        lines += [f"![{Path(plot).stem.replace('_', ' ')}]({link})", ""]
    return lines


def render(results_dir: str | Path, doc: str | Path | None = None, root: str | Path | None = None) -> str:
    """The document for every ``results_dir/<machine>/*.json``. ``root`` is the folder that relative plot paths
    start from (default: the current directory), ``doc`` where the text will be written (default
    ``<root>/docs/BENCHMARKS.md``): image links are relative to its folder."""
    root = (Path.cwd() if root is None else Path(root)).resolve()
    doc_dir = (root / "docs" / "BENCHMARKS.md" if doc is None else Path(doc)).resolve().parent
    out = [HEADER]
    files = sorted(Path(results_dir).glob("*/*.json"))
    if not files:
        out.append("No results yet: run `python benchmarks/model_compute.py`.\n")
    kinds = list(SECTIONS) + sorted({f.stem for f in files} - set(SECTIONS))
    for kind in kinds:
        chosen = [f for f in files if f.stem == kind]
        if chosen:
            out.append(f"## {kind.replace('_', ' ').capitalize()}\n")
        for f in chosen:
            data = json.loads(f.read_text())
            out.extend(SECTIONS[kind](data) if kind in SECTIONS else _generic_section(kind, data))
            out.extend(_plot_lines(data, doc_dir, root))
    return "\n".join(out).rstrip() + "\n"
