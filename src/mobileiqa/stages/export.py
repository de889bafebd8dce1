"""The ``export`` stage: the student to ONNX / ORT (mobile) / int8 with the ``export`` section's formats and
options (:func:`mobileiqa.export.exporter.export_model`); writes the files and ``export.json``."""

from __future__ import annotations

import os

from mobileiqa.config import Params
from mobileiqa.export.exporter import export_model


def run_export(params: Params, model_path: str | os.PathLike, dataset_dir: str | os.PathLike | None,
               out_dir: str | os.PathLike) -> dict:
    """Export ``model_path`` with ``params.export``; ``dataset_dir`` calibrates int8 and measures its drift."""
    return export_model(model_path, out_dir, params.export, dataset_dir)
