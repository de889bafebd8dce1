"""Lite-student ablation (``mobileiqa benchmark ablation``; issue 9, docs/ABLATION.md).

Every student in ``ablation.reference`` + ``ablation.variants`` is distilled from the *same* teacher checkpoint with
the ``distill_student`` recipe, for ``ablation.epochs`` epochs (the sampler depends only on the photos, so every
model takes the same optimiser steps), once per seed in ``ablation.seeds``, and scored on ``evaluate.split``.
Per model the report gives params, GMACs at ``summary.height x width``, the ORT latency and peak memory of its ONNX
file (fresh process, ``ablation.latency_threads``), the mean and spread of SRCC/PLCC over seeds, and the
paired-bootstrap 95 % interval of the seed-averaged SRCC difference to the reference. A variant *qualifies* under
``ablation.max_srcc_drop`` / ``min_diff_low`` (and the ≤ 6 M parameter / ≤ 12 GMAC budget); the reference
qualifies when it is itself within that budget; the winner is the cheapest qualifying model by GMACs.

Each (model, seed) result is cached under ``<out>/cache`` keyed by a hash of everything that determines it
(dataset manifest, teacher file, model, recipe), and each run resumes from its own checkpoint, so an interrupted
ablation continues where it stopped and ``--only`` lets two processes share the work.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mobileiqa.atomic import file_digest, write_json, write_text
from mobileiqa.data.manifest import read_manifest
from mobileiqa.data.prepare import PreparedDataset
from mobileiqa.eval.evaluate import score_in_chunks, split_frame
from mobileiqa.eval.metrics import paired_bootstrap_diff, plcc, srcc

MAX_PARAMS_M = 6.0  # issue 9's budget for a shipped student
MAX_GMACS = 12.0


def models_of(params) -> list[str]:
    a = params.ablation
    return [a.reference, *a.variants]


def recipe(params, seed: int):
    """The distillation config of one ablation run: the ``distill_student`` recipe at ``ablation.epochs``/``seed``,
    every student starting from random weights (``init_from_teacher`` would hand the teacher's weights to the
    students that share its backbone and only some tensors to the others: not a like-for-like comparison)."""
    d = params.distill_student
    return dataclasses.replace(d, init_from_teacher=False,
                               train=dataclasses.replace(d.train, epochs=params.ablation.epochs, seed=seed))


def _cache_key(manifest_sha: str, teacher_sha: str, model: str, cfg, split: str) -> str:
    blob = json.dumps({"manifest": manifest_sha, "teacher": teacher_sha, "model": model, "split": split,
                       "distill": dataclasses.asdict(cfg)}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _tracking(params):
    """The ablation logs to its own MLflow experiment, ``<tracking.experiment>-ablation``, without system metrics
    (runs may share a store from two processes: fewer writes, less lock contention)."""
    t = dataclasses.replace(params.tracking, experiment=f"{params.tracking.experiment}-ablation", system_metrics=False)
    return dataclasses.replace(params, tracking=t)


@dataclass(frozen=True)
class Inputs:
    """What every run shares, read once: the dataset and teacher (and their hashes), the evaluated split."""

    dataset_dir: Path
    dataset_sha256: str
    teacher: Path
    teacher_sha256: str
    files: list[Path]
    mos: np.ndarray

    @classmethod
    def load(cls, params, dataset_dir: str | os.PathLike, teacher: str | os.PathLike) -> Inputs:
        if not Path(teacher).is_file():
            raise FileNotFoundError(f"ablation teacher checkpoint not found: {teacher} (run `dvc repro train_teacher` "
                                    "or pass --teacher)")
        dataset = PreparedDataset.load(dataset_dir)
        frame = split_frame(read_manifest(dataset.manifest), dataset.root, params.evaluate.split)
        return cls(Path(dataset_dir), dataset.manifest_sha256, Path(teacher), file_digest(teacher),
                   list(frame["file"]), frame["mos"].to_numpy(np.float64))


def run_one(params, inputs: Inputs, model: str, seed: int, out_dir: str | os.PathLike) -> dict:
    """Distil ``model`` with ``seed`` (or load the cached result); returns its row with per-image predictions."""
    from mobileiqa.predict import Predictor
    from mobileiqa.tracking.stage_run import stage_logger
    from mobileiqa.train.distill import distill_student

    split = params.evaluate.split
    cfg = recipe(params, seed)
    key = _cache_key(inputs.dataset_sha256, inputs.teacher_sha256, model, cfg, split)
    cached = Path(out_dir) / "cache" / f"{model}-seed{seed}-{key}.json"
    if cached.is_file():
        return json.loads(cached.read_text())
    run_dir = Path(out_dir) / "runs" / model / f"seed{seed}"
    tags = {"ablation_model": model, "ablation_seed": str(seed), "ablation_reference": params.ablation.reference}
    started = time.perf_counter()
    with stage_logger(_tracking(params), f"ablation/{model}/seed{seed}", inputs.dataset_dir, tags) as logger:
        metrics = distill_student(cfg, inputs.dataset_dir, inputs.teacher, run_dir, model, None, logger, resume=True)
        pred = score_in_chunks(Predictor.from_path(run_dir / "model.pt"), inputs.files, params.evaluate.batch_size,
                               f"score {model} seed {seed}")
        row = {"model": model, "seed": seed, "split": split, "epochs": cfg.train.epochs,
               "steps": int(metrics.get("steps", 0)), "wall_s": round(time.perf_counter() - started, 1),
               "best_val_srcc": metrics.get("val_srcc"), "srcc": srcc(pred, inputs.mos),
               "plcc": plcc(pred, inputs.mos), "pred": [float(v) for v in pred]}
        if logger is not None:
            logger.log_metrics({f"{split}_srcc": row["srcc"], f"{split}_plcc": row["plcc"]}, step=row["steps"])
    write_json(cached, row)
    return row


def cost_of(params, model: str, checkpoint: str | os.PathLike, out_dir: str | os.PathLike) -> dict:
    """Params and GMACs at ``summary`` size, and the ORT latency / peak memory of the model's ONNX file."""
    from mobileiqa.export.latency import measure_isolated
    from mobileiqa.export.onnx import export_onnx
    from mobileiqa.export.stages import build_metadata, load_source
    from mobileiqa.models.complexity import complexity

    s, a = params.summary, params.ablation
    c = complexity(model, s.height, s.width)
    onnx_path = Path(out_dir) / "onnx" / f"{model}.onnx"
    if not onnx_path.is_file():
        net, name, meta, version = load_source(checkpoint)
        export_onnx(net, onnx_path, build_metadata(name, net, meta, version, None))
    m = measure_isolated(onnx_path, s.width, s.height, a.latency_threads, a.latency_repeats)
    return {"params_m": round(c.params_m, 3), "gmacs": round(c.gmacs, 2), "ort_ms": round(1000 * m["latency_s"], 1),
            "mem_mb": None if m["mem_mb"] is None else round(m["mem_mb"], 1)}


