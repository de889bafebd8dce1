"""What a training stage logs besides its per-epoch metrics: the curves drawn from its history, the checkpoint and
its metrics file (kept apart from :mod:`mobileiqa.stages.mlflow_run` so that the stages which do not train do not
depend on the plotting code)."""

from __future__ import annotations

from pathlib import Path

from mobileiqa.eval.plots import training_curves
from mobileiqa.tracking.mlflow_logger import MlflowLogger


def log_training_outputs(logger: MlflowLogger | None, out_dir: Path, metrics: dict, title: str) -> None:
    """Draw ``training_curves.png`` from a training stage's ``metrics`` and log it with ``model.pt`` and
    ``metrics.json`` (nothing on torchrun ranks other than 0, whose ``metrics`` are empty)."""
    if not metrics:
        return
    plot = training_curves(metrics["history"], out_dir / "training_curves.png", title)
    if logger is not None:
        for path in (out_dir / "model.pt", out_dir / "metrics.json", plot):
            logger.log_artifact(path)
