"""Metrics of quality *maps*: pure functions over predicted and target grids of local quality (one ``(G, G)`` map
per image, row 0 = top), e.g. the explanation heads' quality map against the dataset's local targets."""

from __future__ import annotations

import numpy as np
from scipy import stats


def as_maps(grid, name: str = "grid") -> np.ndarray:
    """``grid`` as a float64 map (or stack of maps), checked to be at least 2 x 2 and finite (errors name it)."""
    g = np.asarray(grid, dtype=np.float64)
    if g.ndim < 2 or g.shape[-1] < 2 or g.shape[-2] < 2:
        raise ValueError(f"{name} must be a 2-D map (or a stack of them) at least 2 x 2, got shape {g.shape}")
    if not np.isfinite(g).all():
        raise ValueError(f"{name} has non-finite values")
    return g


def _spearman_rows(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Spearman correlation of each row of ``pred`` with the same row of ``target`` (ties get average ranks)."""
    rp = stats.rankdata(pred, axis=1)
    rt = stats.rankdata(target, axis=1)
    rp -= rp.mean(axis=1, keepdims=True)
    rt -= rt.mean(axis=1, keepdims=True)
    return np.einsum("ij,ij->i", rp, rt) / np.sqrt(np.einsum("ij,ij->i", rp, rp) * np.einsum("ij,ij->i", rt, rt))


def map_spearman(pred_grids, target_grids) -> dict:
    """Per-image Spearman correlation between each predicted map and the target map of the same image (equal
    shapes): ``{"mean", "median", "count", "skipped"}``. An image whose prediction or target is constant has no
    correlation: it is skipped and counted in ``skipped``; ``mean`` and ``median`` are None when all are."""
    preds = [as_maps(p, f"pred_grids[{i}]") for i, p in enumerate(pred_grids)]
    targets = [as_maps(t, f"target_grids[{i}]") for i, t in enumerate(target_grids)]
    if len(preds) != len(targets):
        raise ValueError(f"{len(preds)} predicted maps but {len(targets)} target maps")
    for i, (p, t) in enumerate(zip(preds, targets, strict=True)):
        if p.ndim != 2 or p.shape != t.shape:
            raise ValueError(f"image {i}: predicted map {p.shape} and target map {t.shape} must be equal 2-D shapes")
    rhos = np.full(len(preds), np.nan)
    usable = [i for i, (p, t) in enumerate(zip(preds, targets, strict=True)) if np.ptp(p) > 0 and np.ptp(t) > 0]
    for shape in {preds[i].shape for i in usable}:  # vectorised over the images of each map shape
        idx = [i for i in usable if preds[i].shape == shape]
        rhos[idx] = _spearman_rows(np.stack([preds[i].ravel() for i in idx]),
                                   np.stack([targets[i].ravel() for i in idx]))
    kept = rhos[np.isfinite(rhos)]
    return {"mean": float(kept.mean()) if len(kept) else None,
            "median": float(np.median(kept)) if len(kept) else None,
            "count": len(kept), "skipped": len(preds) - len(kept)}
