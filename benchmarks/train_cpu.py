"""CPU training benchmark: teacher training + distillation on the default dataset with the default params, timed
per stage, then the best epochs scored on the validation and test splits; one result row per seed.

    python benchmarks/train_cpu.py [--seed 1] [--params params.yaml] [--dataset artifacts/dataset]
        [--work /tmp/train_cpu] [--set train_teacher.epochs=2 ...] [--out benchmarks/results/<machine>/train_cpu.json]
    python benchmarks/train_cpu.py --existing artifacts --seed 0    # score a finished run (e.g. `dvc repro`'s)
    python benchmarks/train_cpu.py --seed 1 --work DIR --resume     # continue an interrupted run (times not kept)

Tracking is off (the stages are timed, not MLflow). `--seed S` sets both stages' seeds. The result file keeps one
row per (seed, models, overrides) and a notes line with the mean and range over the rows of the current models,
so seeds run in separate processes (or sessions) add up. `--existing DIR` trains nothing: it scores
DIR/teacher/model.pt and DIR/student/model.pt (wall times then come from `pipeline_times.py`). Targets: both
stages <= 25 min on 2 cores; student test SRCC mean of 3 seeds >= 0.72 (no seed < 0.68), within 0.03 of the
teacher. Prints and writes numbers, asserts nothing; the CPU may be shared, so seconds per optimiser step are
reported next to wall times.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path

import torch

from mobileiqa.atomic import json_digest, write_json
from mobileiqa.config import load_params
from mobileiqa.data.manifest import PreparedDataset, read_manifest
from mobileiqa.environment import machine_id
from mobileiqa.eval.scorecard import type_srcc
from mobileiqa.models.checkpoint import load_model
from mobileiqa.stages.distill_student import run_distill_student
from mobileiqa.stages.train_teacher import run_train_teacher
from mobileiqa.train.batches import split_images
from mobileiqa.train.scoring import predict, split_metrics
from mobileiqa.train.settings import recipe_dict

ROOT = Path(__file__).resolve().parents[1]


def score(model_path: Path, dataset_dir: Path, params, batch: int) -> dict:
    """SRCC/PLCC/KRCC/RMSE of ``model_path`` on the val and test splits (whole images, the shared policy,
    normalised as the model was trained), and the test SRCC per distortion type (``test_per_type``; mixtures as
    one) and per kind (``test_per_kind``: KADID types, phone families, mixtures; when the dataset has them)."""
    model, _ = load_model(model_path)
    dataset = PreparedDataset.load(dataset_dir)
    frame = read_manifest(dataset.manifest)
    out = {}
    for split in ("val", "test"):
        images = split_images(dataset, frame, split, params.train_teacher.resolution, norm=model.normalisation)
        pred = predict(model, images, batch, torch.device("cpu"))
        out.update({k: round(v, 4) for k, v in split_metrics(pred, images.mos.numpy(), split).items()})
        if split == "test":
            # None: fewer than 3 images of the type
            by_type = type_srcc(pred, images.mos.numpy(), images.frame["dist_type"])  # per_type, per_kind
            out.update({f"test_{k}": v for k, v in by_type.items()})
    return out


def stage_row(seconds: float | None, metrics: dict, cfg) -> dict:
    hist = metrics["history"]
    train_s = sum(h.get("train_seconds", 0.0) for h in hist)
    steps = max(1, int(metrics.get("steps", 0)))
    return {"wall_s": None if seconds is None else round(seconds, 1), "epochs": len(hist), "steps": steps,
            "train_s": round(train_s, 1), "s_per_step": round(train_s / steps, 3),
            "crops_per_step": cfg.batch_size * cfg.crops_per_image,
            "eval_and_overhead_s": None if seconds is None else round(seconds - train_s, 1),
            "best_epoch": metrics["best_epoch"],
            "val_srcc_by_epoch": [round(h["val_srcc"], 4) for h in hist if "val_srcc" in h]}


def _minutes(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 60, 1)


# recipe fields added after rows were recorded: off (their defaults) they stay out of the digest
ADDED = ("annotator_weight", "local_map_weight")


def recipe_digest(params) -> str:
    """A short hash of everything but the seeds that decides both stages' scores (models, weights, the two recipes;
    not the explanation heads, which read the student's features and never change its score), so rows of one recipe
    add up across sessions and rows of an older default never mix into the current one's mean."""
    # thread counts are resources, like seeds left out: normalised to the values of the rows recorded before they
    # became defaults of their own (one thread, caching on the training threads)
    t = dataclasses.replace(params.train_teacher, seed=0, threads=1, cache_threads=0)
    d = params.distill_student
    d = dataclasses.replace(d, train=dataclasses.replace(d.train, seed=0, threads=1, cache_threads=0))
    distill = {k: v for k, v in dataclasses.asdict(d).items() if k != "explain"}  # the heads never move the score
    distill["train"] = recipe_dict(d.train, ADDED)
    return json_digest({"models": dataclasses.asdict(params.models), "train_teacher": recipe_dict(t, ADDED),
                        "distill_student": distill}, length=12)


