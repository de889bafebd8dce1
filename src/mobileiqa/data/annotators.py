"""Simulated annotators: full-reference (FR) quality measures of a distorted image against its pristine photo.

Each annotator is one FR measure with a different view of quality — structure (SSIM), gradients (GMSD),
chromatic gradients (multi-scale GMSD with colour), wavelet phase (HaarPSI), colour deviation (MDSI), DCT
sub-bands (DSS) and visual saliency (VSI) — in the spirit of MobileIQA's "diverse opinions". Raw values are
*oriented* so that higher is better (:attr:`Annotator.higher_is_better` says how a raw value reads) and later
mapped onto the human MOS scale by :mod:`mobileiqa.data.calibration`.

All measures take batches ``(B, 3, H, W)`` in [0, 1] (the distorted images and their reference) and return
``(B,)``. They come from ``piq`` except SSIM, computed here on luminance with a separable Gaussian window
(the classic Wang et al. 2004 constants) with OpenCV, ~20x faster than a full-colour 2-D torch window.
Inputs must be contiguous (strided views make some piq measures ~10x slower).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor


@dataclass(frozen=True)
class Annotator:
    name: str
    measure: Callable[[Tensor, Tensor], Tensor]  # (distorted, reference) -> (B,) raw values
    higher_is_better: bool
    description: str

    def oriented(self, distorted: Tensor, reference: Tensor) -> Tensor:
        """Raw measure turned so that higher is better (lower-is-better measures are negated)."""
        raw = self.measure(distorted, reference).reshape(-1).double()
        return raw if self.higher_is_better else -raw


def _luma(x: Tensor) -> Tensor:
    return (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).unsqueeze(1)


def ssim_map(a: np.ndarray, b: np.ndarray, sigma: float = 1.5) -> np.ndarray:
    """Per-pixel SSIM ``(H, W)`` of two float64 luminance maps in [0, 1]: a Gaussian window (11 taps, ``sigma``,
    OpenCV, reflected borders), Wang et al.'s constants, data range 1."""
    import cv2

    def blur(t: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(t, (11, 11), sigma, borderType=cv2.BORDER_REFLECT)

    c1, c2 = 0.01**2, 0.03**2
    mu_a, mu_b = blur(a), blur(b)
    var_a, var_b = blur(a * a) - mu_a**2, blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    return ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))


def ssim_luma(x: Tensor, y: Tensor, sigma: float = 1.5) -> Tensor:
    """Mean SSIM of the luminance channels over the valid region of :func:`ssim_map` (5 px in from each side)."""
    out = [ssim_map(a, b, sigma)[5:-5, 5:-5].mean()
           for a, b in zip(_luma(x).squeeze(1).double().numpy(), _luma(y).squeeze(1).double().numpy(), strict=True)]
    return torch.tensor(out, dtype=torch.float64)


def _piq(name: str, **kwargs) -> Callable[[Tensor, Tensor], Tensor]:
    def measure(x: Tensor, y: Tensor) -> Tensor:
        import piq  # imported on use: only dataset builds need it

        return getattr(piq, name)(x, y, data_range=1.0, reduction="none", **kwargs)

    measure.__name__ = f"piq_{name}"
    return measure


ANNOTATORS: dict[str, Annotator] = {
    a.name: a
    for a in (
        Annotator("ssim", ssim_luma, True, "SSIM on luminance (structure, contrast, luminance)"),
        Annotator("gmsd", _piq("gmsd"), False, "gradient magnitude similarity deviation"),
        Annotator("ms_gmsd_c", _piq("multi_scale_gmsd", chromatic=True), False,
                  "multi-scale GMSD with chromatic channels"),
        Annotator("haarpsi", _piq("haarpsi"), True, "Haar wavelet-based perceptual similarity"),
        Annotator("mdsi", _piq("mdsi"), False, "mean deviation similarity (gradient + chromaticity)"),
        Annotator("dss", _piq("dss"), True, "DCT sub-band similarity"),
        Annotator("vsi", _piq("vsi"), True, "visual saliency-induced index"),
    )
}


def score_batch(distorted: Tensor, reference: Tensor, names=None) -> dict[str, Tensor]:
    """Oriented (higher-is-better) raw scores of every annotator in ``names`` (default: all), each ``(B,)``."""
    names = list(ANNOTATORS) if names is None else list(names)
    unknown = [n for n in names if n not in ANNOTATORS]
    if unknown:
        raise KeyError(f"unknown annotator(s) {unknown}; available: {list(ANNOTATORS)}")
    with torch.no_grad():
        return {n: ANNOTATORS[n].oriented(distorted, reference) for n in names}
