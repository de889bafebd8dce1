"""The ``train_teacher`` and ``distill_student`` pipeline stages: config in, tracked run, files out.

The CLI, DVC and Kubeflow call these; they add MLflow tracking (when ``tracking.enabled``) and plots around
:func:`~mobileiqa.train.teacher.train_teacher` and :func:`~mobileiqa.train.distill.distill_student`.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from mobileiqa.config import Params, as_flat_dict
from mobileiqa.data.prepare import PreparedDataset
from mobileiqa.eval.plots import training_curves
from mobileiqa.train.recipe import git_commit


def _logger(params: Params, stage: str, dataset_dir):
    from mobileiqa.train.distributed import from_env

    if not params.tracking.enabled or not from_env().main:  # only rank 0 tracks
        return contextlib.nullcontext(None)
    from mobileiqa.tracking.mlflow_logger import MlflowLogger

    dataset = PreparedDataset.load(dataset_dir)
    tags = {"stage": stage, "git_commit": git_commit(), "dataset_sha256": dataset.manifest_sha256,
            "dataset_source": dataset.source}
    return MlflowLogger(params.tracking, stage, as_flat_dict(params), tags)


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
    with _logger(params, "train_teacher", dataset_dir) as logger:
        metrics = train_teacher(params.train_teacher, dataset_dir, out_dir, params.models.teacher,
                                params.models.teacher_weights, logger, resume)
        _artifacts(logger, out_dir, metrics, params.models.teacher)
    return metrics


def run_distill_student(params: Params, dataset_dir: str | os.PathLike, teacher_path: str | os.PathLike,
                        out_dir: str | os.PathLike, resume: bool = False) -> dict:
    from mobileiqa.train.distill import distill_student

    out_dir = Path(out_dir)
    with _logger(params, "distill_student", dataset_dir) as logger:
        metrics = distill_student(params.distill_student, dataset_dir, teacher_path, out_dir, params.models.student,
                                  params.models.student_weights, logger, resume)
        _artifacts(logger, out_dir, metrics, params.models.student)
    return metrics