def _key(run: dict) -> tuple:
    # the recipe digest already covers the overrides; rows of another dataset never mix
    return run["seed"], run["params"].get("recipe"), run["params"].get("dataset")


def flat_row(run: dict) -> dict:
    """The table row of one run: seed, both stages' val/test SRCC, the student's PLCC and the times."""
    t, s = run["teacher"], run["student"]
    return {"seed": run["seed"], "teacher": run["params"]["teacher"], "student": run["params"]["student"],
            "recipe": run["params"].get("recipe", "–"), "overrides": " ".join(run["params"]["overrides"]) or "–",
            "teacher val / test SRCC": f"{t['val_srcc']:.3f} / {t['test_srcc']:.3f}",
            "student val / test SRCC": f"{s['val_srcc']:.3f} / {s['test_srcc']:.3f}",
            "student test PLCC": s["test_plcc"], "student − teacher (test)": round(s["test_srcc"] - t["test_srcc"], 4),
            "teacher min": _minutes(t["wall_s"]), "student min": _minutes(s["wall_s"]),
            "s/step (t / s)": f"{t['s_per_step']:.2f} / {s['s_per_step']:.2f}"}


_TIMES = ("wall_s", "eval_and_overhead_s")


def _keep_times(run: dict, before: dict | None) -> dict:
    """``run`` with the wall times of ``before`` (the same seed and recipe) where ``run`` has none: rescoring a
    finished run (``--existing``) trains nothing, so it keeps the times its training recorded."""
    if before is None or run.get("total_wall_s") is not None:
        return run
    run = {**run, "total_wall_s": before.get("total_wall_s")}
    for role in ("teacher", "student"):
        run[role] = {**run[role], **{k: before[role].get(k) for k in _TIMES if run[role].get(k) is None}}
    return run


def per_type_means(runs: list[dict]) -> dict[str, float]:
    """Mean student test SRCC per distortion type over the ``runs`` that recorded it (all of them must)."""
    tables = [r["student"].get("test_per_type") for r in runs]
    if not tables or any(t is None for t in tables):
        return {}
    values = {t: [tab.get(t) for tab in tables] for t in tables[0]}
    return {t: round(statistics.mean(v), 4) for t, v in values.items() if None not in v}


