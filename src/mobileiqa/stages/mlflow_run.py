"""One MLflow run per pipeline stage, grouped per pipeline execution (:mod:`mobileiqa.tracking.pipeline_run`):
the logger a stage function opens (or ``None`` when tracking is off or this process is not rank 0), tagged with the
stage, the source state, the execution key and the dataset; the dataset logged as the run's input; the run record
a stage writes among its outputs."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from mobileiqa.atomic import write_json
from mobileiqa.config import Params, as_flat_dict
from mobileiqa.data.manifest import PreparedDataset
from mobileiqa.environment import source_state
from mobileiqa.tracking.mlflow_logger import MlflowLogger, tracking_uri
from mobileiqa.tracking.pipeline_run import PIPELINE_RUN_TAG, data_version, pipeline_run_key
from mobileiqa.train.distributed import from_env


def pipeline_tags(params: Params, stage: str, grouped: bool = True) -> dict[str, str]:
    """The tags every stage's run carries: stage, git commit, source state and (``grouped``) the execution key."""
    source = source_state()
    tags = {"stage": stage, "git_commit": source.removesuffix("+dirty"), "source": source}
    if grouped:
        tags[PIPELINE_RUN_TAG] = pipeline_run_key(as_flat_dict(params), source, data_version())
    return tags


def log_metrics(logger: MlflowLogger | None, metrics: dict) -> None:
    """Log a stage's figures (numbers only; ``None`` and non-finite values skipped) once, at step 0."""
    if logger is not None:
        logger.log_metrics(metrics, step=0)


def log_files(logger: MlflowLogger | None, *paths: str | os.PathLike) -> None:
    """Log the files that exist among ``paths`` as the run's artifacts."""
    if logger is not None:
        for path in paths:
            if os.path.isfile(path):
                logger.log_artifact(path)


def log_dataset(logger: MlflowLogger | None, dataset_dir: str | os.PathLike, context: str) -> None:
    """Tag the run with the prepared dataset's hash and source and log it as an input (``context``: training,
    evaluation, ...)."""
    if logger is None:
        return
    import mlflow

    dataset = PreparedDataset.load(dataset_dir)
    mlflow.set_tags({"dataset_sha256": dataset.manifest_sha256, "dataset_source": dataset.source})
    logger.log_input(dataset_dir, f"mobileiqa-{dataset.source}", dataset.manifest_sha256, context)


def write_run_record(path: str | os.PathLike, params: Params, stage: str, tags: dict[str, str],
                     run_id: str | None) -> None:
    """``{stage, pipeline_run, source, run_id, experiment, tracking_uri}`` at ``path`` (run id ``null`` and the
    reason when no run was logged), so that a pipeline's outputs name the MLflow runs that produced them."""
    record = {"stage": stage, PIPELINE_RUN_TAG: tags.get(PIPELINE_RUN_TAG), "source": tags["source"]}
    if run_id is None:
        reason = "tracking.enabled is false" if not params.tracking.enabled else "not the main process"
        record.update(run_id=None, reason=reason)
    else:
        record.update(run_id=run_id, experiment=params.tracking.experiment, tracking_uri=tracking_uri(params.tracking))
    write_json(path, record)


@contextlib.contextmanager
def stage_logger(params: Params, stage: str, dataset_dir: str | os.PathLike | None = None,
                 extra_tags: dict | None = None, context: str = "training", record: str | os.PathLike | None = None,
                 pipeline: bool = True) -> Iterator[MlflowLogger | None]:
    """The stage's MLflow run as a context manager yielding an :class:`MlflowLogger` (``None`` when tracking is
    disabled or not rank 0). ``dataset_dir``: a prepared dataset to log as the run's input (with ``context``);
    ``record``: where to write the run record when the stage succeeds (:func:`write_run_record`); ``pipeline``:
    group the run with its pipeline execution (off for runs outside the pipeline, e.g. the ablation's)."""
    main = from_env().main
    tags = {**pipeline_tags(params, stage, grouped=pipeline), **(extra_tags or {})}
    if not params.tracking.enabled or not main:
        yield None
        if record is not None and main:
            write_run_record(record, params, stage, tags, None)
        return
    with MlflowLogger(params.tracking, stage, as_flat_dict(params), tags) as logger:
        if dataset_dir is not None:
            log_dataset(logger, dataset_dir, context)
        yield logger
    if record is not None:
        write_run_record(record, params, stage, tags, logger.run_id)

