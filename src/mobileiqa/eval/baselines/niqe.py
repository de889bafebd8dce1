"""NIQE (Mittal, Soundararajan and Bovik, "Making a 'Completely Blind' Image Quality Analyzer", 2013).

A no-reference score, lower is better: the distance between a multivariate Gaussian fitted to natural-scene
statistics of the image's 96x96 patches (two scales) and the pristine model shipped with the official
MATLAB release (``niqe_pris_params.npz``, vendored from basicsr 1.4.2; see NOTICE).

Input handling, as MATLAB / pyiqa: RGB uint8 -> YIQ luma (:func:`~.matlab.luma`) scaled to 0..255 and rounded;
the image is cropped to a whole number of 96x96 blocks (bottom/right remainder dropped, no resize); the second
scale is MATLAB's bicubic ``imresize`` by 0.5 with antialiasing. Needs at least two blocks (e.g. 192x96).

The reference is pyiqa's NIQE (its published calibration values are reproduced within 0.001). It differs
from the MATLAB release's own numbers on images with perfectly flat regions (calibration image I19: MATLAB
8.6352, pyiqa 9.0722), because of the float32 MSCN window (:data:`~.matlab.MSCN_WINDOW`) and luma arithmetic.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np
from scipy.special import gamma as gamma_fn

from mobileiqa.eval.baselines.matlab import check_rgb_uint8, imresize, luma, mscn

PARAMS_FILE = "niqe_pris_params.npz"
PARAMS_SHA256 = "2a7c182a68c9e7f1b2e2e5ec723279d6f65d912b6fcaf37eb2bf03d7367c4296"
BLOCK = 96

# The AGGD shape grid of the reference code (0.2:0.001:10) and its moment ratio r(alpha).
_ALPHA = np.arange(0.2, 10.001, 0.001)
_R_ALPHA = gamma_fn(2 / _ALPHA) ** 2 / (gamma_fn(1 / _ALPHA) * gamma_fn(3 / _ALPHA))
_SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))  # horizontal, vertical, two diagonals


@lru_cache(maxsize=1)
def pristine_params() -> tuple[np.ndarray, np.ndarray]:
    """(mu 36, cov 36x36) of the pristine model, read from the vendored file."""
    with resources.files(__package__).joinpath(PARAMS_FILE).open("rb") as fh, np.load(fh) as data:
        return data["mu_pris_param"].reshape(-1).astype(np.float64), data["cov_pris_param"].astype(np.float64)


def aggd_params(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit an asymmetric generalised Gaussian to each row of ``samples`` (N, M) by moment matching on the
    reference grid; returns (alpha, beta_left, beta_right), each of shape (N,). Rows without negative or
    positive values give NaN (NIQE then drops that patch)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        sq = samples * samples
        left = np.sqrt((sq * (samples < 0)).sum(1) / (samples < 0).sum(1))
        right = np.sqrt((sq * (samples > 0)).sum(1) / (samples > 0).sum(1))
        gamma_hat = left / right
        r_hat = np.abs(samples).mean(1) ** 2 / sq.mean(1)
        r_norm = r_hat * (gamma_hat ** 3 + 1) * (gamma_hat + 1) / (gamma_hat ** 2 + 1) ** 2
        pos = np.abs(_R_ALPHA[None, :] - r_norm[:, None]).argmin(1)
        alpha = _ALPHA[pos]
        alpha = np.where(np.isnan(r_norm), np.nan, alpha)
        ratio = np.sqrt(gamma_fn(1 / alpha) / gamma_fn(3 / alpha))
        return alpha, left * ratio, right * ratio


def block_features(img: np.ndarray, block: int) -> np.ndarray:
    """The 18 NIQE features of each ``block`` x ``block`` tile of ``img`` (whose size is a multiple of it),
    computed on its MSCN coefficients; returns (tiles, 18)."""
    norm = mscn(img)
    h, w = norm.shape
    tiles = norm.reshape(h // block, block, w // block, block).transpose(0, 2, 1, 3).reshape(-1, block, block)
    alpha, bl, br = aggd_params(tiles.reshape(len(tiles), -1))
    feats = [alpha, (bl + br) / 2]
    for shift in _SHIFTS:  # products of neighbours, wrapping inside each tile as the reference does
        pair = tiles * np.roll(tiles, shift, axis=(1, 2))
        alpha, bl, br = aggd_params(pair.reshape(len(pair), -1))
        with np.errstate(invalid="ignore"):
            mean = (br - bl) * gamma_fn(2 / alpha) / gamma_fn(1 / alpha)
        feats += [alpha, mean, bl, br]
    return np.stack(feats, axis=1)


def niqe_gray(gray: np.ndarray) -> float:
    """NIQE of a 2-D luma image in 0..255 (already rounded, as the reference does)."""
    h, w = gray.shape
    nh, nw = h // BLOCK, w // BLOCK
    if nh * nw < 2:
        raise ValueError(f"NIQE needs at least two {BLOCK}x{BLOCK} blocks; the image is {w}x{h} px")
    img = gray[: nh * BLOCK, : nw * BLOCK].astype(np.float64)
    first = block_features(img, BLOCK)
    second = block_features(imresize(img / 255.0, 0.5) * 255.0, BLOCK // 2)
    feats = np.concatenate([first, second], axis=1)
    mu_pris, cov_pris = pristine_params()
    mu = np.nanmean(feats, axis=0)
    complete = feats[~np.isnan(feats).any(axis=1)]
    if len(complete) < 2:
        raise ValueError(f"NIQE: fewer than two {BLOCK}x{BLOCK} blocks of the {w}x{h} image have usable "
                         "statistics (flat image?)")
    cov = np.cov(complete, rowvar=False)
    diff = mu_pris - mu
    return float(np.sqrt(diff @ np.linalg.pinv((cov_pris + cov) / 2) @ diff))


class NIQE:
    """NIQE baseline; lower is better."""

    name = "niqe"
    higher_is_better = False

    def score(self, rgb_uint8: np.ndarray) -> float:
        rgb = check_rgb_uint8(rgb_uint8, "niqe")
        return niqe_gray(np.round(luma(rgb) * np.float32(255)).astype(np.float64))
