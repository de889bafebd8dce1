"""MATLAB-style image helpers shared by the NIQE and PIQE baselines (numpy/scipy only).

What the reference MATLAB code (and pyiqa's reproduction of it) does to an image before measuring it:
the luma of YIQ (``0.299 R + 0.587 G + 0.114 B``), ``fspecial('gaussian')`` windows applied like
``imfilter(..., 'replicate')``, and ``imresize(..., 'bicubic')`` with antialiasing, which differs from
OpenCV's and PIL's bicubic resize (different kernel support when shrinking, symmetric borders). The resize
follows basicsr's port of MATLAB's ``imresize`` (Apache-2.0, see NOTICE), written as two weight matrices.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy import ndimage

#: Weights of the YIQ luma (MATLAB ``rgb2ntsc``; ``rgb2gray`` differs in the fourth decimal).
YIQ_LUMA = np.array([0.299, 0.587, 0.114])


def check_rgb_uint8(rgb: np.ndarray, who: str) -> np.ndarray:
    """Return ``rgb`` if it is an HxWx3 uint8 array; otherwise raise ``ValueError`` naming ``who``."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"{who}: expects an RGB uint8 array of shape HxWx3, got {rgb.dtype} {rgb.shape} "
                         "(convert with PIL: np.asarray(Image.open(path).convert('RGB')))")
    return rgb


def luma(rgb: np.ndarray) -> np.ndarray:
    """YIQ luma of an RGB uint8 image in 0..1 as pyiqa computes it: ``rgb / 255`` in float32, then the weighted
    sum as a float32 fused multiply-add chain (R, G, B; what its matrix product does on CPU). Returns float32:
    callers scale it in float32 too (as pyiqa does) before rounding.

    The arithmetic matters only for exact ties: ``0.299 R + 0.587 G + 0.114 B`` lands on ``k + 0.5`` for about
    0.1 % of pixels, and round-off decides which way those round once the luma is scaled to 0..255. On the
    calibration image I03 NIQE moved by up to 0.02 between plain float64, plain float32 and this chain; only
    this chain reproduces the published values. It is emulated in float64 (float32 products are exact there;
    the sum rounded twice can differ from a true FMA only in rare halfway cases), so it does not depend on the
    CPU or BLAS.
    """
    x = (rgb.astype(np.float32) / np.float32(255)).astype(np.float64)
    w = YIQ_LUMA.astype(np.float32).astype(np.float64)
    acc = (x[..., 0] * w[0]).astype(np.float32)
    for c in (1, 2):
        acc = (acc.astype(np.float64) + x[..., c] * w[c]).astype(np.float32)
    return acc


def gaussian_window(size: int = 7, sigma: float = 7 / 6) -> np.ndarray:
    """MATLAB ``fspecial('gaussian', size, sigma)``: a normalised ``size`` x ``size`` Gaussian (float64)."""
    x = np.arange(size) - (size - 1) / 2
    g = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * sigma ** 2))
    g[g < np.finfo(g.dtype).eps * g.max()] = 0
    return g / g.sum()


#: The MSCN window as pyiqa applies it: ``fspecial('gaussian', 7, 7/6)`` stored as float32, so its weights sum
#: to 1 + 1.1e-8 rather than 1. In a perfectly flat region that makes every coefficient ``I - mu`` slightly
#: negative instead of round-off noise of either sign, and NIQE's AGGD fit of such patches depends on those
#: signs: the published calibration values (one of them by 0.4) are only reproduced with this window.
MSCN_WINDOW = gaussian_window().astype(np.float32).astype(np.float64)
MSCN_WINDOW.setflags(write=False)


def imfilter(img: np.ndarray, window: np.ndarray) -> np.ndarray:
    """``imfilter(img, window, 'replicate')``: correlation with replicated borders, same size."""
    return ndimage.correlate(img, window, mode="nearest")


def mscn(img: np.ndarray, c: float = 1.0, window: np.ndarray = MSCN_WINDOW) -> np.ndarray:
    """Mean-subtracted contrast-normalised coefficients ``(I - mu) / (sigma + c)`` with local Gaussian mean
    and deviation (default window: :data:`MSCN_WINDOW`, replicate borders), as in NIQE and PIQE."""
    mu = imfilter(img, window)
    sigma = np.sqrt(np.abs(imfilter(img * img, window) - mu * mu))
    return (img - mu) / (sigma + c)


def _cubic(x: np.ndarray) -> np.ndarray:
    ax = np.abs(x)
    ax2, ax3 = ax ** 2, ax ** 3
    return ((1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1)
            + (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2)))


@lru_cache(maxsize=64)
def _resize_matrix(in_len: int, out_len: int, scale: float) -> np.ndarray:
    """The (out_len, in_len) matrix of MATLAB's bicubic ``imresize`` along one axis (antialiased when
    shrinking, symmetric borders)."""
    kernel_width = 4.0 / scale if scale < 1 else 4.0
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)             # output pixel centres in input coordinates (1-based)
    left = np.floor(u - kernel_width / 2)
    taps = math.ceil(kernel_width) + 2
    idx = left[:, None] + np.arange(taps)[None, :]
    dist = u[:, None] - idx
    weights = scale * _cubic(dist * scale) if scale < 1 else _cubic(dist)
    weights /= weights.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(in_len), np.arange(in_len)[::-1]])  # MATLAB's symmetric border
    cols = mirror[np.mod(idx - 1, 2 * in_len).astype(np.int64)]
    matrix = np.zeros((out_len, in_len))
    np.add.at(matrix, (np.repeat(np.arange(out_len), taps), cols.ravel()), weights.ravel())
    matrix.setflags(write=False)
    return matrix


def imresize(img: np.ndarray, scale: float) -> np.ndarray:
    """MATLAB ``imresize(img, scale)`` (bicubic, antialiasing on) of a 2-D float image; output size is
    ``ceil(size * scale)``. Not rounded."""
    h, w = img.shape
    rows = _resize_matrix(h, math.ceil(h * scale), float(scale))
    cols = _resize_matrix(w, math.ceil(w * scale), float(scale))
    return rows @ img @ cols.T
