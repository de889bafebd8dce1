"""Evaluation building blocks: per-column metrics with sign handling, paired comparisons, tables, behaviour checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mobileiqa.eval.behaviour import behaviour_checks, monotonicity
from mobileiqa.eval.scorecard import Column, column_metrics, compare, markdown_table, score_in_chunks, split_frame
from tests.imagegen import make_photo


def _frame(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    mos = rng.uniform(0, 1, n)
    types = np.array(["blur", "noise", "jpeg"])[np.arange(n) % 3]
    return pd.DataFrame({"image_id": [f"i{i}" for i in range(n)], "mos": mos, "dist_type": types,
                         "dist_level": 1 + np.arange(n) % 5,
                         "good": mos + rng.normal(0, 0.05, n),        # higher is better, close to MOS
                         "niqe_like": 10 - 5 * mos + rng.normal(0, 1.0, n)})  # lower is better, noisier


def test_lower_is_better_baseline_is_negated_before_metrics():
    frame = _frame()
    raw = column_metrics(frame, Column("niqe_like", "baseline", higher_is_better=True), n_boot=0, seed=0)
    fixed = column_metrics(frame, Column("niqe_like", "baseline", higher_is_better=False), n_boot=0, seed=0)
    assert raw["srcc"] < -0.5 and fixed["srcc"] == pytest.approx(-raw["srcc"])
    assert fixed["sign"] == -1 and "ci95" not in fixed


def test_column_metrics_intervals_and_groups():
    frame = _frame()
    r = column_metrics(frame, Column("good", "model"), n_boot=200, seed=0)
    lo, hi = r["ci95"]["srcc"]
    assert lo < r["srcc"] < hi and r["srcc"] > 0.9
    assert set(r["per_type"]) == {"blur", "noise", "jpeg"} and set(r["per_level"]) == {"1", "2", "3", "4", "5"}
    assert r["n"] == 60 and r["fit"]["kind"] in ("logistic", "linear")


def test_mixtures_are_one_type_and_kinds_are_reported_apart():
    frame = _frame(90)
    frame["dist_type"] = np.array(["blur", "webp", "mix:camera_shake+jpeg", "mix:white_noise+webp"] * 23)[:90]
    rng = np.random.default_rng(1)
    kadid = frame["dist_type"].eq("blur").to_numpy()
    frame.loc[~kadid, "good"] = rng.uniform(0, 1, (~kadid).sum())  # right on KADID rows only
    frame["dist_type"] = frame["dist_type"].replace("blur", "gaussian_blur")
    r = column_metrics(frame, Column("good", "model"), n_boot=0, seed=0)
    assert set(r["per_type"]) == {"gaussian_blur", "webp", "mixture"}
    assert set(r["per_kind"]) == {"kadid", "phone", "mixture"}
    assert r["per_kind"]["kadid"] > 0.9 > 0.5 > abs(r["per_kind"]["phone"])
    only_kadid = frame[kadid].reset_index(drop=True)  # one kind: nothing to report apart
    assert "per_kind" not in column_metrics(only_kadid, Column("good", "model"), n_boot=0, seed=0)


def test_groups_are_skipped_for_authentic_images():
    frame = _frame()
    frame["dist_type"] = ""
    assert "per_type" not in column_metrics(frame, Column("good", "model"), n_boot=0, seed=0)


def test_compare_favours_the_better_model():
    frame = _frame()
    diff = compare(frame, Column("good", "model"), Column("niqe_like", "baseline", False), n_boot=300, seed=0)
    assert diff["srcc"]["observed"] > 0 and diff["srcc"]["low"] > 0


def test_markdown_table_lists_models_first():
    frame = _frame()
    results = {c.name: column_metrics(frame, c, 100, 0)
               for c in (Column("niqe_like", "baseline", False), Column("good", "model"))}
    lines = markdown_table(results).splitlines()
    assert lines[2].startswith("| good | model |") and lines[3].startswith("| niqe_like | baseline |")


def test_split_frame_names_missing_split(tmp_path):
    manifest = pd.DataFrame({"split": ["train", "val"], "path": ["a.png", "b.png"]})
    with pytest.raises(ValueError, match="no 'test' rows.*evaluate.split"):
        split_frame(manifest, tmp_path, "test")
    assert split_frame(manifest, tmp_path, "val")["file"].tolist() == [tmp_path / "b.png"]


def test_score_in_chunks_checks_scorer_length():
    files = [f"f{i}" for i in range(5)]
    assert score_in_chunks(lambda part: np.ones(len(part)), files, 2, "ones").tolist() == [1.0] * 5
    with pytest.raises(RuntimeError, match="returned 1 scores for 2 images"):
        score_in_chunks(lambda part: np.ones(1), files, 2, "bad")


def _sharpness(images):
    """Mean absolute horizontal gradient: falls with blur, rises with noise."""
    return np.array([np.abs(np.diff(im.astype(float).mean(axis=2), axis=1)).mean() for im in images])


def test_behaviour_checks_detect_falling_and_rising_scores():
    refs = [(f"p{i}", np.array(make_photo(i, 96, 64))) for i in range(3)]
    blur = monotonicity(_sharpness, refs, "gaussian_blur")
    noise = monotonicity(_sharpness, refs, "white_noise")
    assert blur["mean_spearman_level_vs_score"] < -0.95 and blur["falling_fraction"] == 1.0
    assert noise["mean_spearman_level_vs_score"] > 0.5 and noise["falling_fraction"] == 0.0
    out = behaviour_checks(_sharpness, refs, ["gaussian_blur"], 95, split_spread=1.0, flat_tolerance=0.01)
    assert out["reencode"]["photos"] == 3 and out["reencode"]["mean_abs_shift"] >= 0


def test_behaviour_counts_a_rise_below_the_tolerance_as_flat():
    """Scores 1.0 → 1.005 → then falling: falling with a 0.01 tolerance, rising with none; a rise of 0.02 never."""
    refs = [("p", np.array(make_photo(0, 64, 48)))]
    def scorer(rise):
        return lambda images: np.array([1.0, 1.0 + rise, 0.8, 0.6, 0.4, 0.2][:len(images)])
    assert monotonicity(scorer(0.005), refs, "gaussian_blur", flat_tolerance=0.01)["falling_fraction"] == 1.0
    assert monotonicity(scorer(0.005), refs, "gaussian_blur")["falling_fraction"] == 0.0
    assert monotonicity(scorer(0.02), refs, "gaussian_blur", flat_tolerance=0.01)["falling_fraction"] == 0.0
    with pytest.raises(ValueError, match="flat_tolerance"):
        monotonicity(scorer(0.0), refs, "gaussian_blur", flat_tolerance=-0.1)


def test_behaviour_rejects_non_monotone_types():
    refs = [("p", np.array(make_photo(0, 64, 48)))]
    with pytest.raises(ValueError, match="not monotone"):
        monotonicity(_sharpness, refs, "contrast_change")
    with pytest.raises(ValueError, match="unknown distortion"):
        monotonicity(_sharpness, refs, "nope")
