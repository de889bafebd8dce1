"""One MLflow run per pipeline stage: the logger a stage function opens (or a no-op when tracking is off or this
process is not rank 0), tagged with the stage, git commit and dataset hash; and the files a training stage logs."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from mobileiqa.config import Params, as_flat_dict
from mobileiqa.data.manifest import PreparedDataset
from mobileiqa.environment import git_commit
from mobileiqa.eval.plots import training_curves
from mobileiqa.tracking.mlflow_logger import MlflowLogger
from mobileiqa.train.distributed import from_env


def stage_logger(params: Params, stage: str, dataset_dir: str | os.PathLike, extra_tags: dict | None = None):
    """Context manager yielding an :class:`MlflowLogger` (or ``None`` when tracking is disabled / not rank 0)."""
    if not params.tracking.enabled or not from_env().main:
        return contextlib.nullcontext(None)
    dataset = PreparedDataset.load(dataset_dir)
    tags = {"stage": stage, "git_commit": git_commit(), "dataset_sha256": dataset.manifest_sha256,
            "dataset_source": dataset.source, **(extra_tags or {})}
    return MlflowLogger(params.tracking, stage, as_flat_dict(params), tags)


def log_training_outputs(logger: MlflowLogger | None, out_dir: Path, metrics: dict, title: str) -> None:
    """Draw ``training_curves.png`` from a training stage's ``metrics`` and log it with ``model.pt`` and
    ``metrics.json`` (nothing on torchrun ranks other than 0, whose ``metrics`` are empty)."""
    if not metrics:
        return
    plot = training_curves(metrics["history"], out_dir / "training_curves.png", title)
    if logger is not None:
        for path in (out_dir / "model.pt", out_dir / "metrics.json", plot):
            logger.log_artifact(path)
