"""PIQE (Venkatanath et al., "Blind Image Quality Evaluation Using Perception Based Features", NCC 2015).

A no-reference score in 0..100, lower is better, needing no trained parameters: the image's MSCN
coefficients are cut into 16x16 blocks; among the spatially active blocks (variance > 0.1), those with a
flat edge segment (noticeable artifact) or whose centre/surround deviation looks like noise are scored, and
the pooled score is ``100 * (sum of block scores + 1) / (active blocks + 1)``.

Input handling, as MATLAB ``piqe`` / pyiqa: RGB uint8 -> YIQ luma, rescaled so that its maximum is 255 and
rounded; no resize. An image whose sides are not multiples of 16 is padded at the bottom/right by
replicating its last row/column up to the next multiple (MATLAB's rule; pyiqa pads only when the remainder
happens to be 8 and otherwise drops the partial blocks, so the two differ on such sizes).

The centre/surround split follows pyiqa (centre = columns 8-9 of the 16 in 1-based terms; surround = the
block without columns 8 and 10), because pyiqa's published calibration values are the reference here.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from mobileiqa.eval.baselines.matlab import check_rgb_uint8, luma, mscn

BLOCK = 16
ACTIVITY_THRESHOLD = 0.1
IMPAIRED_THRESHOLD = 0.1
SEGMENT = 6


def _centre_surround_ratio(blocks: np.ndarray) -> np.ndarray:
    centre = blocks[..., [7, 8]]  # columns 8 and 9 (1-based) of a 16-wide block
    surround = np.delete(blocks, [7, 9], axis=-1)
    n = blocks.shape[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = centre.reshape(n, -1).std(1, ddof=1) / surround.reshape(n, -1).std(1, ddof=1)
    return np.nan_to_num(ratio)  # 0/0 -> 0, x/0 -> largest float (as torch.nan_to_num)


def _noticeable_artifact(blocks: np.ndarray) -> np.ndarray:
    edges = np.stack([blocks[:, 0, :], blocks[:, :, -1], blocks[:, -1, :], blocks[:, :, 0]], axis=1)
    seg_std = sliding_window_view(edges, SEGMENT, axis=-1).std(-1, ddof=1)  # (N, 4 edges, 11 segments)
    return (seg_std < IMPAIRED_THRESHOLD).any(axis=(1, 2))


def piqe_gray(gray: np.ndarray) -> float:
    """PIQE of a 2-D image already scaled to 0..255 and rounded."""
    h, w = gray.shape
    img = np.pad(gray.astype(np.float64), ((0, -h % BLOCK), (0, -w % BLOCK)), mode="edge")
    norm = mscn(img)
    ph, pw = norm.shape
    blocks = norm.reshape(ph // BLOCK, BLOCK, pw // BLOCK, BLOCK).transpose(0, 2, 1, 3).reshape(-1, BLOCK, BLOCK)
    var = blocks.reshape(len(blocks), -1).var(1, ddof=1)
    active = var > ACTIVITY_THRESHOLD
    sigma = np.sqrt(var)
    ratio = _centre_surround_ratio(blocks)
    with np.errstate(divide="ignore", invalid="ignore"):
        beta = np.abs(sigma - ratio) / np.maximum(sigma, ratio)
        noise = sigma > 2 * beta  # NaN (flat block) compares False
    impaired = _noticeable_artifact(blocks)
    block_scores = active * impaired * (1 - var) + active * noise * var
    return float((block_scores.sum() + 1) / (active.sum() + 1) * 100)


class PIQE:
    """PIQE baseline; lower is better (0..100)."""

    name = "piqe"
    higher_is_better = False

    def score(self, rgb_uint8: np.ndarray) -> float:
        rgb = check_rgb_uint8(rgb_uint8, "piqe")
        y = luma(rgb)  # float32, scaled in float32 as the reference does
        peak = y.max()
        scaled = np.round(np.float32(255) * (y / peak)) if peak > 0 else y  # an all-black image stays zeros
        return piqe_gray(scaled.astype(np.float64))
