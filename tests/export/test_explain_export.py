"""Export of a model with explanation heads: the named outputs ``quality_map`` and ``spread`` beside ``score`` in
every file (fp32 ONNX, ORT, int8), declared in the metadata, covered by parity, their int8 drift recorded, their
latency cost measured; a model without heads exports exactly as before."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch

from mobileiqa.export import onnx as onnx_export
from mobileiqa.export.latency import own_kernel_ms
from mobileiqa.export.metadata import ExplainOutputs, ExportMetadata, read_metadata, read_props
from mobileiqa.export.prune import prune_outputs
from mobileiqa.export.runtime import output_names, run, run_all, session
from mobileiqa.models.checkpoint import load_model
from mobileiqa.preprocess import ResolutionPolicy
from tests.export.heads import HEADS, explained_model

OUTPUTS = ["score", "quality_map", "spread"]
FILES = ("model.onnx", "model.ort", "model.int8.onnx", "model.int8.ort")


def test_every_file_has_the_named_outputs_and_parity_covers_them(explained_export, explained_checkpoint):
    out, report = explained_export
    assert set(report["shipped"]) == {"onnx", "ort", "int8"}
    for name in FILES:
        assert output_names(session(out / name)) == OUTPUTS, name
    for fmt in ("onnx", "ort"):
        parity = report["parity"][fmt]
        assert parity["passed"] and set(parity["outputs"]) == set(OUTPUTS), fmt
        assert all(set(row["outputs"]) == set(OUTPUTS) for row in parity["sizes"])
    assert set(report["int8"]["ort_parity"]["outputs"]) == set(OUTPUTS) and report["int8"]["ort_parity"]["passed"]
    # independent check against torch: a batch of 3 at a size not in the report
    model, _ = load_model(explained_checkpoint)
    g = model.config.grid
    x = np.random.default_rng(1).standard_normal((3, 3, 101, 173)).astype(np.float32)
    with torch.no_grad():
        ref = model.explain(torch.from_numpy(x))
    for name in ("model.onnx", "model.ort"):
        got = run_all(session(out / name), x)
        assert got["score"].shape == (3,) and got["quality_map"].shape == (3, g, g) and got["spread"].shape == (3,)
        for key, want in (("score", ref.score), ("quality_map", ref.quality_map), ("spread", ref.spread)):
            assert np.max(np.abs(got[key] - want.numpy())) <= 1e-4, (name, key)
        assert np.array_equal(run(session(out / name), x), got["score"])  # the score call is unchanged
    assert float(ref.quality_map.std()) > 0.01  # maps vary, so the comparison means something


def test_metadata_declares_the_outputs_in_every_file(explained_export, explained_checkpoint):
    out, report = explained_export
    model, _ = load_model(explained_checkpoint)
    for name in FILES:
        meta = read_metadata(out / name)
        assert meta.explain == ExplainOutputs(grid=model.config.grid, heads=HEADS.to_dict()), name
        assert meta.outputs == tuple(OUTPUTS)
        declared = json.loads(read_props(out / name)["mobileiqa.outputs"])
        assert declared["quality_map"]["shape"] == ["batch", model.config.grid, model.config.grid]
        assert (declared["quality_map"]["minimum"], declared["quality_map"]["maximum"]) == (0.0, 1.0)
        assert declared["quality_map"]["higher_is_better"] is True
        assert "row 0 = top" in declared["quality_map"]["layout"]
        assert "disagree" in declared["spread"]["meaning"]
        assert "not a confidence interval" in declared["spread"]["meaning"]
        assert declared["explain_heads"] == HEADS.to_dict()
    assert report["metadata"]["outputs"]["spread"]["minimum"] == 0.0
    assert "quality_map" in onnx.load(str(out / "model.onnx")).doc_string


def test_a_model_without_heads_exports_as_before(exported):
    out, report = exported
    for name in FILES:
        assert output_names(session(out / name)) == ["score"], name
        assert "mobileiqa.outputs" not in read_props(out / name)
        meta = read_metadata(out / name)
        assert meta.explain is None and meta.outputs == ("score",)
    assert "outputs" not in report["parity"]["onnx"] and "outputs" not in report["metadata"]
    assert "explain_heads" not in report["latency"] and "explain" not in report["int8"]["drift"]


def test_old_metadata_parses_and_a_malformed_declaration_is_named():
    policy = ResolutionPolicy(long_side=96)
    meta = ExportMetadata("m", "v", explained_model().scale, policy, {"export": None, "train": None}, {})
    props = meta.to_props()
    assert "mobileiqa.outputs" not in props and ExportMetadata.from_props(props).explain is None
    with_heads = ExportMetadata.from_props({**props, "mobileiqa.outputs": json.dumps(
        ExplainOutputs(grid=6, heads={"hidden": 4}).to_dict())})
    assert with_heads.explain == ExplainOutputs(6, {"hidden": 4}) and with_heads.to_props() != props
    with pytest.raises(ValueError, match="x.onnx: metadata key mobileiqa.outputs is malformed.*re-export"):
        ExportMetadata.from_props({**props, "mobileiqa.outputs": json.dumps({"spread": {}})}, where="x.onnx")
    with pytest.raises(ValueError, match="mobileiqa.outputs is not valid JSON"):
        ExportMetadata.from_props({**props, "mobileiqa.outputs": "{"}, where="x.onnx")


def test_int8_keeps_the_outputs_and_records_their_drift(explained_export):
    out, report = explained_export
    drift = report["int8"]["drift"]["explain"]
    for key in ("quality_map_mean_abs_diff", "quality_map_max_abs_diff", "spread_mean_abs_diff",
                "spread_max_abs_diff", "quality_map_mean_pearson"):
        assert key in drift
    assert 0 <= drift["quality_map_mean_abs_diff"] <= drift["quality_map_max_abs_diff"] <= 1
    x = np.random.default_rng(3).standard_normal((1, 3, 96, 128)).astype(np.float32)
    got = run_all(session(out / "model.int8.onnx"), x)
    assert got["quality_map"].min() >= 0 and got["quality_map"].max() <= 1 and got["spread"].min() >= 0


def test_the_heads_latency_cost_is_recorded(explained_export):
    _, report = explained_export
    cost = report["latency"]["explain_heads"]
    assert cost["ms_with_heads"] > 0 and cost["ms_score_only"] > 0
    assert cost["cost_ms"] == pytest.approx(cost["ms_with_heads"] - cost["ms_score_only"], abs=0.02)
    assert "cost_pct" in cost and cost["machine"] and (cost["width"], cost["height"]) == (160, 128)
    assert 0 < cost["min_ms_with_heads"] <= cost["ms_with_heads"] and cost["min_ms_score_only"] > 0
    assert not list(explained_export[0].glob("score_only*"))  # the pruned copy is not shipped
    # the profiled kernel time of the heads' own nodes (export.latency_profile_repeats, 3 by default)
    assert cost["kernel_ms"] > 0 and cost["kernel_pct"] == pytest.approx(
        100 * cost["kernel_ms"] / cost["ms_score_only"], rel=0.01)
    ops = {op: float(ms) for op, ms in (part.rsplit(" ", 1) for part in cost["kernel_ops"].split(", "))}
    assert 1 <= len(ops) <= 5 and sum(ops.values()) <= cost["kernel_ms"] + 0.05 * len(ops)  # the largest five
    assert not {"ReorderInput", "ReorderOutput"} & set(ops)


def test_own_kernel_time_counts_the_nodes_the_reduced_graph_lacks_without_layout_conversions():
    full = {("Conv", "/backbone/conv"): 10.0, ("ReduceMean", "/ReduceMean_3"): 2.0, ("Conv", "/map_in/Conv"): 0.5,
            ("ReorderOutput", "ReorderOutput_token_9"): 7.0, ("Gemm", "/spread_fc1/Gemm"): 0.25}
    reduced = {("Conv", "/backbone/conv"): 11.0, ("ReorderOutput", "ReorderOutput_token_4"): 6.0}
    own = own_kernel_ms(full, reduced)
    assert own == {"ReduceMean": 2.0, "Conv": 0.5, "Gemm": 0.25} and list(own) == ["ReduceMean", "Conv", "Gemm"]


def test_pruning_to_the_score_keeps_the_score_and_drops_the_heads(explained_export, tmp_path):
    out, _ = explained_export
    pruned = prune_outputs(out / "model.onnx", tmp_path / "score.onnx")
    full, small = onnx.load(str(out / "model.onnx")), onnx.load(str(pruned))
    assert [o.name for o in small.graph.output] == ["score"] and len(small.graph.node) < len(full.graph.node)
    assert not any(t.name.startswith("net.explain_heads") for t in small.graph.initializer)
    x = np.random.default_rng(4).standard_normal((2, 3, 80, 112)).astype(np.float32)
    assert np.array_equal(run(session(pruned), x), run(session(out / "model.onnx"), x))
    meta = read_metadata(pruned)
    assert meta.explain is None and meta.model == read_metadata(out / "model.onnx").model
    with pytest.raises(ValueError, match="no output.*'mask'"):
        prune_outputs(out / "model.onnx", tmp_path / "x.onnx", keep=("score", "mask"))


def test_parity_fails_when_only_the_map_differs():
    rng = np.random.default_rng(0)
    inputs = onnx_export.parity_inputs([(96, 64)])
    ref = {"score": np.zeros(2), "quality_map": rng.random((2, 6, 6)), "spread": np.ones(2)}
    bad = {**ref, "quality_map": ref["quality_map"] + 1e-3}
    result = onnx_export.parity(lambda x: ref, lambda x: bad, inputs, 1e-4)
    assert not result["passed"] and result["outputs"]["score"] == 0 and result["outputs"]["quality_map"] > 1e-4
    with pytest.raises(ValueError, match="outputs differ"):
        onnx_export.parity(lambda x: ref, lambda x: {"score": np.zeros(2)}, inputs, 1e-4)


def test_export_onnx_refuses_metadata_that_declares_other_outputs(tmp_path):
    model = explained_model()
    meta = ExportMetadata("m", "v", model.scale, ResolutionPolicy(), {"export": None, "train": None}, {},
                          explain=ExplainOutputs(grid=model.config.grid, heads={"hidden": 99}))
    with pytest.raises(ValueError, match="declares explanation outputs"):
        onnx_export.export_onnx(model, tmp_path / "m.onnx", meta)
    assert not (tmp_path / "m.onnx").exists()
