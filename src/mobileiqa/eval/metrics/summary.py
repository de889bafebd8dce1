"""Every metric of one evaluated set at once (:func:`accuracy` → :class:`Metrics`), and per group of items
(distortion type, level: :func:`grouped`)."""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np

from mobileiqa.eval.metrics.correlation import (
    METRIC_NAMES,
    MIN_ITEMS,
    _krcc,
    _mae,
    _plcc,
    _rmse,
    _srcc,
    _validate,
)
from mobileiqa.eval.metrics.logistic import LogisticFit, _fit


@dataclass(frozen=True)
class Metrics:
    """All metrics of one evaluated set. ``fit`` is ``None`` only for groups too small to evaluate (``grouped``)."""

    n: int
    srcc: float
    krcc: float
    plcc: float
    rmse: float
    mae: float
    plcc_logistic: float
    rmse_logistic: float
    mae_logistic: float
    fit: LogisticFit | None

    def to_dict(self) -> dict:
        """Plain ``dict`` of Python scalars; undefined metrics stay ``nan`` (JSON writers must decide how)."""
        out: dict = {"n": self.n}
        out.update({name: float(getattr(self, name)) for name in METRIC_NAMES})
        out["fit"] = None if self.fit is None else self.fit.to_dict()
        return out


def _accuracy(p: np.ndarray, m: np.ndarray) -> Metrics:
    fit = _fit(p, m)
    mapped = fit(p)
    return Metrics(n=len(p), srcc=_srcc(p, m), krcc=_krcc(p, m), plcc=_plcc(p, m), rmse=_rmse(p, m),
                   mae=_mae(p, m), plcc_logistic=_plcc(mapped, m), rmse_logistic=_rmse(mapped, m),
                   mae_logistic=_mae(mapped, m), fit=fit)


def accuracy(pred, mos) -> Metrics:
    """SRCC, KRCC, PLCC, RMSE, MAE of the raw predictions, and PLCC/RMSE/MAE after the fitted logistic mapping."""
    return _accuracy(*_validate(pred, mos))


def grouped(pred, mos, groups: Sequence[Hashable]) -> dict[Hashable, Metrics]:
    """``accuracy`` per group label (distortion type, level, ...), in order of each label's first appearance.

    Every group is returned, so the table shows each group's ``n``; a group with fewer than 3 items gets all
    metrics ``nan`` and ``fit=None`` rather than being dropped. NumPy scalar labels become Python scalars.
    """
    p, m = _validate(pred, mos)
    labels = [g.item() if isinstance(g, np.generic) else g for g in groups]
    if len(labels) != len(p):
        raise ValueError(f"groups must have one label per item: got {len(labels)} labels for {len(p)} items")
    members: dict[Hashable, list[int]] = {}
    for i, g in enumerate(labels):
        members.setdefault(g, []).append(i)
    nan = math.nan
    out: dict[Hashable, Metrics] = {}
    for g, idx in members.items():
        if len(idx) < MIN_ITEMS:
            out[g] = Metrics(len(idx), nan, nan, nan, nan, nan, nan, nan, nan, fit=None)
        else:
            out[g] = _accuracy(p[idx], m[idx])
    return out


