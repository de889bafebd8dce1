"""The MLflow pyfunc flavour of a registered student: image paths or encoded image bytes in, quality scores out.

Scoring goes through :class:`mobileiqa.predict.Predictor` on the shipped ONNX/ORT/int8 file (the version's
artifacts), so the registry, the CLI and evaluation share one preprocessing path. Inputs accepted by
:meth:`ImageQualityModel.predict`:

* a ``pandas.DataFrame`` with an ``image`` column (else its first column) — what ``mlflow models serve`` passes
  for ``{"dataframe_split": {"columns": ["image"], "data": [[...], ...]}}`` or ``{"inputs": [...]}``;
* a mapping ``{"image": [...]}``, a list / tuple / ``Series`` / 1-d array of items, or a single item.

The logged signature is one unnamed string column, so MLflow's schema check lets all of these through.

Each item is encoded image bytes, a base64 string of such bytes (what JSON clients send), or a path to an image
file readable by the process that serves the model. The output is a 1-d ``float64`` array, one score per item in
input order, on the model's declared scale (``predictor.scale``, recorded as a version tag).

Loading needs the ``mobileiqa`` package in the serving environment: serve with ``--env-manager local``.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd

from mobileiqa.predict import Predictor

INPUT_COLUMN = "image"


def _item(value, index: int) -> bytes | Path:
    """One input item as encoded bytes or an existing file path; errors name the item's position."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise ValueError(f"image {index}: expected encoded bytes, a base64 string or a file path, "
                         f"got {type(value).__name__}")
    if len(value) < 4096 and "\n" not in value:
        path = Path(value).expanduser()
        if path.is_file():
            return path
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        shown = value if len(value) <= 80 else value[:77] + "..."
        raise ValueError(f"image {index}: {shown!r} is neither an existing file nor base64-encoded image bytes") \
            from None


def as_images(model_input) -> list[bytes | Path]:
    """Normalise any accepted input (see the module docstring) to a list of bytes / paths for the Predictor."""
    if isinstance(model_input, pd.DataFrame):
        if model_input.shape[1] == 0:
            raise ValueError(f"the input frame has no columns; send one column named {INPUT_COLUMN!r}")
        column = INPUT_COLUMN if INPUT_COLUMN in model_input.columns else model_input.columns[0]
        items = []
        for cell in model_input[column].tolist():  # a mapping {"image": [...]} arrives as one row holding a list
            items.extend(cell if isinstance(cell, list | tuple | np.ndarray) else [cell])
    elif isinstance(model_input, dict):
        if INPUT_COLUMN not in model_input:
            raise ValueError(f"the input mapping has no {INPUT_COLUMN!r} key (keys: {sorted(model_input)})")
        items = model_input[INPUT_COLUMN]
        items = [items] if isinstance(items, str | bytes) else list(items)
    elif isinstance(model_input, str | bytes | bytearray | os.PathLike):
        items = [model_input]
    else:
        items = list(np.asarray(model_input, dtype=object).reshape(-1))
    return [_item(v, i) for i, v in enumerate(items)]


class ImageQualityModel(mlflow.pyfunc.PythonModel):
    """Pyfunc wrapper of one shipped file; ``model_config["serve_format"]`` picks the artifact (onnx|ort|int8)."""

    def load_context(self, context) -> None:
        fmt = (context.model_config or {}).get("serve_format", "onnx")
        if fmt not in context.artifacts:
            raise ValueError(f"serve_format {fmt!r} was not shipped with this version "
                             f"(artifacts: {sorted(context.artifacts)})")
        self.predictor = Predictor.from_path(context.artifacts[fmt])

    def predict(self, context, model_input, params=None) -> np.ndarray:
        images = as_images(model_input)
        if not images:
            return np.empty(0, dtype=np.float64)
        return np.asarray(self.predictor(images), dtype=np.float64).reshape(-1)