def summarise(params, runs: dict[str, list[dict]], costs: dict[str, dict], mos: np.ndarray) -> dict:
    """Per-model means over seeds, paired-bootstrap SRCC differences to the reference, and the winner."""
    a = params.ablation
    ref_runs = runs[a.reference]
    rows = []
    for model, model_runs in runs.items():
        sr = np.array([r["srcc"] for r in model_runs])
        pl = np.array([r["plcc"] for r in model_runs])
        row = {"model": model, "reference": model == a.reference, **costs.get(model, {}), "seeds": len(model_runs),
               "steps": model_runs[0]["steps"], "srcc_mean": float(sr.mean()), "srcc_sd": float(sr.std(ddof=0)),
               "srcc_min": float(sr.min()), "srcc_max": float(sr.max()), "plcc_mean": float(pl.mean()),
               "srcc_by_seed": [round(float(v), 4) for v in sr]}
        within_budget = row.get("params_m", np.inf) <= MAX_PARAMS_M and row.get("gmacs", np.inf) <= MAX_GMACS
        row["within_budget"] = bool(within_budget)
        if model == a.reference:
            row["qualifies"] = row["within_budget"]  # the reference meets its own accuracy rule trivially
        else:
            d = paired_bootstrap_diff([r["pred"] for r in model_runs], [r["pred"] for r in ref_runs], mos,
                                      "srcc", n_boot=a.n_boot, seed=params.evaluate.seed)
            row.update(diff=d.observed, diff_low=d.low, diff_high=d.high)
            row["qualifies"] = bool(within_budget and d.observed >= -a.max_srcc_drop and d.low > a.min_diff_low)
        rows.append(row)
    qualifying = [r for r in rows if r.get("qualifies")]
    winner = min(qualifying, key=lambda r: r.get("gmacs", np.inf))["model"] if qualifying else None
    return {"reference": a.reference, "split": params.evaluate.split, "epochs": a.epochs, "seeds": list(a.seeds),
            "resolution": f"{params.summary.width}x{params.summary.height}",
            "rule": {"max_srcc_drop": a.max_srcc_drop, "min_diff_low": a.min_diff_low,
                     "max_params_m": MAX_PARAMS_M, "max_gmacs": MAX_GMACS},
            "winner": winner, "rows": rows}


def markdown(result: dict) -> str:
    lines = [f"Reference `{result['reference']}`; {result['epochs']} epochs per run (equal steps), seeds "
             f"{result['seeds']}, {result['split']} split. Winner (cheapest qualifying by GMACs): "
             f"`{result['winner'] or 'none'}`.", "",
             "| model | params (M) | GMACs | ORT ms | memory MB | SRCC mean ± sd | PLCC mean | ΔSRCC vs ref [95 % CI] "
             "| qualifies |", "|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        diff = ("reference" if r["reference"]
                else f"{r['diff']:+.3f} [{r['diff_low']:+.3f}, {r['diff_high']:+.3f}]")
        ok = "yes" if r["qualifies"] else "no"
        lines.append(f"| `{r['model']}` | {r.get('params_m', '–')} | {r.get('gmacs', '–')} | {r.get('ort_ms', '–')} "
                     f"| {r.get('mem_mb', '–')} | {r['srcc_mean']:.3f} ± {r['srcc_sd']:.3f} | {r['plcc_mean']:.3f} "
                     f"| {diff} | {ok} |")
    return "\n".join(lines) + "\n"


