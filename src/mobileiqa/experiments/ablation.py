"""Student ablation (``mobileiqa benchmark ablation``; docs/ABLATION.md).

Every student in ``ablation.reference`` + ``ablation.variants`` is distilled with the ``distill_student`` recipe
(its head-phase and end-to-end epochs: the sampler depends only on the photos, so every model takes the same
optimiser steps) and **its configured backbone weights** (``models.weights_for(model)``, recorded in every row),
once per seed in ``ablation.seeds``, and scored on ``evaluate.split``. ``ablation.start`` says where a student
starts: ``recipe`` (the default) is exactly what ``dvc repro`` ships, ``distill_student.init_from_teacher``
included; ``fresh`` starts every student from its own weights with a new head (isolates the backbone). Each seed
learns from one teacher checkpoint, the same for all seeds or one per seed (``--teacher`` once per seed: the
pipeline's seed-``s`` student learns from its seed-``s`` teacher). Per model the report gives params, GMACs at
``summary.height x width``, the ORT latency and peak memory of its ONNX file (fresh process,
``ablation.latency_threads``), the int8 drift of its first seed's model against the one int8 bound
``export.int8_max_srcc_drop``, the mean and spread of SRCC/PLCC over seeds, and the paired-bootstrap 95 % interval
of the seed-averaged SRCC difference to the reference. Shipping rule (one param, ``ablation.ship_within``): the
cheapest model by GMACs whose mean SRCC is within ``ship_within`` of the best mean.

Each (model, seed) result is cached under ``<out>/cache`` keyed by a hash of everything that determines it
(dataset manifest, teacher file, model, recipe), and each run resumes from its own checkpoint, so an interrupted
ablation continues where it stopped and ``--only`` lets two processes share the work.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mobileiqa.atomic import file_digest, json_digest, write_json, write_text
from mobileiqa.data.manifest import PreparedDataset, read_manifest
from mobileiqa.environment import machine_id
from mobileiqa.eval.metrics import paired_bootstrap_diff, plcc, srcc
from mobileiqa.eval.plots import cost_vs_accuracy
from mobileiqa.eval.scorecard import score_in_chunks, split_frame
from mobileiqa.export import quantize
from mobileiqa.export.exporter import build_metadata, load_source
from mobileiqa.export.latency import measure_isolated
from mobileiqa.export.onnx import export_onnx
from mobileiqa.export.runtime import run as run_onnx
from mobileiqa.export.runtime import session
from mobileiqa.models import list_models
from mobileiqa.models.complexity import complexity
from mobileiqa.predict import Predictor
from mobileiqa.preprocess import ResolutionPolicy
from mobileiqa.stages.mlflow_run import stage_logger
from mobileiqa.train.distill import distill_student


def models_of(params) -> list[str]:
    a = params.ablation
    return [a.reference, *a.variants]


def recipe(params, seed: int):
    """The distillation config of one ablation run: the ``distill_student`` recipe at ``seed``; with
    ``ablation.start: fresh`` every student starts from its own configured weights and a new head
    (``init_from_teacher`` off: it hands the teacher's head tensors only to students whose head widths match)."""
    d = params.distill_student
    init = d.init_from_teacher and params.ablation.start == "recipe"
    return dataclasses.replace(d, init_from_teacher=init, train=dataclasses.replace(d.train, seed=seed))


def _cache_key(manifest_sha: str, teacher_sha: str, model: str, weights: str | None, cfg, split: str) -> str:
    return json_digest({"manifest": manifest_sha, "teacher": teacher_sha, "model": model, "weights": weights,
                        "split": split, "distill": dataclasses.asdict(cfg)})


def _tracking(params):
    """The ablation logs to its own MLflow experiment, ``<tracking.experiment>-ablation``, without system metrics
    (runs may share a store from two processes: fewer writes, less lock contention)."""
    t = dataclasses.replace(params.tracking, experiment=f"{params.tracking.experiment}-ablation", system_metrics=False)
    return dataclasses.replace(params, tracking=t)


@dataclass(frozen=True)
class Inputs:
    """What every run shares, read once: the dataset, the teacher of each seed (and their hashes), the evaluated
    split."""

    dataset_dir: Path
    dataset_sha256: str
    teachers: dict[int, Path]      # seed -> teacher checkpoint
    teacher_sha256: dict[int, str]
    files: list[Path]
    mos: np.ndarray

    @classmethod
    def load(cls, params, dataset_dir: str | os.PathLike,
             teacher: str | os.PathLike | Sequence[str | os.PathLike]) -> Inputs:
        seeds = params.ablation.seeds
        paths = [Path(teacher)] if isinstance(teacher, (str, os.PathLike)) else [Path(t) for t in teacher]
        if len(paths) == 1:
            paths = paths * len(seeds)
        if len(paths) != len(seeds):
            raise ValueError(f"ablation: {len(paths)} teachers for {len(seeds)} seeds {list(seeds)}; pass one "
                             "--teacher for all seeds or one per seed, in the order of ablation.seeds")
        for path in paths:
            if not path.is_file():
                raise FileNotFoundError(f"ablation teacher checkpoint not found: {path} (run `dvc repro "
                                        "train_teacher` or pass --teacher)")
        dataset = PreparedDataset.load(dataset_dir)
        frame = split_frame(read_manifest(dataset.manifest), dataset.root, params.evaluate.split)
        digests = {p: file_digest(p) for p in set(paths)}
        return cls(Path(dataset_dir), dataset.manifest_sha256, dict(zip(seeds, paths, strict=True)),
                   {seed: digests[p] for seed, p in zip(seeds, paths, strict=True)}, list(frame["file"]),
                   frame["mos"].to_numpy(np.float64))


def run_one(params, inputs: Inputs, model: str, seed: int, out_dir: str | os.PathLike) -> dict:
    """Distil ``model`` with ``seed`` (or load the cached result); returns its row with per-image predictions."""
    split = params.evaluate.split
    cfg = recipe(params, seed)
    weights = params.models.weights_for(model)
    if seed not in inputs.teachers:
        raise ValueError(f"ablation: seed {seed} is not in ablation.seeds {list(inputs.teachers)}")
    teacher = inputs.teachers[seed]
    key = _cache_key(inputs.dataset_sha256, inputs.teacher_sha256[seed], model, weights, cfg, split)
    cached = Path(out_dir) / "cache" / f"{model}-seed{seed}-{key}.json"
    if cached.is_file():
        return json.loads(cached.read_text())
    run_dir = Path(out_dir) / "runs" / model / f"seed{seed}"
    tags = {"ablation_model": model, "ablation_seed": str(seed), "ablation_reference": params.ablation.reference}
    started = time.perf_counter()
    with stage_logger(_tracking(params), f"ablation/{model}/seed{seed}", inputs.dataset_dir, tags,
                      pipeline=False) as logger:
        metrics = distill_student(cfg, inputs.dataset_dir, teacher, run_dir, model, weights, logger,
                                  resume=True)
        predictor = Predictor.from_path(run_dir / "model.pt", reduced_decode=False)
        pred = score_in_chunks(predictor, inputs.files, params.evaluate.batch_size, f"score {model} seed {seed}")
        row = {"model": model, "weights": weights, "seed": seed, "split": split, "teacher": str(teacher),
               "init_from_teacher": cfg.init_from_teacher,
               "epochs": cfg.train.head_epochs + cfg.train.epochs,
               "steps": int(metrics.get("steps", 0)), "wall_s": round(time.perf_counter() - started, 1),
               "best_val_srcc": metrics.get("val_srcc"), "srcc": srcc(pred, inputs.mos),
               "plcc": plcc(pred, inputs.mos), "pred": [float(v) for v in pred]}
        if logger is not None:
            logger.log_metrics({f"{split}_srcc": row["srcc"], f"{split}_plcc": row["plcc"]}, step=row["steps"])
    write_json(cached, row)
    return row


def cost_of(params, inputs: Inputs, model: str, checkpoint: str | os.PathLike, out_dir: str | os.PathLike) -> dict:
    """Params and GMACs at ``summary`` size, the ORT latency / peak memory of the model's ONNX file, and the int8
    drift (|ΔSRCC| on the evaluated split, bound ``export.int8_max_srcc_drop``) of a static QDQ copy."""
    s, a, e = params.summary, params.ablation, params.export
    c = complexity(model, s.height, s.width)
    onnx_path = Path(out_dir) / "onnx" / f"{model}.onnx"
    net, name, meta, version = load_source(checkpoint)
    if not onnx_path.is_file():
        export_onnx(net, onnx_path, build_metadata(name, net, meta, version, None))
    m = measure_isolated(onnx_path, s.width, s.height, a.latency_threads, a.latency_repeats)
    int8_path = onnx_path.with_suffix(".int8.onnx")
    policy = ResolutionPolicy(**meta["resolution"]) if isinstance(meta.get("resolution"), dict) \
        else ResolutionPolicy()
    if not int8_path.is_file():
        calib, _ = quantize.split_files(inputs.dataset_dir, "train", e.calibration_images)
        quantize.quantize_int8(onnx_path, int8_path, calib, policy, e.per_channel, e.calibrate_method)
    fp32_s, int8_s = session(onnx_path), session(int8_path)
    fp32 = quantize.score_files(lambda x: run_onnx(fp32_s, x), inputs.files, policy, "drift fp32", net.normalisation)
    int8 = quantize.score_files(lambda x: run_onnx(int8_s, x), inputs.files, policy, "drift int8", net.normalisation)
    drift = quantize.drift(fp32, int8, inputs.mos)
    ships, _ = quantize.int8_gate(drift, e.int8_max_srcc_drop)
    return {"params_m": round(c.params_m, 3), "gmacs": round(c.gmacs, 2), "ort_ms": round(1000 * m["latency_s"], 1),
            "mem_mb": None if m["mem_mb"] is None else round(m["mem_mb"], 1),
            "int8_delta_srcc": drift.get("delta_srcc"), "int8_within_bound": ships}


def summarise(params, runs: dict[str, list[dict]], costs: dict[str, dict], mos: np.ndarray) -> dict:
    """Per-model means over seeds, paired-bootstrap SRCC differences to the reference, and the winner."""
    a = params.ablation
    ref_runs = runs[a.reference]
    rows = []
    for model, model_runs in runs.items():
        sr = np.array([r["srcc"] for r in model_runs])
        pl = np.array([r["plcc"] for r in model_runs])
        row = {"model": model, "weights": model_runs[0].get("weights"), "reference": model == a.reference,
               **costs.get(model, {}), "seeds": len(model_runs),
               "steps": model_runs[0]["steps"], "srcc_mean": float(sr.mean()), "srcc_sd": float(sr.std(ddof=0)),
               "srcc_min": float(sr.min()), "srcc_max": float(sr.max()), "plcc_mean": float(pl.mean()),
               "srcc_by_seed": [round(float(v), 4) for v in sr]}
        if model != a.reference:
            d = paired_bootstrap_diff([r["pred"] for r in model_runs], [r["pred"] for r in ref_runs], mos,
                                      "srcc", n_boot=a.n_boot, seed=params.evaluate.seed)
            row.update(diff=d.observed, diff_low=d.low, diff_high=d.high)
        rows.append(row)
    best = max(r["srcc_mean"] for r in rows)
    for row in rows:
        row["qualifies"] = bool(row["srcc_mean"] >= best - a.ship_within)
    qualifying = [r for r in rows if r["qualifies"]]
    winner = min(qualifying, key=lambda r: r.get("gmacs", np.inf))["model"]
    t = params.distill_student.train
    return {"reference": a.reference, "split": params.evaluate.split, "epochs": t.head_epochs + t.epochs,
            "start": a.start,
            "seeds": list(a.seeds), "resolution": f"{params.summary.width}x{params.summary.height}",
            "rule": {"ship_within": a.ship_within, "best_srcc_mean": best,
                     "text": f"cheapest by GMACs with mean SRCC >= best mean {best:.3f} - {a.ship_within:g}",
                     "int8_max_srcc_drop": params.export.int8_max_srcc_drop},
            "winner": winner, "rows": rows}


def markdown(result: dict) -> str:
    lines = [f"Reference `{result['reference']}`; {result['epochs']} epochs per run (equal steps), seeds "
             f"{result['seeds']}, {_teachers_text(result)}, students start: {result.get('start', 'fresh')}; "
             f"{result['split']} split. Rule: {result['rule']['text']}. Winner: `{result['winner'] or 'none'}`.", "",
             "| model | weights | params (M) | GMACs | ORT ms | memory MB | int8 ΔSRCC | SRCC mean ± sd | PLCC mean "
             "| ΔSRCC vs ref [95 % CI] | qualifies |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        diff = ("reference" if r["reference"]
                else f"{r['diff']:+.3f} [{r['diff_low']:+.3f}, {r['diff_high']:+.3f}]")
        ok = "yes" if r["qualifies"] else "no"
        int8 = "–" if r.get("int8_delta_srcc") is None else f"{r['int8_delta_srcc']:+.3f}"
        lines.append(f"| `{r['model']}` | {r.get('weights') or 'random'} | {r.get('params_m', '–')} "
                     f"| {r.get('gmacs', '–')} | {r.get('ort_ms', '–')} | {r.get('mem_mb', '–')} | {int8} "
                     f"| {r['srcc_mean']:.3f} ± {r['srcc_sd']:.3f} | {r['plcc_mean']:.3f} | {diff} | {ok} |")
    return "\n".join(lines) + "\n"


def _teachers_text(result: dict) -> str:
    teachers = result.get("teachers") or [result.get("teacher")]
    return "one teacher" if len(set(teachers)) == 1 else "one teacher per seed"


def run_ablation(params, dataset_dir: str | os.PathLike, teacher: str | os.PathLike | Sequence[str | os.PathLike],
                 out_dir: str | os.PathLike, only: tuple[str, ...] = (), progress=print) -> dict | None:
    """Run (or load) every (model, seed); with ``only``, just those models' runs (no summary: ``None``).
    Otherwise write ``ablation.json``, ``ablation.md`` and ``ablation.png`` in ``out_dir`` and return the result."""
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
        costs[model] = cost_of(params, inputs, model, out_dir / "runs" / model /
                               f"seed{params.ablation.seeds[0]}" / "model.pt", out_dir)
    result = summarise(params, runs, costs, inputs.mos)
    result.update(teachers=[str(inputs.teachers[s]) for s in params.ablation.seeds],
                  teacher_sha256=[inputs.teacher_sha256[s] for s in params.ablation.seeds],
                  dataset_sha256=inputs.dataset_sha256)
    cost_vs_accuracy(result["rows"], out_dir / "ablation.png",
                     f"students, {result['epochs']} epochs x {len(result['seeds'])} seeds", result["resolution"])
    write_json(out_dir / "ablation.json", result)
    write_text(out_dir / "ablation.md", markdown(result))
    _log_summary(params, dataset_dir, result, out_dir)
    return result


def _log_summary(params, dataset_dir, result: dict, out_dir: Path) -> None:
    """One MLflow run ``ablation/summary`` with every model's seed means and cost, and the three files."""
    with stage_logger(_tracking(params), "ablation/summary", dataset_dir,
                      {"ablation_winner": str(result["winner"])}, context="evaluation", pipeline=False) as logger:
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
    plot = Path(plot_dir) / "ablation_cost_vs_srcc.png"
    plot.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(out_dir) / "ablation.png", plot)
    rows = []
    for r in result["rows"]:
        rows.append({"model": r["model"], "weights": r.get("weights") or "random",
                     "params M": r.get("params_m"), "GMACs": r.get("gmacs"),
                     "ORT ms (1 thread)": r.get("ort_ms"), "memory MB": r.get("mem_mb"),
                     "int8 ΔSRCC": r.get("int8_delta_srcc"),
                     "SRCC mean": round(r["srcc_mean"], 3), "SRCC sd": round(r["srcc_sd"], 3),
                     "PLCC mean": round(r["plcc_mean"], 3),
                     "ΔSRCC vs ref": "reference" if r["reference"] else round(r["diff"], 3),
                     "95 % CI": "" if r["reference"] else f"[{r['diff_low']:+.3f}, {r['diff_high']:+.3f}]",
                     "qualifies": "yes" if r["qualifies"] else "no"})
    out = {"machine": machine_id(), "command": command, "date": dt.date.today().isoformat(),
           "notes": f"Reference `{result['reference']}`; {result['epochs']} distillation epochs per run (equal "
                    f"steps) from {_teachers_text(result)}, students start: {result.get('start', 'fresh')}, seeds "
                    f"{result['seeds']}, {result['split']} split; latency and "
                    f"memory of the ONNX file at {result['resolution']}. Winner: `{result['winner'] or 'none'}`.",
           "dataset_sha256": result["dataset_sha256"], "rows": rows, "plots": [plot.as_posix()]}
    path = Path(results_dir) / out["machine"] / "ablation.json"
    write_json(path, out)
    return path
