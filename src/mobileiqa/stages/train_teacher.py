"""The ``train_teacher`` stage: the teacher trained on the prepared dataset (:mod:`mobileiqa.train.teacher`),
in an MLflow run when ``tracking.enabled``; writes ``model.pt``, ``metrics.json`` and ``training_curves.png``."""

from __future__ import annotations

import os
from pathlib import Path

from mobileiqa.config import Params
from mobileiqa.stages.mlflow_run import stage_logger
from mobileiqa.stages.training_run import log_training_outputs
from mobileiqa.train.teacher import train_teacher


def run_train_teacher(params: Params, dataset_dir: str | os.PathLike, out_dir: str | os.PathLike,
                      resume: bool = False, run_record: str | os.PathLike | None = None) -> dict:
    """Train ``models.teacher`` with the ``train_teacher`` recipe; returns the metrics (``{}`` off rank 0)."""
    out_dir = Path(out_dir)
    with stage_logger(params, "train_teacher", dataset_dir, record=run_record) as logger:
        metrics = train_teacher(params.train_teacher, dataset_dir, out_dir, params.models.teacher,
                                params.models.teacher_weights, logger, resume)
        log_training_outputs(logger, out_dir, metrics, params.models.teacher)
    return metrics
