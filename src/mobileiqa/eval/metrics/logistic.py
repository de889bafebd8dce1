"""The VQEG 4-parameter logistic mapping from predictions to the MOS scale, fitted before PLCC/RMSE/MAE, with its
least-squares line fallback."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit
from scipy.special import expit

from mobileiqa.eval.metrics.correlation import _plcc, _validate

MAXFEV = 20_000
# The logistic family contains lines only in the limit |b4| → ∞, so a converged logistic fit can be a hair worse
# than the best line; one worse by more than this relative margin means the optimiser got stuck.
LINEAR_SSE_TOLERANCE = 1e-6


# ------------------------------------------------------------------------------------------- logistic mapping
def _logistic(x, b1, b2, b3, b4):
    return b2 + (b1 - b2) * expit((x - b3) / abs(b4))


def _logistic_jacobian(x, b1, b2, b3, b4):
    """d f / d (b1, b2, b3, b4). Analytic, because MINPACK's finite-difference step is relative to each parameter:
    when the start b3 = mean(pred) is ~1e-17 (centred predictions) that step vanishes and b3 never moves."""
    scale = abs(b4)
    z = (x - b3) / scale
    s = expit(z)
    slope = (b1 - b2) * s * (1 - s)
    return np.stack([s, 1 - s, -slope / scale, -slope * z / scale * np.sign(b4)], axis=1)


@dataclass(frozen=True)
class LogisticFit:
    """A fitted prediction → MOS mapping.

    ``kind == "logistic"``: ``params = (b1, b2, b3, b4)`` of ``b2 + (b1 - b2) / (1 + exp(-(x - b3) / b4))`` with
    ``b4 > 0`` stored as ``|b4|``. ``kind == "linear"`` (the fallback): ``params = (slope, intercept)`` and
    ``reason`` says why the logistic was rejected.
    """

    kind: Literal["logistic", "linear"]
    params: tuple[float, ...]
    reason: str = ""

    def __post_init__(self) -> None:
        expected = {"logistic": 4, "linear": 2}
        if self.kind not in expected:
            raise ValueError(f"LogisticFit.kind must be 'logistic' or 'linear', got {self.kind!r}")
        if len(self.params) != expected[self.kind]:
            raise ValueError(f"a {self.kind} fit has {expected[self.kind]} params, got {len(self.params)}")

    def __call__(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if self.kind == "logistic":
            return _logistic(x, *self.params)
        slope, intercept = self.params
        return slope * x + intercept

    def to_dict(self) -> dict:
        return {"kind": self.kind, "params": list(self.params), "reason": self.reason}


def _linear_fit(p: np.ndarray, m: np.ndarray, reason: str) -> LogisticFit:
    pc = p - p.mean()
    sxx = float(pc @ pc)
    slope = float(pc @ (m - m.mean())) / sxx if np.ptp(p) > 0 else 0.0
    return LogisticFit("linear", (slope, float(m.mean() - slope * p.mean())), reason)


def _sse(fit: LogisticFit, p: np.ndarray, m: np.ndarray) -> float:
    return float(np.sum((fit(p) - m) ** 2))


def _fit(p: np.ndarray, m: np.ndarray) -> LogisticFit:
    if np.ptp(p) == 0:
        return _linear_fit(p, m, "predictions are constant: no monotone mapping to fit")
    if np.ptp(m) == 0:
        return _linear_fit(p, m, "MOS is constant: no monotone mapping to fit")
    if len(p) <= 4:  # 4 parameters: curve_fit refuses fewer points than parameters, and 4 interpolate exactly
        return _linear_fit(p, m, f"{len(p)} points cannot fit a 4-parameter logistic")
    hi, lo = float(m.max()), float(m.min())
    b1, b2 = (hi, lo) if _plcc(p, m) >= 0 else (lo, hi)  # start on the side the data already leans
    p0 = (b1, b2, float(p.mean()), float(p.std()) or 1.0)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", OptimizeWarning)  # covariance is not used
            params, _ = curve_fit(_logistic, p, m, p0=p0, jac=_logistic_jacobian, maxfev=MAXFEV)
    except (RuntimeError, ValueError) as e:
        return _linear_fit(p, m, f"logistic fit failed ({e})")
    b1, b2, b3, b4 = (float(v) for v in params)
    logistic = LogisticFit("logistic", (b1, b2, b3, abs(b4)))
    if not np.all(np.isfinite(params)) or b4 == 0:
        return _linear_fit(p, m, f"logistic fit is degenerate (params {tuple(params.tolist())})")
    with np.errstate(all="ignore"):
        sse_logistic = _sse(logistic, p, m)
    line = _linear_fit(p, m, "")
    sse_line = _sse(line, p, m)
    if not math.isfinite(sse_logistic):
        return _linear_fit(p, m, "logistic fit gives non-finite values on the predictions")
    if sse_logistic > sse_line * (1 + LINEAR_SSE_TOLERANCE) + 1e-12:
        return _linear_fit(p, m, f"logistic fit (SSE {sse_logistic:.6g}) is worse than a straight line "
                                 f"(SSE {sse_line:.6g}): the optimiser did not converge")
    return logistic


def fit_logistic(pred, mos) -> LogisticFit:
    """Fit the VQEG 4-parameter logistic from predictions to MOS by least squares (``scipy.optimize.curve_fit``,
    Levenberg-Marquardt with the analytic Jacobian, one start).

    Starts from b1 = max(MOS), b2 = min(MOS) (swapped when the predictions correlate negatively with MOS),
    b3 = mean(pred), b4 = std(pred). Falls back to a least-squares line, with ``reason`` set, when the fit raises,
    returns non-finite or zero-slope parameters, or ends worse than the best line; constant predictions (or MOS)
    give the line ``y = mean(mos)``.
    """
    return _fit(*_validate(pred, mos))


