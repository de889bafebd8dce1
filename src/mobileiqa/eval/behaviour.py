"""Behavioural checks of a trained quality model (issue: benchmark evaluation, item 6).

For each monotone distortion type (blur, noise, JPEG by default) the pristine reference photos of the evaluated split
are distorted at KADID levels 1..5 with the dataset's own generator (``apply_distortion``)
and scored: a sound model's score falls as the level rises. Reported per type: the mean Spearman correlation between
level (0 = pristine .. 5) and score (−1 is perfect), the fraction of photos whose scores never rise from one level
to the next by ``flat_tolerance`` or more (a smaller rise counts as flat) and end below the pristine score (KADID's
level 1 can leave an image unchanged, e.g. blur σ = 0.1), and
the mean score per level. A JPEG re-encode at quality 95 must barely move the score: its mean absolute shift is
reported next to the spread (standard deviation) of the model's scores on the evaluated split.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image
from scipy import stats

from mobileiqa.data.distortions import DISTORTIONS, apply_distortion

ArrayScorer = Callable[[list[np.ndarray]], np.ndarray]
LEVELS = (1, 2, 3, 4, 5)


def _reencode(image: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=quality)
    return np.array(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def monotonicity(score: ArrayScorer, refs: Sequence[tuple[str, np.ndarray]], dist_type: str,
                 flat_tolerance: float = 0.0) -> dict:
    """Score each reference at levels 0..5 of ``dist_type``; summarise how consistently the score falls (a rise
    from one level to the next smaller than ``flat_tolerance`` counts as flat)."""
    if flat_tolerance < 0:
        raise ValueError(f"evaluate.behaviour.flat_tolerance must be >= 0, got {flat_tolerance}")
    if dist_type not in DISTORTIONS:
        raise ValueError(f"evaluate.behaviour.types: unknown distortion {dist_type!r}; choose from "
                         f"{', '.join(DISTORTIONS)}")
    if not DISTORTIONS[dist_type].monotone:
        raise ValueError(f"evaluate.behaviour.types: {dist_type!r} is not monotone in its level (KADID's levels "
                         "alternate direction); pick a monotone type such as gaussian_blur, white_noise or jpeg")
    curves, rhos = [], []
    for photo_id, ref in refs:
        images = [ref] + [apply_distortion(ref, dist_type, level, photo_key=photo_id) for level in LEVELS]
        s = np.asarray(score(images), dtype=np.float64)
        curves.append(s)
        rhos.append(stats.spearmanr(np.arange(len(s)), s).statistic)
    curves_arr = np.stack(curves)
    steps = np.diff(curves_arr, axis=1)
    rises = steps >= flat_tolerance if flat_tolerance > 0 else steps > 0
    falls = ~rises.any(axis=1) & (curves_arr[:, -1] < curves_arr[:, 0])
    return {"photos": len(refs), "mean_spearman_level_vs_score": float(np.nanmean(rhos)),
            "falling_fraction": float(falls.mean()), "flat_tolerance": float(flat_tolerance),
            "mean_score_per_level": [float(v) for v in curves_arr.mean(axis=0)]}


def reencode_stability(score: ArrayScorer, refs: Sequence[tuple[str, np.ndarray]], quality: int,
                       split_spread: float) -> dict:
    """Mean/max absolute score shift after a JPEG re-encode at ``quality``, and its ratio to the split's spread."""
    originals = [ref for _, ref in refs]
    shifts = np.abs(np.asarray(score([_reencode(r, quality) for r in originals]), np.float64)
                    - np.asarray(score(originals), np.float64))
    return {"quality": quality, "photos": len(refs), "mean_abs_shift": float(shifts.mean()),
            "max_abs_shift": float(shifts.max()), "split_score_std": float(split_spread),
            "mean_shift_over_std": float(shifts.mean() / split_spread) if split_spread > 0 else None}


def behaviour_checks(score: ArrayScorer, refs: Sequence[tuple[str, np.ndarray]], types: Sequence[str],
                     reencode_quality: int, split_spread: float, flat_tolerance: float) -> dict:
    """All checks: one entry per distortion type plus the re-encode check."""
    if not refs:
        raise ValueError("behavioural checks need at least one reference photo of the evaluated split")
    out = {"types": {t: monotonicity(score, refs, t, flat_tolerance) for t in types}}
    out["reencode"] = reencode_stability(score, refs, reencode_quality, split_spread)
    return out
