"""The MLflow pyfunc flavour of a registered student: encoded images in, quality scores out.

Scoring goes through :class:`mobileiqa.predict.Predictor` on the shipped ONNX/ORT/int8 file (the version's
artifacts), so the registry, the CLI and evaluation share one preprocessing path; the ONNX/ORT path imports no
torch. Inputs accepted by :meth:`ImageQualityModel.predict`:

* a ``pandas.DataFrame`` with an ``image`` column (else its first column) — what ``mlflow models serve`` passes
  for ``{"inputs": [...]}`` or ``{"dataframe_split": {"columns": ["image"], "data": [[...], ...]}}``;
* a mapping ``{"image": [...]}``, a list / tuple / ``Series`` / 1-d array of items, or a single item.

Each item is a base64 string of an encoded image (JPEG, PNG, WebP...: what JSON clients send;
:func:`~mobileiqa.predict.inputs.encode_images` and ``mobileiqa request`` build them) or, from Python, the encoded
bytes themselves. File paths are refused: a served model reads only what it is sent, never the server's files. A
deployer who wants paths (a batch job on a shared disk) sets ``MOBILEIQA_SERVE_ALLOW_PATHS=1`` in the serving
environment.

Any bad item fails the whole request with ``INVALID_PARAMETER_VALUE`` (HTTP 400) and a one-line message naming the
item's index and the reason. The output is a 1-d ``float64`` array, one score per item in input order, on the
model's declared scale (``predictor.scale``, recorded as a version tag).

Explanations on request: the param ``explain=True`` (REST: ``{"inputs": [...], "params": {"explain": true}}``;
Python: ``model.predict(items, params={"explain": True})``) returns instead a ``DataFrame`` with one row per item
and the columns ``score``, ``spread`` and ``quality_map`` (``G`` rows of ``G`` values, row 0 = top of the image) —
REST answers ``{"predictions": [{"score", "spread", "quality_map"}, ...]}``. The map is local quality on the
normalised MOS scale [0, 1], higher is better; the spread is the predicted standard deviation of the annotators'
opinion scores (normalised MOS units), i.e. how much raters would disagree — not a confidence interval of the
model's error. A version whose model has no explanation heads answers ``explain=True`` with
``INVALID_PARAMETER_VALUE``. MLflow passes params only to a model whose signature declares them:
:func:`signature` is the one to log the model with.

A registered version is self-contained (:func:`mobileiqa.tracking.mlflow_registry.register_version`): the model's
``code/mobileiqa`` holds this module and the modules scoring imports (the Predictor's ONNX/ORT path: no torch, no
timm; :func:`~mobileiqa.tracking.mlflow_registry.scoring_code` finds them in the source), the pickled model names
this class (``mobileiqa.tracking.pyfunc.ImageQualityModel``), which MLflow resolves from ``code/`` at load time,
and ``requirements.txt`` pins exactly the distributions those modules import. An environment built from that
file alone loads and serves it, without the ``mobileiqa`` package or torch: a fresh venv with ``pip install -r
requirements.txt`` and ``mlflow models serve -m models:/mobileiqa-student@champion --env-manager local`` in it
(tests/tracking/test_pyfunc_standalone.py), or the image of ``mlflow models generate-dockerfile``. MLflow puts
``code/`` first on ``sys.path`` at load time, so a process that loads a version before importing ``mobileiqa``
gets that copy as ``mobileiqa`` (import the installed package first to keep it). Keep this module, and what it
imports at module level, free of torch: the copy is read from those imports.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

from mobileiqa.data.images import ImageError
from mobileiqa.predict import Predictor

INPUT_COLUMN = "image"
EXPLAIN_PARAM = "explain"
EXPLAIN_COLUMNS = ("score", "spread", "quality_map")
#: set to 1 in the serving environment to let items be paths of files the server can read
ALLOW_PATHS_ENV = "MOBILEIQA_SERVE_ALLOW_PATHS"


def _bad(index: int, reason: str) -> MlflowException:
    return MlflowException(f"image {index}: {reason}", error_code=INVALID_PARAMETER_VALUE)


def _shown(value: str) -> str:
    return repr(value if len(value) <= 60 else value[:57] + "...")


def _item(value, index: int, allow_paths: bool) -> bytes | Path:
    """One input item as encoded bytes (or, where allowed, an existing file path); errors name its index."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise _bad(index, f"expected a base64 string of an encoded image, got {type(value).__name__}")
    text = "".join(value.split())  # base64 wrapped at 76 columns is still base64
    if not text:
        raise _bad(index, "empty string; expected a base64 string of an encoded image")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        pass
    looks_like_path = len(value) < 4096 and "\n" not in value and ("/" in value or "." in value)
    if allow_paths and looks_like_path:
        path = Path(value).expanduser()
        if path.is_file():
            return path
        raise _bad(index, f"{_shown(value)} is not base64 and no such file is readable by the server")
    if looks_like_path:
        raise _bad(index, f"{_shown(value)} is not base64; send the image's bytes base64-encoded (file paths are "
                          f"not read by a served model unless its deployer sets {ALLOW_PATHS_ENV}=1)")
    raise _bad(index, f"{_shown(value)} is not valid base64 (send the image's bytes base64-encoded)")


