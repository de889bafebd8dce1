"""IQA accuracy metrics: hand-computed values, agreement with scipy, logistic mapping, bootstrap, validation."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats

from mobileiqa.eval.metrics import (
    LOGISTIC_METRICS,
    RAW_METRICS,
    LogisticFit,
    accuracy,
    bootstrap,
    fit_logistic,
    grouped,
    krcc,
    mae,
    paired_bootstrap_diff,
    plcc,
    rmse,
    srcc,
)

PRED = [1, 2, 3, 4, 5]
MOS = [5, 6, 7, 8, 7]


def _logistic(x, b1, b2, b3, b4):
    return b2 + (b1 - b2) / (1 + np.exp(-(x - b3) / abs(b4)))


def _correlated(n, noise=1.0, seed=0):
    rng = np.random.default_rng(seed)
    mos = rng.uniform(1, 5, n)
    return mos + noise * rng.normal(size=n), mos


# ------------------------------------------------------------------------------------------ hand-computed values
def test_srcc_by_hand_with_a_tie_in_mos():
    # ranks(pred) = [1, 2, 3, 4, 5]; ranks(mos) = [1, 2, 3.5, 5, 3.5] (the two 7s share ranks 3 and 4 → 3.5).
    # Both rank vectors have mean 3: dx = [-2, -1, 0, 1, 2], dy = [-2, -1, 0.5, 2, 0.5].
    # Σdx·dy = 4 + 1 + 0 + 2 + 1 = 8; Σdx² = 10; Σdy² = 4 + 1 + 0.25 + 4 + 0.25 = 9.5 → SRCC = 8 / √95.
    assert srcc(PRED, MOS) == pytest.approx(8 / math.sqrt(95), abs=1e-9)


def test_krcc_is_tau_b_by_hand():
    # 10 pairs (i < j); pred increases along every pair. Signs of mos_j - mos_i:
    # (1,2)+ (1,3)+ (1,4)+ (1,5)+ (2,3)+ (2,4)+ (2,5)+ (3,4)+ (3,5)0 (4,5)-  → C = 8, D = 1, one pair tied in mos.
    # tau-b = (C - D) / √((n0 - n_pred_ties)(n0 - n_mos_ties)) = 7 / √(10 · 9) = 7 / √90.
    assert krcc(PRED, MOS) == pytest.approx(7 / math.sqrt(90), abs=1e-9)


def test_krcc_and_srcc_with_ties_in_both_inputs_by_hand():
    # pred = [1, 1, 2, 3], mos = [1, 2, 2, 3]. Pairs: (1,2) tied in pred; (2,3) tied in mos; (1,3) (1,4) (2,4)
    # (3,4) concordant → C = 4, D = 0, n0 = 6 → tau-b = 4 / √((6 - 1)(6 - 1)) = 0.8.
    # ranks: pred [1.5, 1.5, 3, 4], mos [1, 2.5, 2.5, 4], mean 2.5 → dx = [-1, -1, .5, 1.5], dy = [-1.5, 0, 0, 1.5]:
    # Σdx·dy = 1.5 + 2.25 = 3.75, Σdx² = Σdy² = 4.5 → SRCC = 3.75 / 4.5 = 5/6.
    assert krcc([1, 1, 2, 3], [1, 2, 2, 3]) == pytest.approx(0.8, abs=1e-9)
    assert srcc([1, 1, 2, 3], [1, 2, 2, 3]) == pytest.approx(5 / 6, abs=1e-9)


def test_plcc_rmse_mae_by_hand():
    # PLCC: mean(pred) = 3, mean(mos) = 33/5 = 6.6; dx = [-2, -1, 0, 1, 2], dy = [-1.6, -0.6, 0.4, 1.4, 0.4].
    # Σdx·dy = 3.2 + 0.6 + 0 + 1.4 + 0.8 = 6; Σdx² = 10; Σdy² = 2.56 + .36 + .16 + 1.96 + .16 = 5.2 → 6 / √52.
    assert plcc(PRED, MOS) == pytest.approx(6 / math.sqrt(52), abs=1e-9)
    # pred - mos = [-4, -4, -4, -4, -2]: RMSE = √((4·16 + 4) / 5) = √13.6; MAE = 18 / 5 = 3.6.
    assert rmse(PRED, MOS) == pytest.approx(math.sqrt(13.6), abs=1e-9)
    assert mae(PRED, MOS) == pytest.approx(3.6, abs=1e-9)


def test_accuracy_collects_the_hand_computed_values():
    m = accuracy(PRED, MOS)
    assert m.n == 5
    assert (m.srcc, m.krcc, m.plcc) == pytest.approx((8 / math.sqrt(95), 7 / math.sqrt(90), 6 / math.sqrt(52)))
    assert (m.rmse, m.mae) == pytest.approx((math.sqrt(13.6), 3.6))
    # the fitted mapping is least squares on the MOS scale, so it beats the raw scores and any line
    assert m.rmse_logistic < rmse(np.polyval(np.polyfit(PRED, MOS, 1), PRED), MOS) < m.rmse
    d = m.to_dict()
    assert set(d) == {"n", *RAW_METRICS, *LOGISTIC_METRICS, "fit"}
    assert d["fit"]["kind"] == m.fit.kind and len(d["fit"]["params"]) == len(m.fit.params)


def test_agrees_with_scipy_on_random_data_with_ties():
    rng = np.random.default_rng(1)
    pred = rng.integers(0, 20, 200).astype(float)  # many ties in both inputs
    mos = np.round(pred / 4 + rng.normal(size=200), 0)
    assert srcc(pred, mos) == pytest.approx(stats.spearmanr(pred, mos).statistic, abs=1e-9)
    assert krcc(pred, mos) == pytest.approx(stats.kendalltau(pred, mos).statistic, abs=1e-9)
    assert plcc(pred, mos) == pytest.approx(stats.pearsonr(pred, mos).statistic, abs=1e-9)
    assert rmse(pred, mos) == pytest.approx(np.sqrt(np.mean((pred - mos) ** 2)), abs=1e-9)
    assert mae(pred, mos) == pytest.approx(np.mean(np.abs(pred - mos)), abs=1e-9)


# ------------------------------------------------------------------------------------------- monotone relations
def test_monotone_nonlinear_relation_is_perfect_in_rank_and_after_the_logistic():
    pred = np.linspace(-4, 4, 60)  # mean ~1e-17: a finite-difference Jacobian would leave b3 stuck there
    mos = _logistic(pred, 90.0, 10.0, 1.0, 0.7)
    m = accuracy(pred, mos)
    assert m.srcc == pytest.approx(1.0, abs=1e-12) and m.krcc == pytest.approx(1.0, abs=1e-12)
    assert m.plcc < 0.95
    assert m.fit.kind == "logistic"
    assert m.plcc_logistic == pytest.approx(1.0, abs=1e-9)
    assert m.rmse_logistic == pytest.approx(0.0, abs=1e-6)


def test_reversed_order_gives_minus_one_and_a_decreasing_mapping():
    pred = np.arange(10.0)
    m = accuracy(pred, -2 * pred + 3)
    assert (m.srcc, m.krcc, m.plcc) == pytest.approx((-1.0, -1.0, -1.0), abs=1e-12)
    assert m.plcc_logistic == pytest.approx(1.0, abs=1e-9)  # the fitted mapping may decrease (documented)


def test_logistic_fit_recovers_known_parameters():
    true = (85.0, 12.0, 0.5, 0.8)
    pred = np.linspace(-3, 4, 120)
    fit = fit_logistic(pred, _logistic(pred, *true))
    assert fit.kind == "logistic" and fit.reason == ""
    assert fit.params == pytest.approx(true, rel=1e-6)
    # b4 enters as |b4|: a negative scale is the same curve and is stored positive
    assert fit_logistic(pred, _logistic(pred, 85.0, 12.0, 0.5, -0.8)).params == pytest.approx(true, rel=1e-6)
    assert fit(np.array([0.5])) == pytest.approx([(85 + 12) / 2])


def test_logistic_fit_falls_back_to_a_line_and_says_why():
    line = LogisticFit("linear", (2.0, 1.0), reason="test")
    assert line(np.array([0.0, 1.0])) == pytest.approx([1.0, 3.0])
    fit = fit_logistic([3, 3, 3, 3], [1, 2, 3, 4])
    assert fit.kind == "linear" and "constant" in fit.reason and fit.params == pytest.approx((0.0, 2.5))
    with pytest.raises(ValueError, match="'logistic' or 'linear'"):
        LogisticFit("cubic", (1.0,))


def test_too_few_points_for_a_logistic_fit_a_line():
    fit = fit_logistic([0.1, 0.5, 0.9], [1.0, 2.0, 4.0])  # curve_fit raises TypeError on fewer points than params
    assert fit.kind == "linear" and "3 points" in fit.reason
    slope, intercept = np.polyfit([0.1, 0.5, 0.9], [1.0, 2.0, 4.0], 1)
    assert fit.params == pytest.approx((slope, intercept))


def test_a_failed_logistic_fit_falls_back_to_least_squares_line(monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("Optimal parameters not found")

    monkeypatch.setattr("mobileiqa.eval.metrics.logistic.curve_fit", fail)
    m = accuracy(PRED, MOS)
    assert m.fit.kind == "linear" and "logistic fit failed (Optimal parameters not found)" in m.fit.reason
    slope, intercept = np.polyfit(PRED, MOS, 1)
    assert m.fit.params == pytest.approx((slope, intercept))
    assert m.plcc_logistic == pytest.approx(m.plcc)  # a line keeps the raw PLCC


def test_constant_predictor_has_nan_correlations_but_errors_are_computed():
    pred, mos = [2.0] * 6, [1, 2, 3, 4, 5, 6]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning / ConstantInputWarning leaks out
        m = accuracy(pred, mos)
        assert math.isnan(srcc(pred, mos)) and math.isnan(krcc(pred, mos)) and math.isnan(plcc(pred, mos))
    assert math.isnan(m.srcc) and math.isnan(m.krcc) and math.isnan(m.plcc) and math.isnan(m.plcc_logistic)
    assert m.rmse == pytest.approx(math.sqrt(np.mean((2.0 - np.arange(1, 7)) ** 2)))
    assert m.mae == pytest.approx(np.mean(np.abs(2.0 - np.arange(1, 7))))
    assert m.fit.kind == "linear"
    assert m.rmse_logistic == pytest.approx(np.std(np.arange(1, 7)))  # the best constant is mean(mos)


# ---------------------------------------------------------------------------------------------------- bootstrap
def test_bootstrap_intervals_contain_the_point_estimate():
    pred, mos = _correlated(300)
    point = accuracy(pred, mos)
    intervals = bootstrap(pred, mos)
    assert set(intervals) == set(RAW_METRICS)  # logistic metrics are opt-in
    for name, (low, high) in intervals.items():
        assert low < getattr(point, name) < high, name


def test_bootstrap_matches_a_plain_loop_over_the_same_resamples():
    pred, mos = _correlated(40, seed=3)
    pred, mos = np.round(pred, 1), np.round(mos, 1)  # ties, so resampled ranks must average them
    rng = np.random.default_rng(7)
    idx = rng.integers(0, 40, size=(50, 40))  # small n: all resamples are drawn as one block
    expected = {
        "srcc": [stats.spearmanr(pred[i], mos[i]).statistic for i in idx],
        "krcc": [stats.kendalltau(pred[i], mos[i]).statistic for i in idx],
        "plcc": [stats.pearsonr(pred[i], mos[i]).statistic for i in idx],
    }
    got = bootstrap(pred, mos, tuple(expected), n_boot=50, seed=7, alpha=0.1)
    for name, values in expected.items():
        assert got[name] == pytest.approx(tuple(np.quantile(values, [0.05, 0.95])), abs=1e-12), name


def test_bootstrap_narrows_with_more_data_and_is_seeded():
    small, large = _correlated(60, seed=1), _correlated(2000, seed=1)
    width = {k: [hi - lo for lo, hi in bootstrap(*d, ("srcc", "plcc"), n_boot=300).values()]
             for k, d in {"small": small, "large": large}.items()}
    assert all(w_large < w_small / 3 for w_small, w_large in zip(width["small"], width["large"], strict=True))
    assert bootstrap(*small, "srcc", n_boot=200, seed=5) == bootstrap(*small, "srcc", n_boot=200, seed=5)
    assert bootstrap(*small, "srcc", n_boot=200, seed=5) != bootstrap(*small, "srcc", n_boot=200, seed=6)


def test_bootstrap_logistic_metrics_on_request():
    pred, mos = _correlated(50, seed=2)
    point = accuracy(pred, mos)
    got = bootstrap(pred, mos, LOGISTIC_METRICS, n_boot=40)
    for name, (low, high) in got.items():
        assert low < high and low - 0.1 < getattr(point, name) < high + 0.1, name


def test_bootstrap_rejects_bad_arguments():
    pred, mos = _correlated(20)
    with pytest.raises(ValueError, match="unknown metric.*'sroc'.*choose from srcc"):
        bootstrap(pred, mos, ("srcc", "sroc"))
    with pytest.raises(ValueError, match="n_boot must be a positive integer"):
        bootstrap(pred, mos, n_boot=0)
    with pytest.raises(ValueError, match="alpha"):
        bootstrap(pred, mos, alpha=1.5)


def test_paired_bootstrap_of_a_model_against_itself_is_exactly_zero():
    pred, mos = _correlated(200)
    d = paired_bootstrap_diff(pred, pred, mos, n_boot=200)
    assert (d.observed, d.mean, d.low, d.high) == (0.0, 0.0, 0.0, 0.0)


def test_paired_bootstrap_detects_a_clearly_better_model():
    rng = np.random.default_rng(4)
    mos = rng.uniform(1, 5, 400)
    good, bad = mos + 0.3 * rng.normal(size=400), mos + 2.0 * rng.normal(size=400)
    d = paired_bootstrap_diff(good, bad, mos, "srcc", n_boot=300)
    assert 0 < d.low <= d.mean <= d.high and d.low < d.observed < d.high and not d.lower_is_better
    e = paired_bootstrap_diff(good, bad, mos, "rmse", n_boot=300)
    assert e.high < 0 and e.lower_is_better  # lower error: a - b is negative
    assert d.to_dict()["metric"] == "srcc"
    with pytest.raises(ValueError, match="pred_b and mos must have the same length, got 399 and 400"):
        paired_bootstrap_diff(good, bad[:-1], mos)


# ------------------------------------------------------------------------------------------------------ grouped
def test_grouped_reports_every_group_with_its_n():
    pred, mos = _correlated(30, seed=6)
    groups = np.array(["blur"] * 12 + ["noise"] * 16 + ["jpeg"] * 2)
    out = grouped(pred, mos, groups)
    assert list(out) == ["blur", "noise", "jpeg"]  # order of first appearance, Python str keys
    assert {g: m.n for g, m in out.items()} == {"blur": 12, "noise": 16, "jpeg": 2}
    assert out["noise"] == accuracy(pred[12:28], mos[12:28])
    small = out["jpeg"]  # too few to evaluate: kept, with nan metrics and no fit
    assert small.fit is None and all(math.isnan(v) for k, v in small.to_dict().items() if k not in ("n", "fit"))
    with pytest.raises(ValueError, match="one label per item: got 29 labels for 30 items"):
        grouped(pred, mos, groups[:-1])


# --------------------------------------------------------------------------------------------------- validation
@pytest.mark.parametrize(("pred", "mos", "message"), [
    ([1, 2, 3], [1, 2], "pred and mos must have the same length, got 3 and 2"),
    ([1, 2], [1, 2], "need at least 3 items to compute IQA metrics, got 2"),
    ([1, 2, 3, float("nan"), 5, float("nan")], [1] * 6, r"pred has 2 non-finite value\(s\).*first is at index 3"),
    ([1, 2, 3], [1, float("inf"), 3], r"mos has 1 non-finite value\(s\).*first is at index 1 \(inf\)"),
    ([[1, 2], [3, 4]], [1, 2], r"pred must be a 1-D sequence of scores, got an array of shape \(2, 2\)"),
    (["a", "b", "c"], [1, 2, 3], "pred must be a 1-D sequence of numeric scores"),
])
def test_invalid_inputs_raise_naming_the_problem(pred, mos, message):
    for fn in (srcc, krcc, plcc, rmse, mae, accuracy, fit_logistic, bootstrap):
        with pytest.raises(ValueError, match=message):
            fn(pred, mos)
