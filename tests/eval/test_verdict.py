"""The evaluation report opens with a verdict: each target and gate it can judge, pass or FAIL, with its figure."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from mobileiqa.config import load_params
from mobileiqa.stages.evaluate import _report, verdict

ROOT = Path(__file__).resolve().parents[2]


def _out(srcc: float, niqe: float, falling: dict[str, float]) -> dict:
    return {"split": "test", "n": 10, "dataset_sha256": "a" * 64, "model": {"srcc": srcc},
            "baselines": {"niqe": {"srcc": niqe}, "piqe": {"srcc": None}}, "comparisons": {},
            "behaviour": {"types": {t: {"falling_fraction": f, "mean_spearman_level_vs_score": -0.5,
                                        "flat_tolerance": 0.01} for t, f in falling.items()},
                          "reencode": {"quality": 95, "mean_abs_shift": 0.01, "split_score_std": 0.1}}}


def test_the_verdict_judges_the_floors_and_the_behaviour_target():
    params = load_params(ROOT / "params.yaml")
    rows = verdict(_out(0.71, 0.32, {"jpeg": 1.0, "gaussian_blur": 0.5}), params)
    assert [(r["check"].split(" (")[0], r["passed"]) for r in rows] == [
        ("SRCC floor", True), ("beats the best baseline", True), ("score falls with the jpeg level", True),
        ("score falls with the gaussian_blur level", False)]
    assert rows[1]["figure"] == "SRCC 0.7100 >= best baseline niqe 0.3200 + 0.1"
    assert rows[3]["figure"] == "50% of series vs 90%"
    weak = verdict(_out(0.45, 0.40, {}), params)  # the floors hold whatever the champion
    assert [(r["name"], r["passed"]) for r in weak] == [("srcc_floor", False), ("beats_baselines", False)]
    strict = dataclasses.replace(params, register=dataclasses.replace(params.register, min_srcc=0.75))
    assert not verdict(_out(0.71, 0.32, {}), strict)[0]["passed"]


def test_the_report_opens_with_the_verdict():
    params = load_params(ROOT / "params.yaml")
    out = _out(0.71, 0.32, {"jpeg": 1.0, "gaussian_blur": 0.5})
    out["verdict"] = verdict(out, params)
    text = _report(out, {})
    lines = text.splitlines()
    assert lines[0].startswith("# Evaluation on the test split") and lines[2] == "## Verdict: 1 of 4 checks FAIL"
    assert "| score falls with the gaussian_blur level (evaluate.behaviour.falling_target) | **FAIL** | 50% of " \
           "series vs 90% |" in text
    out["verdict"] = verdict(_out(0.71, 0.32, {"jpeg": 1.0}), params)
    assert "## Verdict: every check passes" in _report(out, {})
