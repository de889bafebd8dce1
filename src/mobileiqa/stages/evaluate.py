"""The ``evaluate`` stage: scores the student (and, when given, the teacher) through
:class:`mobileiqa.predict.Predictor`, joins the classic baselines of the ``baselines`` stage, and writes:

    metrics.json      every scorer's metrics (raw + logistic, 95 % intervals, per type/level), paired comparisons,
                      behavioural checks, dataset hash — the DVC metrics file
    predictions.csv   one row per image: id, MOS, distortion, one column per scorer — a DVC plot (scatter)
    report.md         the accuracy table (model rows and baselines), SRCC per distortion type and, for a student
                      with explanation heads, their accuracy (map, spread, pointing on the quadrant set)
    plots/*.png       scatter with logistic fit, per-distortion SRCC bars, behaviour curves, the quadrant set and
                      the best/worst images with their maps
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from mobileiqa.atomic import write_csv, write_json, write_text
from mobileiqa.config import Params
from mobileiqa.data.images import load_rgb_array
from mobileiqa.data.manifest import PreparedDataset
from mobileiqa.eval import plots
from mobileiqa.eval.baselines import get_baseline, score_images
from mobileiqa.eval.behaviour import behaviour_checks
from mobileiqa.eval.explain import evaluate_explanations, explain_checks, explain_in_chunks, report_section
from mobileiqa.eval.metrics import LogisticFit
from mobileiqa.eval.scorecard import (
    Column,
    column_metrics,
    compare,
    markdown_table,
    per_type_table,
    score_in_chunks,
)
from mobileiqa.eval.targets import EPS, floor_checks
from mobileiqa.predict import Predictor, maps
from mobileiqa.stages.baselines import evaluated_split, join_baselines
from mobileiqa.stages.mlflow_run import log_files, log_metrics, stage_logger


def _references(dataset: PreparedDataset, frame: pd.DataFrame, count: int) -> list[tuple[str, np.ndarray]]:
    """Pristine references of the split's photos (the default dataset keeps them in refs/), first ``count`` by id."""
    refs = []
    for content_id in sorted(frame["content_id"].astype(str).unique()):
        path = dataset.root / "refs" / f"{content_id}.png"
        if path.is_file():
            refs.append((content_id, load_rgb_array(path)))
        if len(refs) == count:
            break
    return refs


def run_evaluate(params: Params, dataset_dir: str | os.PathLike, model_path: str | os.PathLike,
                 out_dir: str | os.PathLike, teacher_path: str | os.PathLike | None = None,
                 baselines_dir: str | os.PathLike | None = None, run_record: str | os.PathLike | None = None) -> dict:
    """Evaluate the student (and optionally the teacher) with the baselines on ``evaluate.split``, in the stage's
    MLflow run (the whole evaluation: its duration and system metrics)."""
    with stage_logger(params, "evaluate", dataset_dir, context="evaluation", record=run_record) as logger:
        out, results, figures = _evaluate(params, dataset_dir, model_path, Path(out_dir), teacher_path, baselines_dir)
        log_metrics(logger, {f"{name}_{k}": r[k] for name, r in results.items()
                             for k in ("srcc", "krcc", "plcc", "plcc_logistic")})
        log_files(logger, *(Path(out_dir) / f for f in ("metrics.json", "report.md", "predictions.csv")), *figures)
    return out


