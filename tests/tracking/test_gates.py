"""The promotion gates, evidence tags, export facts, model card and pyfunc input handling (pure functions)."""

from __future__ import annotations

import base64
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from mobileiqa.tracking.card import render_card
from mobileiqa.tracking.mlflow_registry import Evidence, collect_evidence, export_facts
from mobileiqa.tracking.promotion import evaluate_gates
from mobileiqa.tracking.pyfunc import as_images
from mobileiqa.tracking.settings import RegisterConfig

CFG = RegisterConfig(srcc_margin=0.01, plcc_margin=0.02, latency_budget_ms=100.0)
INT8_MAX = 0.02  # export.int8_max_srcc_drop, the one int8 drift bound
BASE = Evidence(dataset_sha256="a" * 64, split="test", n=50, srcc=0.80, plcc=0.82, krcc=0.6, latency_ms=50.0,
                latency_machine="cpu-x", formats=("onnx", "ort"), validation_passed=True,
                baselines={"niqe": {"srcc": 0.40, "plcc": 0.38}, "brisque": {"srcc": 0.52}})


def failed(gates) -> dict[str, str]:
    return {g.name: g.detail for g in gates if not g.passed}


def test_first_version_needs_only_its_own_gates():
    assert failed(evaluate_gates(CFG, INT8_MAX, BASE, None)) == {}


def test_floors_hold_with_or_without_a_champion():
    cfg = replace(CFG, min_srcc=0.60, min_srcc_over_baselines=0.10)
    weak = replace(BASE, srcc=0.55, plcc=0.56)
    bad = failed(evaluate_gates(cfg, INT8_MAX, weak, None))  # no champion: the floors still judge
    assert set(bad) == {"srcc_floor", "beats_baselines"}
    assert bad["srcc_floor"] == "SRCC 0.5500 < floor 0.6"
    assert bad["beats_baselines"] == "SRCC 0.5500 < best baseline brisque 0.5200 + 0.1"
    near = replace(BASE, srcc=0.61)  # above the floor, not 0.10 above BRISQUE
    assert set(failed(evaluate_gates(cfg, INT8_MAX, near, None))) == {"beats_baselines"}
    assert failed(evaluate_gates(cfg, INT8_MAX, replace(BASE, srcc=0.62), None)) == {}  # 0.52 + 0.10: inclusive
    # a weak champion does not let a weak challenger through either
    assert set(failed(evaluate_gates(cfg, INT8_MAX, weak, replace(weak, srcc=0.50), "1"))) == {
        "srcc_floor", "beats_baselines"}
    assert "no classic baseline" in failed(evaluate_gates(cfg, INT8_MAX, replace(BASE, baselines={}), None))[
        "beats_baselines"]


def test_worse_challenger_is_refused_with_the_numbers():
    worse = replace(BASE, srcc=0.70, plcc=0.81)
    bad = failed(evaluate_gates(CFG, INT8_MAX, worse, BASE, "3"))
    assert set(bad) == {"srcc"}  # PLCC -0.01 is within its 0.02 margin
    assert "0.7000" in bad["srcc"] and "0.8000" in bad["srcc"] and "v3" in bad["srcc"]


def test_margins_are_inclusive_and_per_metric():
    within = replace(BASE, srcc=0.79, plcc=0.80)  # -0.01 and -0.02: exactly at the margins
    assert failed(evaluate_gates(CFG, INT8_MAX, within, BASE, "1")) == {}
    beyond = replace(BASE, srcc=0.79, plcc=0.799)
    assert set(failed(evaluate_gates(CFG, INT8_MAX, beyond, BASE, "1"))) == {"plcc"}


def test_other_split_needs_a_rescore():
    other = replace(BASE, split="val")
    bad = failed(evaluate_gates(CFG, INT8_MAX, BASE, other, "2"))
    assert "comparable" in bad and "val" in bad["comparable"] and {"srcc", "plcc"} <= set(bad)
    # re-scored champion numbers on the challenger's split decide instead of the recorded ones
    assert failed(evaluate_gates(CFG, INT8_MAX, BASE, other, "2", rescored=(0.81, 0.83))) == {}
    assert set(failed(evaluate_gates(CFG, INT8_MAX, BASE, other, "2", rescored=(0.95, 0.83)))) == {"srcc"}


def test_other_dataset_is_not_comparable():
    other = replace(BASE, dataset_sha256="b" * 64, srcc=0.1, plcc=0.1)
    assert "comparable" in failed(evaluate_gates(CFG, INT8_MAX, BASE, other, "2"))


def test_latency_budget_and_missing_figure():
    slow = replace(BASE, latency_ms=150.0)
    assert "150.0 ms on cpu-x > budget 100 ms" in failed(evaluate_gates(CFG, INT8_MAX, slow, None))["latency"]
    assert "latency" in failed(evaluate_gates(CFG, INT8_MAX, replace(BASE, latency_ms=None), None))


def test_int8_drift_only_when_int8_shipped():
    drifted = replace(BASE, int8_shipped=True, int8_delta_srcc=-0.03, int8_delta_plcc=0.0)
    assert "beyond bound" in failed(evaluate_gates(CFG, INT8_MAX, drifted, None))["int8_drift"]
    ok = replace(drifted, int8_delta_srcc=-0.015)
    assert failed(evaluate_gates(CFG, INT8_MAX, ok, None)) == {}
    assert "int8_drift" in failed(evaluate_gates(CFG, INT8_MAX, replace(drifted, int8_delta_plcc=None), None))
    assert failed(evaluate_gates(CFG, INT8_MAX, replace(BASE, int8_delta_srcc=-0.5), None)) == {}  # not shipped


