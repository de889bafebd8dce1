"""The ``export`` stage: the student to ONNX / ORT (mobile) / int8 with the ``export`` section's formats and
options (:func:`mobileiqa.export.exporter.export_model`); writes the files and ``export.json``."""

from __future__ import annotations

import os
from pathlib import Path

from mobileiqa.config import Params
from mobileiqa.export.exporter import export_model
from mobileiqa.stages.mlflow_run import log_files, log_metrics, stage_logger


def run_export(params: Params, model_path: str | os.PathLike, dataset_dir: str | os.PathLike | None,
               out_dir: str | os.PathLike, formats=None, options: dict | None = None,
               run_record: str | os.PathLike | None = None) -> dict:
    """Export ``model_path`` with ``params.export`` (``formats``/``options`` override it); ``dataset_dir``
    calibrates int8 and measures its drift. In an MLflow run: latency, parity, int8 drift, file sizes and
    ``export.json``."""
    with stage_logger(params, "export", dataset_dir, context="calibration", record=run_record) as logger:
        report = export_model(model_path, out_dir, params.export, dataset_dir, formats, options)
        log_metrics(logger, export_figures(report, out_dir))
        log_files(logger, Path(out_dir) / "export.json")
    return report


def export_figures(report: dict, out_dir: str | os.PathLike) -> dict[str, float | None]:
    """The export report's numbers worth a chart: latency, parity per format, int8 drift, shipped file sizes."""
    lat = report.get("latency") or {}
    figures = {"latency_ms": lat.get("ms"), "latency_min_ms": lat.get("min_ms")}
    for fmt, parity in (report.get("parity") or {}).items():
        figures[f"{fmt}_max_abs_diff"] = parity.get("max_abs_diff")
    drift = (report.get("int8") or {}).get("drift") or {}
    figures.update(int8_delta_srcc=drift.get("delta_srcc"), int8_delta_plcc=drift.get("delta_plcc"))
    for name in report.get("files") or {}:
        path = Path(out_dir) / name
        if path.suffix in (".onnx", ".ort") and path.is_file():
            figures[f"{path.name}_mb"] = path.stat().st_size / 2**20
    return figures