def _evaluate(params: Params, dataset_dir: str | os.PathLike, model_path: str | os.PathLike, out_dir: Path,
              teacher_path: str | os.PathLike | None, baselines_dir: str | os.PathLike | None):
    cfg = params.evaluate
    dataset, frame = evaluated_split(dataset_dir, params.evaluate.split)
    files = list(frame["file"])
    models = {"student": Predictor.from_path(model_path, reduced_decode=False)}
    if teacher_path is not None:
        models["teacher"] = Predictor.from_path(teacher_path, reduced_decode=False)
    columns, explained = [], None
    for name, predictor in models.items():
        if name == "student" and predictor.explains:  # scores, maps and spreads in one pass
            explained = explain_in_chunks(predictor.explain, files, cfg.batch_size, f"score + explain {name}")
            frame[name] = explained.score
        else:
            frame[name] = score_in_chunks(predictor, files, cfg.batch_size, f"score {name}")
        columns.append(Column(name, "model", predictor.scale.higher_is_better))
    if baselines_dir is not None:
        kinds = join_baselines(frame, Path(baselines_dir), dataset, cfg.split)
    else:
        kinds = {}
        for name in cfg.baselines:
            frame[name] = score_images(name, files, progress=True)
            kinds[name] = {"higher_is_better": bool(get_baseline(name).higher_is_better)}
    columns += [Column(name, "baseline", bool(k["higher_is_better"])) for name, k in kinds.items()]

    results = {c.name: column_metrics(frame, c, cfg.n_boot, cfg.seed) for c in columns}
    by_name = {c.name: c for c in columns}
    comparisons = {}
    if "teacher" in by_name:
        comparisons["student_minus_teacher"] = compare(frame, by_name["student"], by_name["teacher"], cfg.n_boot,
                                                       cfg.seed)
    baselines = [c for c in columns if c.kind == "baseline"]
    if baselines:
        best = max(baselines, key=lambda c: results[c.name]["srcc"] or -1)
        comparisons[f"student_minus_{best.name}"] = compare(frame, by_name["student"], best, cfg.n_boot, cfg.seed)
    student = models["student"]
    refs = _references(dataset, frame, cfg.behaviour.photos)
    behaviour = None
    if refs:
        behaviour = behaviour_checks(student, refs, cfg.behaviour.types, cfg.behaviour.reencode_quality,
                                     float(frame["student"].std()), cfg.behaviour.flat_tolerance)

    out = {"split": cfg.split, "n": len(frame), "dataset_sha256": dataset.manifest_sha256,
           "model_path": str(model_path), "model": results["student"], "teacher": results.get("teacher"),
           "baselines": {c.name: results[c.name] for c in baselines}, "comparisons": comparisons,
           "behaviour": behaviour if behaviour is not None else "skipped: the dataset keeps no reference photos"}
    figures = []
    if explained is not None:
        def draw(file, quality_map, score, spread):
            photo = maps.display_photo(file, student.max_pixels)
            return maps.figure(photo, quality_map, score, spread, student.scale)

        out["explain"], figures = evaluate_explanations(student.explain, draw, files, frame, explained, dataset.root,
                                                        cfg.split, cfg.localised, cfg.explain, cfg.batch_size,
                                                        out_dir / "plots")
        frame["student_spread"] = explained.spread
    else:
        out["explain"] = "skipped: the student has no explanation heads"
    out["verdict"] = verdict(out, params)
    keep = ["image_id", "mos", "dist_type", "dist_level", *[c.name for c in columns]]
    keep += ["student_spread"] if explained is not None else []
    write_csv(out_dir / "predictions.csv", frame[keep])
    figures = _plots(frame, results, behaviour, out_dir / "plots") + figures
    write_text(out_dir / "report.md", _report(out, results))
    write_json(out_dir / "metrics.json", out)
    return out, results, figures


def _plots(frame: pd.DataFrame, results: dict, behaviour: dict | None, folder: Path) -> list[Path]:
    model = results["student"]
    fit = LogisticFit(**model["fit"]) if model.get("fit") else None
    figures = [plots.scatter_with_fit(frame["student"], frame["mos"], fit, folder / "scatter.png",
                                      "student: prediction vs MOS", model["srcc"])]
    per_type = {name: r["per_type"] for name, r in results.items() if "per_type" in r}
    if per_type:
        figures.append(plots.grouped_bars(per_type, folder / "per_type_srcc.png", "SRCC",
                                          "SRCC per distortion type (baselines sign-adjusted)"))
    if behaviour:
        curves = {t: b["mean_score_per_level"] for t, b in behaviour["types"].items()}
        figures.append(plots.level_curves(curves, folder / "behaviour.png", "student score vs distortion level"))
    return figures


