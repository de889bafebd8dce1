"""One MLflow run per pipeline stage: the logger every stage function opens (or a no-op when tracking is off or
this process is not rank 0), tagged with the stage, git commit and dataset hash."""

from __future__ import annotations

import contextlib
import os


def stage_logger(params, stage: str, dataset_dir: str | os.PathLike, extra_tags: dict | None = None):
    """Context manager yielding an :class:`MlflowLogger` (or ``None`` when tracking is disabled / not rank 0)."""
    from mobileiqa.train.distributed import from_env

    if not params.tracking.enabled or not from_env().main:
        return contextlib.nullcontext(None)
    from mobileiqa.config import as_flat_dict
    from mobileiqa.data.prepare import PreparedDataset
    from mobileiqa.tracking.mlflow_logger import MlflowLogger
    from mobileiqa.train.recipe import git_commit

    dataset = PreparedDataset.load(dataset_dir)
    tags = {"stage": stage, "git_commit": git_commit(), "dataset_sha256": dataset.manifest_sha256,
            "dataset_source": dataset.source, **(extra_tags or {})}
    return MlflowLogger(params.tracking, stage, as_flat_dict(params), tags)
