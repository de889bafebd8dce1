"""Small helpers between stage results and Kubeflow artifacts: scalar metrics for ``Output[Metrics]`` and the
file inside a model artifact's folder. Kept here so that component bodies stay one call per stage."""

from __future__ import annotations

import math
import os
from pathlib import Path

MODEL_FILE = "model.pt"  # the file the training stages write inside their output folder


def scalars(values: dict, prefix: str = "") -> dict[str, float]:
    """The finite int/float (not bool) top-level entries of ``values``, keys prefixed."""
    out = {}
    for key, value in (values or {}).items():
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(float(value)):
            out[f"{prefix}{key}"] = float(value)
    return out


def log_metrics(metrics, values: dict, prefix: str = "") -> dict[str, float]:
    """Log the scalar entries of ``values`` on a KFP ``Metrics`` artifact (anything with ``log_metric``)."""
    picked = scalars(values, prefix)
    for key, value in picked.items():
        metrics.log_metric(key, value)
    return picked


def model_file(model_dir: str | os.PathLike) -> str:
    """The checkpoint inside a training stage's output folder; names the artifact when it is missing."""
    path = Path(model_dir) / MODEL_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: the upstream training step wrote no {MODEL_FILE}")
    return str(path)
