"""Shared fixtures for export tests: a tiny student checkpoint whose scores vary across images, a prepared tiny
dataset, and one full export (onnx, ort, int8) of that checkpoint, made once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TINY = "mobileiqa_student_mobilenetv3_small_050_tiny"
# small latency probe and parity sizes (one not divisible by 32 nor by the tiny grid 6)
FAST = {"latency_width": 160, "latency_height": 128, "latency_repeats": 1, "calibration_images": 8}


@pytest.fixture(scope="session")
def export_params(tiny_params):
    return tiny_params


@pytest.fixture(scope="session")
def prepared(prepared_tiny):
    return prepared_tiny


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory, prepared):
    """A random-init tiny student with a widened last layer, so that its scores spread across images."""
    from mobileiqa.data.manifest import PreparedDataset
    from mobileiqa.models.checkpoint import save_model
    from tests.modelgen import spread_model

    model = spread_model(TINY)
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    meta = {"resolution": {"mode": "long_side", "long_side": 96, "width": 1907, "height": 1231},
            "dataset_sha256": PreparedDataset.load(prepared).manifest_sha256, "git_commit": "c0ffee"}
    save_model(model, TINY, path, meta=meta)
    return path


@pytest.fixture(scope="session")
def exported(tmp_path_factory, checkpoint, prepared, export_params):
    """``(out_dir, report)`` of one export with every format; int8 bound wide open so that it ships."""
    from mobileiqa.export.exporter import export_model

    out = tmp_path_factory.mktemp("export")
    report = export_model(checkpoint, out, export_params.export, prepared,
                          options={**FAST, "int8_max_srcc_drop": 2.0})
    return out, report


@pytest.fixture(scope="session")
def explained_checkpoint(tmp_path_factory, prepared):
    """The tiny student with explanation heads (``tests.export.heads``), saved like :func:`checkpoint`."""
    from mobileiqa.data.manifest import PreparedDataset
    from mobileiqa.models.checkpoint import save_model
    from tests.export.heads import explained_model

    path = tmp_path_factory.mktemp("ckpt-heads") / "model.pt"
    meta = {"resolution": {"mode": "long_side", "long_side": 96, "width": 1907, "height": 1231},
            "dataset_sha256": PreparedDataset.load(prepared).manifest_sha256, "git_commit": "c0ffee"}
    save_model(explained_model(), TINY, path, meta=meta)
    return path


@pytest.fixture(scope="session")
def explained_export(tmp_path_factory, explained_checkpoint, prepared, export_params):
    """``(out_dir, report)`` of the model with heads exported to every format (int8 bound wide open)."""
    from mobileiqa.export.exporter import export_model

    out = tmp_path_factory.mktemp("export-heads")
    report = export_model(explained_checkpoint, out, export_params.export, prepared,
                          options={**FAST, "int8_max_srcc_drop": 2.0})
    return out, report
