"""Accuracy metrics for image-quality assessment: pure functions over predicted scores and MOS.

Holds the correlation and error metrics every IQA paper reports (the MobileIQA paper's tables use SRCC and PLCC),
the VQEG 4-parameter logistic mapping fitted before PLCC/RMSE, percentile-bootstrap confidence intervals, a
paired bootstrap for comparing two models on one test set, and per-group breakdowns (distortion type, level).

Conventions (the usual IQA ones):

- **SRCC** is Spearman's rho: the Pearson correlation of the ranks, tied values sharing their average rank.
- **KRCC** is Kendall's tau-b, which corrects for ties in either input (``scipy.stats.kendalltau``'s default).
- **PLCC** is the Pearson correlation of the raw predictions with MOS; ``plcc_logistic`` (and ``rmse_logistic``,
  ``mae_logistic``) are computed after mapping the predictions to the MOS scale with the logistic fitted on the
  evaluated set itself (VQEG FR-TV Phase II):
  ``f(x) = b2 + (b1 - b2) / (1 + exp(-(x - b3) / |b4|))``. The mapping may be decreasing, so a predictor whose
  scores run opposite to MOS gets a negative PLCC but a positive ``plcc_logistic``.
- **RMSE / MAE** without a suffix compare raw predictions with MOS, so they only mean something when the model
  predicts on the MOS scale; the ``_logistic`` versions are scale-free.
- Inputs must be 1-D, of equal length, hold at least 3 items and be finite; anything else raises ``ValueError``
  naming the problem (NaN/inf: how many and the index of the first). Nothing is dropped or repaired silently.
- A **constant** input has no defined correlation: SRCC, KRCC and PLCC are ``nan`` (no warning, no exception),
  while RMSE and MAE are still computed; the fitted mapping falls back to the line ``y = mean(mos)``.

Modules: :mod:`.correlation` (the metrics and input checks), :mod:`.logistic` (the fitted mapping),
:mod:`.summary` (every metric of a set, per group), :mod:`.bootstrap` (intervals, paired differences).
"""

from mobileiqa.eval.metrics.bootstrap import PairedDiff, bootstrap, paired_bootstrap_diff
from mobileiqa.eval.metrics.correlation import (
    LOGISTIC_METRICS,
    LOWER_IS_BETTER,
    METRIC_NAMES,
    RAW_METRICS,
    krcc,
    mae,
    plcc,
    rmse,
    srcc,
)
from mobileiqa.eval.metrics.logistic import LogisticFit, fit_logistic
from mobileiqa.eval.metrics.summary import Metrics, accuracy, grouped

__all__ = ["LOGISTIC_METRICS", "LOWER_IS_BETTER", "METRIC_NAMES", "RAW_METRICS", "LogisticFit", "Metrics",
           "PairedDiff", "accuracy", "bootstrap", "fit_logistic", "grouped", "krcc", "mae", "paired_bootstrap_diff",
           "plcc", "rmse", "srcc"]
