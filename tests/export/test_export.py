"""ONNX export parity, embedded metadata, ORT conversion and mobile check, the int8 drift gate, and the formats
table's argument validation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from mobileiqa.export import formats, ort_mobile, quantize
from mobileiqa.export.formats import ExportArgumentError, resolve
from mobileiqa.export.metadata import read_metadata
from mobileiqa.export.onnx import adaptive_avg_pool, run, session
from mobileiqa.models.checkpoint import load_model
from tests.export.conftest import FAST


@pytest.mark.parametrize("h,w,grid", [(97, 131, 6), (64, 64, 12), (37, 300, 12), (615, 953, 12), (22, 22, 22)])
def test_exportable_pooling_equals_adaptive_avg_pool(h, w, grid):
    x = torch.randn(2, 3, h, w)
    assert torch.allclose(adaptive_avg_pool(x, grid), F.adaptive_avg_pool2d(x, grid), atol=1e-5)


def test_onnx_parity_at_several_sizes(exported, checkpoint):
    out, report = exported
    onnx_parity = report["parity"]["onnx"]
    sizes = [tuple(map(int, r["size"].split("x"))) for r in onnx_parity["sizes"]]
    assert len(sizes) >= 3 and onnx_parity["passed"] and onnx_parity["max_abs_diff"] <= 1e-4
    assert any(w % 32 or h % 32 for w, h in sizes)
    # independent check: a batch of 3 at a size not in the report, not divisible by 32 nor the grid
    model, _ = load_model(checkpoint)
    x = np.random.default_rng(1).standard_normal((3, 3, 101, 173)).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    got = run(session(out / "model.onnx"), x)
    assert got.shape == (3,) and np.max(np.abs(ref - got)) <= 1e-4
    assert np.ptp(ref) > 0  # scores vary, so the comparison means something


def test_metadata_round_trip(exported, prepared):
    from mobileiqa.data.manifest import PreparedDataset

    out, report = exported
    for name in ("model.onnx", "model.ort", "model.int8.onnx"):
        meta = read_metadata(out / name)
        assert meta.model == "mobileiqa_student_mobilenetv3_small_050_tiny"
        assert meta.version == report["version"] and len(meta.version) == 16
        assert meta.policy.mode == "long_side" and meta.policy.long_side == 96
        assert (meta.scale.minimum, meta.scale.maximum, meta.scale.higher_is_better) == (0.0, 1.0, True)
        assert meta.git_commit["train"] == "c0ffee" and meta.git_commit["export"]
        assert meta.dataset["manifest_sha256"] == PreparedDataset.load(prepared).manifest_sha256
        props = meta.to_props()
        pre = json.loads(props["mobileiqa.preprocess"])
        assert pre["mean"] == [0.485, 0.456, 0.406] and pre["input_range"] == [0.0, 1.0]
        assert pre["resize"]["long_side"] == 96
    assert report["metadata"]["scale"]["maximum"] == 1.0


def test_metadata_missing_key_is_a_clear_error():
    from mobileiqa.export.metadata import ExportMetadata

    with pytest.raises(ValueError, match="mobileiqa.scale.*re-export"):
        ExportMetadata.from_props({"mobileiqa.model": "{}", "mobileiqa.preprocess": "{}"}, where="x.onnx")


def test_ort_loads_matches_and_passes_mobile_check(exported):
    out, report = exported
    assert report["parity"]["ort"]["passed"] and report["parity"]["ort"]["max_abs_diff"] <= 1e-4
    mobile = report["mobile"]
    assert mobile["passed"] and mobile["reasons"] == [] and set(mobile["domains"]) <= set(ort_mobile.MOBILE_DOMAINS)
    assert "Conv" in mobile["operators"]["ai.onnx"]
    text = (out / "mobile_check.txt").read_text()
    assert "usability" in text.lower() or "Checking" in text
    x = np.random.default_rng(2).standard_normal((2, 3, 150, 200)).astype(np.float32)
    a, b = run(session(out / "model.onnx"), x), run(session(out / "model.ort"), x)
    assert np.max(np.abs(a - b)) <= 1e-4
    assert set(report["shipped"]) == {"onnx", "ort", "int8"}
    assert report["latency"]["machine"] and report["latency"]["ms"] > 0
    assert json.loads((out / "export.json").read_text())["shipped"] == report["shipped"]


def test_mobile_check_fails_on_foreign_operator_domain(tmp_path):
    cfg = tmp_path / "ops.config"
    cfg.write_text("# comment\nai.onnx;17;Conv,Relu\ncom.microsoft.nchwc;1;Conv\n")
    verdict = ort_mobile.mobile_check(tmp_path / "m.ort", cfg, {"passed": True})
    assert not verdict["passed"] and "com.microsoft.nchwc" in verdict["reasons"][0]
    verdict = ort_mobile.mobile_check(tmp_path / "m.ort", cfg, {"passed": False, "max_abs_diff": 1, "atol": 1e-4})
    assert any("differ" in r for r in verdict["reasons"])


def test_int8_ships_within_bound(exported):
    out, report = exported
    int8 = report["int8"]
    assert int8["shipped"] and int8["reason"] is None
    assert int8["drift"]["split"] == "test" and int8["drift"]["n"] > 0 and int8["calibration"]["split"] == "train"
    assert int8["drift"]["delta_srcc"] is not None and int8["drift"]["delta_plcc"] is not None
    assert (out / "model.int8.onnx").is_file() and (out / "model.int8.ort").is_file()
    assert int8["mobile"]["passed"]
    assert "int8_speedup" in report["latency"]


def test_int8_dropped_beyond_bound_with_reason(tmp_path, checkpoint, prepared, export_params, monkeypatch):
    from mobileiqa.export.exporter import export_model

    real = quantize.drift
    monkeypatch.setattr(quantize, "drift", lambda a, b, m: real(a, b, m) | {"delta_srcc": -0.05})
    (tmp_path / "model.int8.onnx").write_text("stale")  # an earlier export's int8 file must not survive
    report = export_model(checkpoint, tmp_path, export_params.export, prepared,
                          options={**FAST, "int8_max_srcc_drop": 0.01})
    assert report["shipped"] == ["onnx", "ort"] and not report["int8"]["shipped"]
    assert "0.0500" in report["int8"]["reason"] and "int8_max_srcc_drop" in report["int8"]["reason"]
    assert not (tmp_path / "model.int8.onnx").exists() and not (tmp_path / "model.int8.ort").exists()
    assert (tmp_path / "model.onnx").is_file() and (tmp_path / "model.ort").is_file()
    assert json.loads((tmp_path / "export.json").read_text())["int8"]["reason"] == report["int8"]["reason"]


@pytest.mark.parametrize("delta,ships", [(0.004, True), (-0.004, True), (0.006, False), (-0.02, False)])
def test_int8_gate(delta, ships):
    ok, reason = quantize.int8_gate({"delta_srcc": delta, "n": 10}, 0.005)
    assert ok is ships and (reason is None) is ships


def test_int8_gate_undefined_drift_is_dropped():
    ok, reason = quantize.int8_gate({"delta_srcc": None}, 1.0)
    assert not ok and "undefined" in reason


def test_int8_without_dataset_is_an_error(checkpoint, export_params, tmp_path):
    from mobileiqa.export.exporter import export_model

    with pytest.raises(ValueError, match="--data"):
        export_model(checkpoint, tmp_path, export_params.export, None)


def test_formats_table_rejects_bad_requests(export_params):
    base = export_params.export
    with pytest.raises(ExportArgumentError, match="unknown export format 'onxx'.*available"):
        resolve("onnx,onxx", None, base)
    with pytest.raises(ExportArgumentError, match="'coreml' is not available"):
        resolve(["onnx", "coreml"], None, base)
    with pytest.raises(ExportArgumentError, match="'ort' needs \\['onnx'\\]"):
        resolve(["ort"], None, base)
    with pytest.raises(ExportArgumentError, match="unknown option 'speed'.*valid options"):
        resolve(["onnx"], {"speed": "1"}, base)
    with pytest.raises(ExportArgumentError, match="belongs to format 'int8'"):
        resolve(["onnx", "ort"], {"int8_max_srcc_drop": "0.01"}, base)
    with pytest.raises(ExportArgumentError, match="opset"):
        resolve(["onnx"], {"opset": "seventeen"}, base)
    with pytest.raises(ExportArgumentError, match="calibrate_method"):
        resolve(["onnx", "ort", "int8"], {"calibrate_method": "magic"}, base)
    with pytest.raises(ExportArgumentError, match="NAME=VALUE"):
        formats.parse_options(["opset"])
    chosen, cfg = resolve("int8,ort,onnx", {"int8_max_srcc_drop": "0.01", "parity_sizes": "97x131,200x100"}, base)
    assert chosen == ("onnx", "ort", "int8") and cfg.int8_max_srcc_drop == 0.01
    assert cfg.parity_sizes == ["97x131", "200x100"]
    assert "coreml" in formats.describe() and "int8_max_srcc_drop" in formats.describe()


def test_params_reject_unknown_export_key():
    from mobileiqa.config import ConfigError, load_params
    from tests.export.conftest import ROOT

    with pytest.raises(ConfigError, match="export"):
        load_params(ROOT / "params.yaml", [], ["export.bogus=1"])
    with pytest.raises(ConfigError, match="tflite"):
        load_params(ROOT / "params.yaml", [], ["export.formats=[onnx,tflite]"])


def test_export_cli_rejects_unknown_format_and_option(capsys):
    from mobileiqa.cli import main

    assert main(["export", "--model", "mobileiqa_student_mobilenetv3_small_050_tiny", "--formats", "onnx,foo"]) == 2
    assert "unknown export format 'foo'" in capsys.readouterr().err
    assert main(["export", "--model", "mobileiqa_student_mobilenetv3_small_050_tiny", "--formats", "onnx",
                 "--option", "colour=red"]) == 2
    assert "unknown option 'colour'" in capsys.readouterr().err
    assert main(["export", "--list-formats"]) == 0
    assert "tflite" in capsys.readouterr().out


def test_parity_names_a_graph_that_cannot_run_at_a_size():
    from mobileiqa.export import onnx as onnx_export

    def broken(x):
        raise RuntimeError("[ONNXRuntimeError] : 1 : FAIL : Reshape node cannot reshape")

    inputs = onnx_export.parity_inputs([(96, 64)])
    with pytest.raises(ValueError, match="does not run at 96x64.*MobileViT"):
        onnx_export.parity(lambda x: np.zeros(len(x)), broken, inputs, 1e-4)