def test_data_validation_gate():
    bad = replace(BASE, validation_passed=False)
    assert failed(evaluate_gates(CFG, INT8_MAX, bad, None)) == {"data_validation": "FAILED"}
    assert "data_validation" in failed(evaluate_gates(CFG, INT8_MAX, replace(BASE, validation_passed=None), None))
    lax = replace(CFG, require_validation=False)
    assert failed(evaluate_gates(lax, INT8_MAX, replace(BASE, validation_passed=False), None)) == {}


def test_evidence_round_trips_through_tags():
    ev = replace(BASE, int8_shipped=True, int8_delta_srcc=-0.01, int8_delta_plcc=0.002,
                 metrics={"srcc": 0.8, "ci95": {"srcc": [0.7, 0.9]}, "fit": {"b1": 1}},
                 baselines={"niqe": {"srcc": 0.4}}, git_commit="abc", profile="tiny", model_arch="m")
    tags = ev.to_tags()
    assert all(isinstance(v, str) for v in tags.values())
    back = Evidence.from_tags(tags)
    assert back == replace(ev, metrics={"srcc": 0.8, "ci95": {"srcc": [0.7, 0.9]}})  # bulky "fit" dropped
    with pytest.raises(ValueError, match="metrics.srcc"):
        Evidence.from_tags({k: v for k, v in tags.items() if k != "metrics.srcc"})


def test_export_facts_and_collect_evidence():
    export = {"shipped": ["onnx", "ort", "int8"], "latency": {"seconds": 0.25, "machine": "cpu-y"},
              "int8": {"drift": {"delta_srcc": -0.004, "delta_plcc": 0.001}}}
    facts = export_facts(export)
    assert facts["latency_ms"] == pytest.approx(250.0) and facts["latency_machine"] == "cpu-y"
    assert facts["int8_shipped"] and facts["int8_delta_srcc"] == -0.004
    metrics = {"split": "test", "n": 10, "dataset_sha256": "c" * 64, "extra": 1,
               "model": {"srcc": 0.5, "plcc": 0.6, "ci": {"srcc": [0.4, 0.6]}}, "baselines": {"piqe": {"srcc": 0.2}}}
    ev = collect_evidence(metrics, export, {"success": True}, "deadbeef", "cpu")
    assert (ev.srcc, ev.plcc, ev.split, ev.validation_passed, ev.latency_ms) == (0.5, 0.6, "test", True, 250.0)
    assert ev.baselines == {"piqe": {"srcc": 0.2}}


def test_card_has_every_section():
    ev = replace(BASE, metrics={"srcc": 0.8, "plcc": 0.82, "krcc": 0.6, "ci95": {"srcc": [0.71, 0.86]}},
                 baselines={"niqe": {"srcc": 0.4, "plcc": 0.3}}, model_arch="mobileiqa_student_x")
    card = render_card("mobileiqa-student", ev, {"params_m": 1.5}, version="4")
    for text in ("# Model card: mobileiqa-student v4", "## Data", "a" * 64, "## Metrics", "0.710–0.860", "niqe",
                 "## Compute", "50.0 ms on `cpu-x`", "params_m", "## Intended use", "## Limitations"):
        assert text in card
    assert "## Explanations" not in card  # a version without explanation heads
    explained = render_card("mobileiqa-student", ev, {"latency": {"explain_heads": {"cost_pct": 0.4}}})
    assert "## Explanations" in explained and "not a confidence interval" in explained and "add 0.4 %" in explained
    assert "own operators" not in explained  # no profile recorded
    profiled = render_card("mobileiqa-student", ev,
                           {"latency": {"explain_heads": {"cost_pct": 3.5, "kernel_pct": 2.4}}})
    assert "add 3.5 %" in profiled and "their own operators take 2.4 % of the score's time" in profiled


def test_pyfunc_inputs(tmp_path: Path):
    from mlflow.exceptions import MlflowException

    img = tmp_path / "a.jpg"
    img.write_bytes(b"\xff\xd8fake")
    b64 = base64.b64encode(b"\x89PNGfake").decode()
    assert as_images([b64, b"raw"]) == [b"\x89PNGfake", b"raw"]
    assert as_images(pd.DataFrame({"other": [b64]})) == [b"\x89PNGfake"]
    assert as_images(pd.DataFrame({"image": [[b64, b64]]})) == [b"\x89PNGfake"] * 2  # {"image": [...]}
    assert as_images({"image": [b64]}) == [b"\x89PNGfake"]
    with pytest.raises(MlflowException, match="image 1: .* is not base64; send the image's bytes"):
        as_images([b64, str(img)])  # paths are not read by default ...
    assert as_images([str(img), b64], allow_paths=True) == [img, b"\x89PNGfake"]  # ... unless allowed
    assert as_images(pd.DataFrame({"image": [[b64, str(img)]]}), allow_paths=True) == [b"\x89PNGfake", img]
    with pytest.raises(MlflowException, match="image 1: .*no such file is readable by the server"):
        as_images([b64, str(tmp_path / "missing.jpg")], allow_paths=True)
    with pytest.raises(MlflowException, match="image 0: expected a base64 string"):
        as_images([3.5])
