"""Normalisation is a property of the backbone weights and travels with the model: a mean-0.5 (EfficientNet-Lite)
model scores the same images identically through its checkpoint, ONNX, ORT and the registered MLflow model; files
written before the field existed keep loading with ImageNet's statistics."""

from __future__ import annotations

import base64

import numpy as np
import onnx
import pytest
import torch

from mobileiqa.export.metadata import PREFIX, read_metadata
from mobileiqa.models.checkpoint import load_model, save_model
from mobileiqa.predict import Predictor
from mobileiqa.preprocess import HALF, IMAGENET
from tests.export.conftest import FAST
from tests.modelgen import spread_model

LITE0 = "mobileiqa_student_efficientnet_lite0_tiny"


@pytest.fixture(scope="module")
def half_model(tmp_path_factory):
    """A Lite0 student with the offline weights (mean/std 0.5) whose scores spread across images, exported."""
    from mobileiqa.export.exporter import export_model
    from mobileiqa.export.settings import ExportConfig

    model = spread_model(LITE0, pretrained="package:efficientnet-lite0")
    d = tmp_path_factory.mktemp("half")
    ckpt = save_model(model, LITE0, d / "model.pt", meta={"resolution": {"mode": "long_side", "long_side": 128,
                                                                          "width": 1907, "height": 1231}})
    cfg = ExportConfig(formats=["onnx", "ort"], parity_sizes=["96x72"], **{k: v for k, v in FAST.items()
                                                                          if k != "calibration_images"})
    export_model(ckpt, d / "export", cfg)
    return ckpt, d / "export"


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    from tests.imagegen import make_photo

    d = tmp_path_factory.mktemp("photos")
    paths = []
    for i in range(4):
        paths.append(d / f"p{i}.jpg")
        make_photo(i, 150 + 20 * i, 120).save(paths[-1], quality=85)
    return paths


def test_every_backend_and_the_registered_model_score_alike(half_model, photos, tmp_path, monkeypatch):
    import mlflow.pyfunc

    from mobileiqa.tracking.mlflow_registry import Evidence, register_version
    from mobileiqa.tracking.settings import RegisterConfig, TrackingConfig

    ckpt, export = half_model
    assert read_metadata(export / "model.onnx").normalisation == HALF
    scores = {}
    for name, path in (("pt", ckpt), ("onnx", export / "model.onnx"), ("ort", export / "model.ort")):
        predictor = Predictor.from_path(path)
        assert predictor.normalisation == HALF, name
        scores[name] = predictor(photos)
    monkeypatch.chdir(tmp_path)
    tracking = TrackingConfig(enabled=True, experiment="norm", uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
                              system_metrics=False)
    evidence = Evidence(dataset_sha256="e" * 64, split="test", n=4, srcc=0.5, plcc=0.5, latency_ms=10.0,
                        latency_machine="cpu-test", formats=("onnx", "ort"), validation_passed=True, profile="t")
    reg = register_version(RegisterConfig(model_name="norm-test"), tracking, export, evidence, "card")
    mlflow.set_tracking_uri(tracking.uri)
    served = mlflow.pyfunc.load_model(f"models:/{reg.name}/{reg.version}")
    scores["registered"] = np.asarray(served.predict([base64.b64encode(p.read_bytes()).decode() for p in photos]))
    assert np.ptp(scores["pt"]) > 1e-3  # the scores differ across images, so equality means something
    for name, s in scores.items():
        np.testing.assert_allclose(s, scores["pt"], atol=1e-4, err_msg=name)
    # and the normalisation matters: ImageNet statistics give other scores
    wrong = Predictor.from_path(ckpt)
    wrong.normalisation = IMAGENET
    assert np.max(np.abs(wrong(photos) - scores["pt"])) > 1e-3


def test_files_without_the_field_load_with_imagenet_statistics(half_model, tmp_path):
    ckpt, export = half_model
    old = torch.load(ckpt, weights_only=True)
    old.pop("normalisation")
    torch.save(old, tmp_path / "old.pt")
    assert load_model(tmp_path / "old.pt")[0].normalisation == IMAGENET
    assert Predictor.from_path(tmp_path / "old.pt").normalisation == IMAGENET
    proto = onnx.load(str(export / "model.onnx"))
    for prop in proto.metadata_props:
        if prop.key == PREFIX + "preprocess":
            import json

            pre = json.loads(prop.value)
            pre.pop("mean"), pre.pop("std")
            prop.value = json.dumps(pre)
    onnx.save(proto, str(tmp_path / "old.onnx"))
    assert read_metadata(tmp_path / "old.onnx").normalisation == IMAGENET
    assert Predictor.from_path(tmp_path / "old.onnx").normalisation == IMAGENET
