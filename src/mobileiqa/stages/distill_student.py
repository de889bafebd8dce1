"""The ``distill_student`` stage: the student distilled from the trained teacher (:mod:`mobileiqa.train.distill`),
in an MLflow run when ``tracking.enabled``; writes ``model.pt``, ``metrics.json`` and ``training_curves.png``."""

from __future__ import annotations

import os
from pathlib import Path

from mobileiqa.config import Params
from mobileiqa.stages.mlflow_run import stage_logger
from mobileiqa.stages.training_run import log_training_outputs
from mobileiqa.train.distill import distill_student


def run_distill_student(params: Params, dataset_dir: str | os.PathLike, teacher_path: str | os.PathLike,
                        out_dir: str | os.PathLike, resume: bool = False,
                        run_record: str | os.PathLike | None = None) -> dict:
    """Distil ``models.student`` from ``teacher_path`` with the ``distill_student`` recipe; returns the metrics
    (``{}`` off rank 0)."""
    out_dir = Path(out_dir)
    with stage_logger(params, "distill_student", dataset_dir, record=run_record) as logger:
        metrics = distill_student(params.distill_student, dataset_dir, teacher_path, out_dir, params.models.student,
                                  params.models.student_weights, logger, resume)
        log_training_outputs(logger, out_dir, metrics, params.models.student)
    return metrics