def as_images(model_input, allow_paths: bool | None = None) -> list[bytes | Path]:
    """Normalise any accepted input (see the module docstring) to a list of bytes (or allowed paths) for the
    Predictor. ``allow_paths`` defaults to ``$MOBILEIQA_SERVE_ALLOW_PATHS == "1"``."""
    if allow_paths is None:
        allow_paths = os.environ.get(ALLOW_PATHS_ENV, "") == "1"
    if isinstance(model_input, pd.DataFrame):
        if model_input.shape[1] == 0:
            raise MlflowException(f"the input frame has no columns; send one column named {INPUT_COLUMN!r}",
                                  error_code=INVALID_PARAMETER_VALUE)
        column = INPUT_COLUMN if INPUT_COLUMN in model_input.columns else model_input.columns[0]
        items = []
        for cell in model_input[column].tolist():  # a mapping {"image": [...]} arrives as one row holding a list
            items.extend(cell if isinstance(cell, list | tuple | np.ndarray) else [cell])
    elif isinstance(model_input, dict):
        if INPUT_COLUMN not in model_input:
            raise MlflowException(f"the input mapping has no {INPUT_COLUMN!r} key (keys: {sorted(model_input)})",
                                  error_code=INVALID_PARAMETER_VALUE)
        items = model_input[INPUT_COLUMN]
        items = [items] if isinstance(items, str | bytes) else list(items)
    elif isinstance(model_input, str | bytes | bytearray | os.PathLike):
        items = [model_input]
    else:
        items = list(np.asarray(model_input, dtype=object).reshape(-1))
    return [_item(v, i, allow_paths) for i, v in enumerate(items)]


def signature():
    """The model signature to log this pyfunc with: one unnamed string column in (lists, Series and frames of any
    column name pass MLflow's schema enforcement), scores out, and the ``explain`` param (default ``False``)."""
    return ModelSignature(inputs=Schema([ColSpec("string")]), outputs=Schema([ColSpec("double")]),
                          params=ParamSchema([ParamSpec(EXPLAIN_PARAM, "boolean", False)]))


class ImageQualityModel(mlflow.pyfunc.PythonModel):
    """Pyfunc wrapper of one shipped file; ``model_config["serve_format"]`` picks the artifact (onnx|ort|int8)."""

    def load_context(self, context) -> None:
        fmt = (context.model_config or {}).get("serve_format", "onnx")
        if fmt not in context.artifacts:
            raise ValueError(f"serve_format {fmt!r} was not shipped with this version "
                             f"(artifacts: {sorted(context.artifacts)})")
        self.predictor = Predictor.from_path(context.artifacts[fmt])

    def predict(self, context, model_input, params=None) -> np.ndarray | pd.DataFrame:
        images = as_images(model_input)
        if (params or {}).get(EXPLAIN_PARAM, False):  # a boolean: MLflow checks params against signature()
            return self._explain(images)
        if not images:
            return np.empty(0, dtype=np.float64)
        scores = np.empty(len(images), dtype=np.float64)
        for i, image in enumerate(images):  # one at a time: a bad item is named by its index
            try:
                scores[i] = self.predictor([image])[0]
            except ImageError as exc:
                raise _bad(i, exc.reason) from None
        return scores

    def _explain(self, images: list) -> pd.DataFrame:
        """One row per image: ``score``, ``spread``, ``quality_map`` (list of rows); see the module docstring."""
        if not self.predictor.explains:
            raise MlflowException(f"{EXPLAIN_PARAM}=true: this model version has no explanation heads, so it gives "
                                  "no quality map or spread; register a model trained with "
                                  "distill_student.explain.enabled", error_code=INVALID_PARAMETER_VALUE)
        rows = []
        for i, image in enumerate(images):  # one at a time: a bad item is named by its index
            try:
                e = self.predictor.explain([image])
            except ImageError as exc:
                raise _bad(i, exc.reason) from None
            rows.append((float(e.score[0]), float(e.spread[0]), e.quality_map[0].tolist()))
        return pd.DataFrame(rows, columns=list(EXPLAIN_COLUMNS))
