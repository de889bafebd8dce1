"""The ``prepare`` stage: the dataset the pipeline trains and evaluates on (the embedded default dataset built
from the reference photos, or a real dataset read in its published layout), as ``manifest.csv`` +
``dataset.json`` under one folder (:func:`mobileiqa.data.prepare.prepare`)."""

from __future__ import annotations

import os
from pathlib import Path

from mobileiqa.config import Params
from mobileiqa.data.prepare import prepare
from mobileiqa.stages.mlflow_run import log_dataset, log_files, log_metrics, stage_logger


def run_prepare(params: Params, photos_dir: str | os.PathLike | None, out_dir: str | os.PathLike,
                progress: bool = True, run_record: str | os.PathLike | None = None) -> dict:
    """Prepare ``params.data`` into ``out_dir``; ``photos_dir`` holds the reference photos of the default
    dataset (unused by real datasets). Returns the report written as ``dataset.json`` plus the wall time; in an
    MLflow run that logs the dataset as its output (input context ``prepared``), its size and ``dataset.json``."""
    with stage_logger(params, "prepare", record=run_record) as logger:
        info = prepare(params.data, out_dir, photos_dir=photos_dir, progress=progress)
        log_dataset(logger, out_dir, "prepared")
        log_metrics(logger, {k: info.get(k) for k in ("images", "photos", "seconds")})
        log_files(logger, Path(out_dir) / "dataset.json")
    return info
