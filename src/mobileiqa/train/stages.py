"""The ``train_teacher`` and ``distill_student`` pipeline stages: config in, tracked run, files out.

The CLI, DVC and Kubeflow call these; they add MLflow tracking (when ``tracking.enabled``) and plots around
:func:`~mobileiqa.train.teacher.train_teacher` and :func:`~mobileiqa.train.distill.distill_student`.
"""

from __future__ import annotations

import os
from pathlib import Path

from mobileiqa.config import Params
from mobileiqa.eval.plots import training_curves
from mobileiqa.tracking.stage_run import stage_logger


def _artifacts(logger, out_dir: Path, metrics: dict, title: str) -> None:
    if not metrics:  # not rank 0
        return
    plot = training_curves(metrics["history"], out_dir / "training_curves.png", title)
    if logger is not None:
        for path in (out_dir / "model.pt", out_dir / "metrics.json", plot):
            logger.log_artifact(path)


def run_train_teacher(params: Params, dataset_dir: str | os.PathLike, out_dir: str | os.PathLike,
                      resume: bool = False) -> dict:
    from mobileiqa.train.teacher import train_teacher

    out_dir = Path(out_dir)
    with stage_logger(params, "train_teacher", dataset_dir) as logger:
        metrics = train_teacher(params.train_teacher, dataset_dir, out_dir, params.models.teacher,
                                params.models.teacher_weights, logger, resume)
        _artifacts(logger, out_dir, metrics, params.models.teacher)
    return metrics


def run_distill_student(params: Params, dataset_dir: str | os.PathLike, teacher_path: str | os.PathLike,
                        out_dir: str | os.PathLike, resume: bool = False) -> dict:
    from mobileiqa.train.distill import distill_student

    out_dir = Path(out_dir)
    with stage_logger(params, "distill_student", dataset_dir) as logger:
        metrics = distill_student(params.distill_student, dataset_dir, teacher_path, out_dir, params.models.student,
                                  params.models.student_weights, logger, resume)
        _artifacts(logger, out_dir, metrics, params.models.student)
    return metrics
