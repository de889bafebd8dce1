"""The correlation and error metrics on one evaluated set (SRCC, KRCC, PLCC, RMSE, MAE), with the input checks and
the row-wise forms the bootstrap uses. Conventions: :mod:`mobileiqa.eval.metrics`."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

MIN_ITEMS = 3
MAXFEV = 20_000
# The logistic family contains lines only in the limit |b4| → ∞, so a converged logistic fit can be a hair worse
# than the best line; one worse by more than this relative margin means the optimiser got stuck.
LINEAR_SSE_TOLERANCE = 1e-6
# Bootstrap resamples are processed in blocks of about this many (resample × item) values to bound memory.
BLOCK_VALUES = 1 << 20

RAW_METRICS = ("srcc", "krcc", "plcc", "rmse", "mae")
LOGISTIC_METRICS = ("plcc_logistic", "rmse_logistic", "mae_logistic")
METRIC_NAMES = RAW_METRICS + LOGISTIC_METRICS
LOWER_IS_BETTER = frozenset({"rmse", "mae", "rmse_logistic", "mae_logistic"})


# --------------------------------------------------------------------------------------------------- validation
def _as_scores(values, name: str) -> np.ndarray:
    try:
        a = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} must be a 1-D sequence of numeric scores: {e}") from e
    if a.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of scores, got an array of shape {a.shape}")
    return a


def _check_finite(a: np.ndarray, name: str) -> None:
    bad = ~np.isfinite(a)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} has {int(bad.sum())} non-finite value(s) (NaN or inf); the first is at index "
                         f"{first} ({a[first]}); drop or fix those items before evaluating")


def _validate(pred, mos, pred_name: str = "pred") -> tuple[np.ndarray, np.ndarray]:
    p, m = _as_scores(pred, pred_name), _as_scores(mos, "mos")
    if len(p) != len(m):
        raise ValueError(f"{pred_name} and mos must have the same length, got {len(p)} and {len(m)}")
    if len(p) < MIN_ITEMS:
        raise ValueError(f"need at least {MIN_ITEMS} items to compute IQA metrics, got {len(p)}")
    _check_finite(p, pred_name)
    _check_finite(m, "mos")
    return p, m


# ------------------------------------------------------------------------------- metrics on rows of a 2-D batch
def _pearson_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row of ``x`` with the same row of ``y``; ``nan`` where either row is constant."""
    xc = x - x.mean(axis=1, keepdims=True)
    yc = y - y.mean(axis=1, keepdims=True)
    sxy = np.einsum("ij,ij->i", xc, yc)
    norm = np.sqrt(np.einsum("ij,ij->i", xc, xc)) * np.sqrt(np.einsum("ij,ij->i", yc, yc))
    constant = (np.ptp(x, axis=1) == 0) | (np.ptp(y, axis=1) == 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.clip(sxy / norm, -1.0, 1.0)
    r[constant] = np.nan
    return r


def _rmse_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.sqrt(np.mean((x - y) ** 2, axis=1))


def _mae_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.mean(np.abs(x - y), axis=1)


# ------------------------------------------------------------------------------ metrics on validated 1-D arrays
def _plcc(p: np.ndarray, m: np.ndarray) -> float:
    return float(_pearson_rows(p[None], m[None])[0])


def _srcc(p: np.ndarray, m: np.ndarray) -> float:
    return _plcc(stats.rankdata(p), stats.rankdata(m))


def _krcc(p: np.ndarray, m: np.ndarray) -> float:
    if np.ptp(p) == 0 or np.ptp(m) == 0:
        return math.nan
    return float(stats.kendalltau(p, m, variant="b").statistic)


def _rmse(p: np.ndarray, m: np.ndarray) -> float:
    return float(_rmse_rows(p[None], m[None])[0])


def _mae(p: np.ndarray, m: np.ndarray) -> float:
    return float(_mae_rows(p[None], m[None])[0])


def srcc(pred, mos) -> float:
    """Spearman rank-order correlation (ties get their average rank); ``nan`` if either input is constant."""
    return _srcc(*_validate(pred, mos))


def krcc(pred, mos) -> float:
    """Kendall rank-order correlation, tau-b (tie-corrected); ``nan`` if either input is constant."""
    return _krcc(*_validate(pred, mos))


def plcc(pred, mos) -> float:
    """Pearson linear correlation of the raw predictions with MOS; ``nan`` if either input is constant."""
    return _plcc(*_validate(pred, mos))


def rmse(pred, mos) -> float:
    """Root-mean-square error of the raw predictions against MOS (meaningful only on the MOS scale)."""
    return _rmse(*_validate(pred, mos))


def mae(pred, mos) -> float:
    """Mean absolute error of the raw predictions against MOS (meaningful only on the MOS scale)."""
    return _mae(*_validate(pred, mos))


