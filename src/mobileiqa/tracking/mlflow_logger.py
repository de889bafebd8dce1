"""MLflow I/O for a stage's run: parameters (the flattened config), tags (git commit, dataset hash, the pipeline
execution it belongs to: :mod:`mobileiqa.tracking.pipeline_run`), the dataset as a run input, per-epoch metrics,
system metrics, checkpoints and plots as artifacts.

The default store lives inside the project (``sqlite:///mlflow.db`` with artifacts under ``mlruns/``, both
git-ignored), so no server is needed; ``MLFLOW_TRACKING_URI`` (or ``tracking.uri``) points elsewhere.
mlflow is imported only here, when tracking is on.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

from mobileiqa.tracking.pipeline_run import PIPELINE_RUN_TAG, parent_run_id
from mobileiqa.tracking.settings import DEFAULT_URI, TrackingConfig

DIGEST_LENGTH = 32  # MLflow stores dataset digests up to 36 characters


def tracking_uri(cfg: TrackingConfig) -> str:
    """``tracking.uri``, else ``$MLFLOW_TRACKING_URI``, else the project's sqlite store; a relative sqlite path is
    made absolute against the working directory (MLflow caches one store per URI string, so a relative one would
    keep writing to the first directory it was opened in)."""
    uri = cfg.uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/") and ":memory:" not in uri:
        uri = prefix + str(Path(uri[len(prefix):]).resolve())
    return uri


class MlflowLogger:
    """Context manager around one MLflow run; implements the training loop's ``Logger`` protocol."""

    def __init__(self, cfg: TrackingConfig, run_name: str, params: dict, tags: dict) -> None:
        self.cfg, self.run_name, self.params, self.tags = cfg, run_name, params, tags
        self.run = None

    def __enter__(self) -> MlflowLogger:
        import mlflow

        uri = tracking_uri(self.cfg)
        mlflow.set_tracking_uri(uri)
        if mlflow.get_experiment_by_name(self.cfg.experiment) is None:
            location = Path("mlruns").resolve().as_uri() if uri.startswith("sqlite:") else None
            mlflow.create_experiment(self.cfg.experiment, artifact_location=location)
        experiment = mlflow.set_experiment(self.cfg.experiment)
        parent = None
        if self.tags.get(PIPELINE_RUN_TAG):
            shared = {k: v for k, v in self.tags.items() if k in ("git_commit", "source")}
            parent = parent_run_id(mlflow.MlflowClient(), experiment.experiment_id, self.tags[PIPELINE_RUN_TAG],
                                   shared)
        self.run = mlflow.start_run(run_name=self.run_name, parent_run_id=parent,
                                    log_system_metrics=self.cfg.system_metrics)
        mlflow.log_params({k: str(v)[:500] for k, v in self.params.items()})
        mlflow.set_tags(self.tags)
        return self

    @property
    def run_id(self) -> str:
        return self.run.info.run_id

    def __exit__(self, exc_type, exc, tb) -> None:
        import mlflow

        mlflow.end_run(status="FAILED" if exc_type else "FINISHED")

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        import mlflow

        clean = {k: float(v) for k, v in metrics.items()
                 if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(float(v))}
        mlflow.log_metrics(clean, step=step)

    def log_artifact(self, path: str | os.PathLike, folder: str | None = None) -> None:
        import mlflow

        mlflow.log_artifact(str(path), artifact_path=folder)

    def log_input(self, path: str | os.PathLike, name: str, digest: str, context: str,
                  tags: dict[str, str] | None = None) -> None:
        """Record the dataset at ``path`` as an input of this run (``digest``: its content hash, shortened to what
        the store keeps), with ``context`` (training, evaluation, ...)."""
        import mlflow
        from mlflow.data.dataset_source_registry import resolve_dataset_source
        from mlflow.data.meta_dataset import MetaDataset

        with warnings.catch_warnings():  # mlflow registers the local-file source twice and says so on each call
            warnings.simplefilter("ignore", UserWarning)
            source = resolve_dataset_source(Path(path).resolve().as_uri())
        mlflow.log_input(MetaDataset(source, name=name, digest=digest[:DIGEST_LENGTH]), context=context, tags=tags)
