"""Evaluating the explanation heads: the map against the dataset's local targets (a perfect and a reversed map),
the spread against mos_std, the quadrant set, the example sheet and the report's checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from mobileiqa.eval.explain import (
    Explained,
    evaluate_explanations,
    explain_checks,
    explain_in_chunks,
    explanation_metrics,
    report_section,
    target_maps,
)
from mobileiqa.eval.settings import ExplainEvalConfig, LocalisedConfig
from mobileiqa.models.checkpoint import save_model
from mobileiqa.models.explain import ExplainConfig
from mobileiqa.predict import Predictor
from mobileiqa.predict.maps import display_photo, figure
from mobileiqa.stages.baselines import evaluated_split
from tests.conftest import TINY_STUDENT
from tests.modelgen import spread_model


@pytest.fixture(scope="module")
def split(tiny_dataset):
    folder, _, _ = tiny_dataset
    return evaluated_split(folder, "test")


def test_a_perfect_map_scores_one_and_a_reversed_map_minus_one(split):
    dataset, frame = split
    maps, has = target_maps(dataset.root, frame, grid=6)
    assert has.all() and maps.shape == (len(frame), 6, 6)
    std = frame["mos_std"].to_numpy(float)
    perfect = explanation_metrics(Explained(frame["mos"].to_numpy(float), maps, std), frame, dataset.root)
    assert perfect["map"]["mean"] == pytest.approx(1.0) and perfect["spread"]["srcc"] == pytest.approx(1.0)
    assert set(perfect["map"]["per_kind"]) <= {"kadid", "phone", "mixture"}
    reversed_ = explanation_metrics(Explained(frame["mos"].to_numpy(float), 1 - maps, -std), frame, dataset.root)
    assert reversed_["map"]["mean"] == pytest.approx(-1.0) and reversed_["spread"]["srcc"] == pytest.approx(-1.0)


def test_a_dataset_without_local_targets_skips_the_map(split, tmp_path):
    _, frame = split
    ex = Explained(np.zeros(len(frame)), np.random.default_rng(0).random((len(frame), 4, 4)), np.ones(len(frame)))
    out = explanation_metrics(ex, frame, tmp_path)  # no refs/, no calibration: a real dataset
    assert isinstance(out["map"], str) and "skipped" in out["map"]
    assert out["spread"]["srcc"] is None  # a constant spread has no rank correlation


def test_the_evaluation_draws_and_judges_the_heads(split, tmp_path):
    dataset, frame = split
    torch.manual_seed(0)
    model = spread_model(TINY_STUDENT)
    model.attach_explain_heads(ExplainConfig(hidden=4))
    predictor = Predictor.from_path(save_model(model, TINY_STUDENT, tmp_path / "model.pt"), reduced_decode=False)
    files = list(frame["file"])
    ex = explain_in_chunks(predictor.explain, files, 2, "explain")
    assert ex.quality_map.shape == (len(files), model.config.grid, model.config.grid)
    np.testing.assert_allclose(ex.score, predictor(files), atol=1e-6)  # the same scores as plain scoring
    localised = LocalisedConfig(types=("gaussian_blur", "jpeg"), max_photos=1)

    def draw(file, quality_map, score, spread):
        return figure(display_photo(file, predictor.max_pixels), quality_map, score, spread, predictor.scale)

    out, figures = evaluate_explanations(predictor.explain, draw, files, frame, ex, dataset.root, "test", localised,
                                         ExplainEvalConfig(examples=1), 4, tmp_path / "plots")
    assert out["pointing"]["count"] == 2 and set(out["pointing"]["per_type"]) == {"gaussian_blur", "jpeg"}
    assert out["map"]["count"] + out["map"]["skipped"] == len(files)
    assert [f.name for f in figures] == ["quadrants.png", "explain_examples.png"]
    with Image.open(figures[1]) as sheet:
        assert sheet.width > 400 and sheet.height > 200  # two rows (best, worst) of one example
    text = "\n".join(report_section(out))
    assert "not a confidence interval" in text and "explain_examples.png" in text


def test_the_checks_pass_and_fail_on_the_targets():
    cfg = ExplainEvalConfig(map_srcc_target=0.6, pointing_target=0.8, spread_srcc_target=0.5)
    out = {"map": {"mean": 0.65}, "pointing": {"accuracy": 0.75, "count": 12}, "spread": {"srcc": 0.5}}
    rows = {r["name"]: r["passed"] for r in explain_checks(out, cfg)}
    assert rows == {"map_srcc": True, "pointing": False, "spread_srcc": True}
    skipped = explain_checks({"map": "skipped", "pointing": "skipped", "spread": {"srcc": None}}, cfg)
    assert skipped == []


def test_explain_config_names_the_bad_key():
    with pytest.raises(ValueError, match="evaluate.explain.examples"):
        ExplainEvalConfig(examples=-1)
