"""CPU training benchmark (issue 4's target): teacher training + distillation from scratch on the default
dataset with the default params, timed per stage, then the best epochs scored on the validation and test splits.

    python benchmarks/train_cpu.py [--params params.yaml] [--dataset artifacts/dataset] [--work /tmp/train_cpu]
        [--set train_teacher.epochs=2 ...] [--out benchmarks/results/<machine>/train_cpu.json]

Tracking is off (the stages are timed, not MLflow). Target: teacher + distillation <= 20 min on 2 cores and a
student with test SRCC >= 0.85, within 0.03 of the teacher. Prints and writes numbers, asserts nothing; the CPU
may be shared, so seconds per optimiser step are reported next to wall times.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import torch

from mobileiqa.atomic import write_json
from mobileiqa.config import load_params
from mobileiqa.data.manifest import read_manifest
from mobileiqa.data.prepare import PreparedDataset
from mobileiqa.eval.compute import machine_id
from mobileiqa.models.checkpoint import load_model
from mobileiqa.train.recipe import predict, split_images, split_metrics
from mobileiqa.train.stages import run_distill_student, run_train_teacher

ROOT = Path(__file__).resolve().parents[1]


def score(model_path: Path, dataset_dir: Path, params, batch: int) -> dict:
    """SRCC/PLCC/KRCC/RMSE of ``model_path`` on the val and test splits (whole images, the shared policy)."""
    model, _ = load_model(model_path)
    dataset = PreparedDataset.load(dataset_dir)
    frame = read_manifest(dataset.manifest)
    out = {}
    for split in ("val", "test"):
        images = split_images(dataset, frame, split, params.train_teacher.resolution)
        pred = predict(model, images, batch, torch.device("cpu"))
        out.update({k: round(v, 4) for k, v in split_metrics(pred, images.mos.numpy(), split).items()})
    return out


def stage_row(seconds: float, metrics: dict, cfg) -> dict:
    hist = metrics["history"]
    train_s = sum(h.get("train_seconds", 0.0) for h in hist)
    steps = max(1, int(metrics.get("steps", 0)))
    return {"wall_s": round(seconds, 1), "epochs": len(hist), "steps": steps, "train_s": round(train_s, 1),
            "s_per_step": round(train_s / steps, 3), "crops_per_step": cfg.batch_size * cfg.crops_per_image,
            "eval_and_overhead_s": round(seconds - train_s, 1), "best_epoch": metrics["best_epoch"],
            "val_srcc_by_epoch": [round(h["val_srcc"], 4) for h in hist]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default=str(ROOT / "params.yaml"))
    ap.add_argument("--overlay", action="append", default=[])
    ap.add_argument("--set", action="append", default=[], dest="overrides")
    ap.add_argument("--dataset", default=str(ROOT / "artifacts/dataset"))
    ap.add_argument("--work", default="/tmp/mobileiqa_train_cpu", help="where the runs write model.pt etc.")
    ap.add_argument("--out", help="result file (default: benchmarks/results/<machine>/train_cpu.json)")
    args = ap.parse_args()
    params = load_params(args.params, args.overlay, ["tracking.enabled=false", *args.overrides])
    dataset, work = Path(args.dataset), Path(args.work)

    t0 = time.perf_counter()
    teacher = run_train_teacher(params, dataset, work / "teacher")
    t1 = time.perf_counter()
    student = run_distill_student(params, dataset, work / "teacher" / "model.pt", work / "student")
    t2 = time.perf_counter()
    batch = params.train_teacher.eval_batch_size or params.train_teacher.batch_size
    result = {
        "machine": machine_id(),
        "host": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "load_avg_at_end": os.getloadavg()},
        "params": {"teacher": params.models.teacher, "student": params.models.student, "overrides": args.overrides},
        "total_wall_s": round(t2 - t0, 1),
        "teacher": {**stage_row(t1 - t0, teacher, params.train_teacher),
                    **score(work / "teacher" / "model.pt", dataset, params, batch)},
        "student": {**stage_row(t2 - t1, student, params.distill_student.train),
                    **score(work / "student" / "model.pt", dataset, params, batch)},
    }
    for role in ("teacher", "student"):
        r = result[role]
        print(f"{role:8s} {params.models.teacher if role == 'teacher' else params.models.student}: "
              f"wall {r['wall_s']:.0f} s ({r['s_per_step']:.2f} s/step), best epoch {r['best_epoch']}, "
              f"val SRCC {r['val_srcc']:.4f}, test SRCC {r['test_srcc']:.4f}")
    gap = result["teacher"]["test_srcc"] - result["student"]["test_srcc"]
    result["student_minus_teacher_test_srcc"] = round(-gap, 4)
    print(f"total {result['total_wall_s']:.0f} s (target <= 1200 s); student test SRCC "
          f"{result['student']['test_srcc']:.4f} (target >= 0.85, within 0.03 of the teacher: gap {gap:+.4f})")
    out = args.out or ROOT / "benchmarks" / "results" / machine_id() / "train_cpu.json"
    write_json(out, result)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