#: how the report names each check of :mod:`mobileiqa.eval.targets`
FLOOR_LABELS = {"srcc_floor": "SRCC floor (register.min_srcc)",
                "beats_baselines": "beats the best baseline (register.min_srcc_over_baselines)"}


def verdict(out: dict, params: Params) -> list[dict]:
    """Each target and gate this evaluation can judge, with its figure: the registry's absolute floors
    (:func:`mobileiqa.eval.targets.floor_checks`) and the behaviour target (``evaluate.behaviour.falling_target``
    of each type's series falling at every level). Rows: ``{name, check, passed, figure}``."""
    reg = params.register
    floors = floor_checks(out["model"]["srcc"], {k: v.get("srcc") for k, v in out["baselines"].items()},
                          reg.min_srcc, reg.min_srcc_over_baselines)
    rows = [{"name": c.name, "check": FLOOR_LABELS[c.name], "passed": c.passed, "figure": c.detail} for c in floors]
    if isinstance(out["behaviour"], dict):
        target = params.evaluate.behaviour.falling_target
        for name, b in out["behaviour"]["types"].items():
            rows.append({"name": f"falling_{name}",
                         "check": f"score falls with the {name} level (evaluate.behaviour.falling_target)",
                         "passed": b["falling_fraction"] >= target - EPS,
                         "figure": f"{b['falling_fraction']:.0%} of series vs {target:.0%}"})
    if isinstance(out.get("explain"), dict):
        rows += explain_checks(out["explain"], params.evaluate.explain)
    return rows


def _verdict_block(rows: list[dict]) -> list[str]:
    failed = sum(not r["passed"] for r in rows)
    head = "every check passes" if not failed else f"{failed} of {len(rows)} checks FAIL"
    lines = [f"## Verdict: {head}\n", "| check | result | figure |", "|---|---|---|"]
    lines += [f"| {r['check']} | {'pass' if r['passed'] else '**FAIL**'} | {r['figure']} |" for r in rows]
    lines.append("\nLatency and int8 drift are judged at export and registration (`export.json`, `registered.json`).\n")
    return lines


def _report(out: dict, results: dict) -> str:
    parts = [f"# Evaluation on the {out['split']} split ({out['n']} images)\n", *_verdict_block(out["verdict"]),
             f"Dataset manifest sha256 `{out['dataset_sha256'][:16]}`. Baselines are lower-is-better scores, negated "
             "before every metric so that all correlations read the same way.\n", markdown_table(results)]
    for name, diff in out["comparisons"].items():
        d = diff["srcc"]
        parts.append(f"- {name.replace('_', ' ')}: ΔSRCC {d['observed']:+.4f} (95 % CI {d['low']:+.4f} to "
                     f"{d['high']:+.4f})")
    kinds = per_type_table(results, "per_kind", "kind")
    if kinds:
        parts += ["\n## SRCC by kind: KADID's types, phone-camera families, mixtures\n", kinds]
    table = per_type_table(results)
    if table:
        parts += ["\n## SRCC per distortion type (mixtures as one)\n", table]
    if isinstance(out["behaviour"], dict):
        parts.append("\n## Behaviour\n")
        tol = next(iter(out["behaviour"]["types"].values()), {}).get("flat_tolerance", 0.0)
        parts.append(f"| distortion | mean Spearman(level, score) | falling at every level (a rise < {tol:g} "
                     "counts as flat) |\n|---|---|---|")
        for t, b in out["behaviour"]["types"].items():
            parts.append(f"| {t} | {b['mean_spearman_level_vs_score']:+.3f} | {b['falling_fraction']:.0%} |")
        r = out["behaviour"]["reencode"]
        parts.append(f"\nJPEG q{r['quality']} re-encode: mean |Δscore| {r['mean_abs_shift']:.4f} "
                     f"(split score std {r['split_score_std']:.4f}).")
    if isinstance(out.get("explain"), dict):
        parts += report_section(out["explain"])
    return "\n".join(parts) + "\n"