def merge(out: Path, run: dict, default_recipe: str) -> dict:
    """``out``'s result with ``run`` added (replacing a run of the same seed and recipe, whose wall times a
    rescoring keeps); the notes line summarises the runs of ``default_recipe`` (the digest of today's default
    params), with the per-type 3-seed means when every one of those runs recorded them."""
    old = json.loads(out.read_text()) if out.exists() else {}
    before = next((r for r in old.get("runs", []) if _key(r) == _key(run)), None)
    run = _keep_times(run, before)
    runs = [r for r in old.get("runs", []) if _key(r) != _key(run)] + [run]
    runs.sort(key=lambda r: (r["params"]["teacher"], r["params"]["student"], r["seed"]))
    same = [r for r in runs if r["params"].get("recipe") == default_recipe
            and r["params"].get("dataset") == run["params"].get("dataset")]
    types = per_type_means(same)
    notes = ""
    if same:
        st = [r["student"]["test_srcc"] for r in same]
        te = [r["teacher"]["test_srcc"] for r in same]
        notes = (f"{same[0]['params']['teacher']} -> {same[0]['params']['student']}, the default recipe "
                 f"({default_recipe}), {len(same)} seed(s) "
                 f"{[r['seed'] for r in same]}: student test SRCC mean {statistics.mean(st):.3f} "
                 f"(range {min(st):.3f}-{max(st):.3f}), teacher {statistics.mean(te):.3f} "
                 f"(range {min(te):.3f}-{max(te):.3f}); test split of the default dataset, whole images at the "
                 "shared resolution policy. Wall times: the recipe's torch threads (one until 2026-12-06, one per "
                 "core since), other work may share the box.")
        kinds = [r["student"].get("test_per_kind") for r in same]
        if kinds and None not in kinds:
            notes += (" Student test SRCC by kind, mean over these seeds: " + ", ".join(
                f"{k} {statistics.mean(v):.3f}" for k in kinds[0]
                if (v := [t[k] for t in kinds if t.get(k) is not None])) + ".")
        if types:
            worst = min(types, key=types.get)
            negative = sorted(t for t, v in types.items() if v < 0)
            notes += (f" Student test SRCC per distortion type, mean over these seeds: lowest {worst} "
                      f"{types[worst]:.3f}; negative types: {', '.join(negative) or 'none'} "
                      f"(of {len(types)}).")
    return {"machine": run["machine"], "command": "python benchmarks/train_cpu.py --seed S (one process per seed)",
            "date": dt.date.today().isoformat(), "notes": notes, "per_type_mean": types,
            "rows": [flat_row(r) for r in runs], "runs": runs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default=str(ROOT / "params.yaml"))
    ap.add_argument("--overlay", action="append", default=[])
    ap.add_argument("--set", action="append", default=[], dest="overrides")
    ap.add_argument("--seed", type=int, help="seed of both stages (default: params.yaml's)")
    ap.add_argument("--dataset", default=str(ROOT / "artifacts/dataset"))
    ap.add_argument("--work", default="/tmp/mobileiqa_train_cpu", help="where the runs write model.pt etc.")
    ap.add_argument("--existing", help="score DIR/teacher and DIR/student instead of training")
    ap.add_argument("--resume", action="store_true",
                    help="continue an interrupted run in --work from its last checkpoints (its wall times are then "
                         "not recorded: they would miss the interrupted part)")
    ap.add_argument("--out", help="result file (default: benchmarks/results/<machine>/train_cpu.json)")
    args = ap.parse_args()
    seeds = [] if args.seed is None else [f"train_teacher.seed={args.seed}", f"distill_student.train.seed={args.seed}"]
    params = load_params(args.params, args.overlay, ["tracking.enabled=false", *seeds, *args.overrides])
    # the default recipe, read now: an edit of params.yaml during an hour-long run must not re-label its row
    default = recipe_digest(load_params(args.params, args.overlay, ["tracking.enabled=false"]))
    dataset = Path(args.dataset)
    work = Path(args.existing or args.work)

    if args.existing:
        missing = [p for p in (work / r / f for r in ("teacher", "student") for f in ("metrics.json", "model.pt"))
                   if not p.is_file()]
        if missing:
            sys.exit(f"--existing {work}: {', '.join(map(str, missing))} not found; point it at a finished run "
                     "(DIR/teacher and DIR/student, e.g. `artifacts` after `dvc repro`)")
        teacher = json.loads((work / "teacher" / "metrics.json").read_text())
        student = json.loads((work / "student" / "metrics.json").read_text())
        t0 = t1 = t2 = None
    else:
        t0 = time.perf_counter()
        teacher = run_train_teacher(params, dataset, work / "teacher", resume=args.resume)
        t1 = time.perf_counter()
        student = run_distill_student(params, dataset, work / "teacher" / "model.pt", work / "student",
                                      resume=args.resume)
        t2 = time.perf_counter()
        if args.resume:  # partial times would understate the stages
            t0 = t1 = t2 = None
    batch = params.train_teacher.eval_batch_size or params.train_teacher.batch_size
    run = {
        "machine": machine_id(),
        "seed": params.train_teacher.seed,
        "command": shlex.join(["python", "benchmarks/train_cpu.py", *sys.argv[1:]]),
        "host": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "load_avg_at_end": os.getloadavg()},
        "params": {"teacher": params.models.teacher, "student": params.models.student, "overrides": args.overrides,
                   "recipe": recipe_digest(params),
                   "dataset": PreparedDataset.load(dataset).manifest_sha256[:12]},
        "total_wall_s": None if t0 is None else round(t2 - t0, 1),
        "teacher": {**stage_row(None if t0 is None else t1 - t0, teacher, params.train_teacher),
                    **score(work / "teacher" / "model.pt", dataset, params, batch)},
        "student": {**stage_row(None if t0 is None else t2 - t1, student, params.distill_student.train),
                    **score(work / "student" / "model.pt", dataset, params, batch)},
    }
    for role in ("teacher", "student"):
        r = run[role]
        wall = "n/a" if r["wall_s"] is None else f"{r['wall_s']:.0f} s"
        print(f"{role:8s} {params.models.teacher if role == 'teacher' else params.models.student}: "
              f"wall {wall} ({r['s_per_step']:.2f} s/step), best epoch {r['best_epoch']}, "
              f"val SRCC {r['val_srcc']:.4f}, test SRCC {r['test_srcc']:.4f}")
    gap = run["teacher"]["test_srcc"] - run["student"]["test_srcc"]
    run["student_minus_teacher_test_srcc"] = round(-gap, 4)
    print(f"seed {run['seed']}: student test SRCC {run['student']['test_srcc']:.4f} (floor: mean of 3 seeds >= 0.72, "
          f"no seed < 0.68; within 0.03 of the teacher: gap {gap:+.4f})")
    out = Path(args.out or ROOT / "benchmarks" / "results" / machine_id() / "train_cpu.json")
    result = merge(out, run, default)
    write_json(out, result)
    print(result["notes"])
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
