"""Test helpers: a tiny exported student through the export stage's own front door (ONNX + ORT, metadata
embedded, export.json with parity and a latency figure)."""

from __future__ import annotations

from pathlib import Path


def make_export(out: Path, model_name: str) -> Path:
    """``out`` gets model.onnx, model.ort and export.json for registered model ``model_name`` (random weights)."""
    from mobileiqa.export.exporter import export_model
    from mobileiqa.export.settings import ExportConfig

    cfg = ExportConfig(formats=["onnx", "ort"], parity_sizes=["96x72"], latency_width=128, latency_height=96,
                       latency_repeats=1)
    export_model(model_name, out, cfg)
    return out