def run_ablation(params, dataset_dir: str | os.PathLike, teacher: str | os.PathLike, out_dir: str | os.PathLike,
                 only: tuple[str, ...] = (), progress=print) -> dict | None:
    """Run (or load) every (model, seed); with ``only``, just those models' runs (no summary: ``None``).
    Otherwise write ``ablation.json``, ``ablation.md`` and ``ablation.png`` in ``out_dir`` and return the result."""
    from mobileiqa.eval.plots import cost_vs_accuracy
    from mobileiqa.models import list_models

    names = models_of(params)
    unknown = [m for m in (*names, *only) if m not in list_models()]
    if unknown:
        raise ValueError(f"ablation: unknown model(s) {', '.join(unknown)}; registered: {', '.join(list_models())}")
    inputs = Inputs.load(params, dataset_dir, teacher)
    out_dir = Path(out_dir)
    runs: dict[str, list[dict]] = {}
    for model in only or names:
        runs[model] = []
        for seed in params.ablation.seeds:
            progress(f"ablation: {model} seed {seed}")
            row = run_one(params, inputs, model, seed, out_dir)
            runs[model].append(row)
            progress(f"ablation: {model} seed {seed}: {params.evaluate.split} SRCC {row['srcc']:.4f}")
    if only:
        return None
    costs = {}
    for model in names:
        progress(f"ablation: cost of {model}")
        costs[model] = cost_of(params, model, out_dir / "runs" / model / f"seed{params.ablation.seeds[0]}" /
                               "model.pt", out_dir)
    result = summarise(params, runs, costs, inputs.mos)
    result.update(teacher=str(teacher), teacher_sha256=inputs.teacher_sha256, dataset_sha256=inputs.dataset_sha256)
    cost_vs_accuracy(result["rows"], out_dir / "ablation.png",
                     f"lite students, {result['epochs']} epochs x {len(result['seeds'])} seeds", result["resolution"])
    write_json(out_dir / "ablation.json", result)
    write_text(out_dir / "ablation.md", markdown(result))
    _log_summary(params, dataset_dir, result, out_dir)
    return result


def _log_summary(params, dataset_dir, result: dict, out_dir: Path) -> None:
    """One MLflow run ``ablation/summary`` with every model's seed means and cost, and the three files."""
    from mobileiqa.tracking.stage_run import stage_logger

    with stage_logger(_tracking(params), "ablation/summary", dataset_dir,
                      {"ablation_winner": str(result["winner"])}) as logger:
        if logger is None:
            return
        for r in result["rows"]:
            short = r["model"].removeprefix("mobileiqa_student_")
            logger.log_metrics({f"{short}.{k}": r[k] for k in ("srcc_mean", "srcc_sd", "plcc_mean", "diff",
                                                                 "diff_low", "params_m", "gmacs", "ort_ms", "mem_mb")
                                if r.get(k) is not None}, step=0)
        for name in ("ablation.json", "ablation.md", "ablation.png"):
            logger.log_artifact(out_dir / name)


def record(result: dict, out_dir: str | os.PathLike, results_dir: str | os.PathLike, command: str,
           plot_dir: str | os.PathLike = "docs/plots") -> Path:
    """Write ``RESULTS/<machine>/ablation.json`` for ``mobileiqa render-benchmarks`` and copy the plot to
    ``plot_dir``; returns the result file's path."""
    import datetime as dt
    import shutil

    from mobileiqa.eval.compute import machine_id

    plot = Path(plot_dir) / "ablation_cost_vs_srcc.png"
    plot.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(out_dir) / "ablation.png", plot)
    rows = []
    for r in result["rows"]:
        rows.append({"model": r["model"], "params M": r.get("params_m"), "GMACs": r.get("gmacs"),
                     "ORT ms (1 thread)": r.get("ort_ms"), "memory MB": r.get("mem_mb"),
                     "SRCC mean": round(r["srcc_mean"], 3), "SRCC sd": round(r["srcc_sd"], 3),
                     "PLCC mean": round(r["plcc_mean"], 3),
                     "ΔSRCC vs ref": "reference" if r["reference"] else round(r["diff"], 3),
                     "95 % CI": "" if r["reference"] else f"[{r['diff_low']:+.3f}, {r['diff_high']:+.3f}]",
                     "qualifies": "yes" if r["qualifies"] else "no"})
    out = {"machine": machine_id(), "command": command, "date": dt.date.today().isoformat(),
           "notes": f"Reference `{result['reference']}`; {result['epochs']} distillation epochs per run (equal "
                    f"steps) from one teacher, seeds {result['seeds']}, {result['split']} split; latency and "
                    f"memory of the ONNX file at {result['resolution']}. Winner: `{result['winner'] or 'none'}`.",
           "dataset_sha256": result["dataset_sha256"], "rows": rows, "plots": [plot.as_posix()]}
    path = Path(results_dir) / out["machine"] / "ablation.json"
    write_json(path, out)
    return path
