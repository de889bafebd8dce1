"""Phone distortion families of what happens after the sensor: the ISP's tone and colour decisions, its
enhancements, and the codecs a photo meets on the phone and in messengers.

Groups: ``tone`` (local tone mapping gone wrong, a wrong white balance, over-exposure clipped in linear light,
banding from brightening an under-exposed 8-bit capture), ``enhance`` (large-radius sharpening halos, ghosts of a
misaligned multi-frame merge, the upscaled crop of digital zoom) and ``codec`` (WebP, AVIF, a messenger's
resize-and-recompress chain). Each differs from KADID-10k's 25 types in the mechanism that defines its look: gains
and clipping in *linear* light rather than smooth per-channel curves, halos several pixels wide rather than
KADID's σ = 1 unsharp mask, codecs and generation loss KADID does not have.

Conventions as in :mod:`mobileiqa.data.distortions`: float64 elementwise arithmetic, results clipped and rounded
half-to-even (``_to_uint8``), every random choice (white-balance direction, ghost offsets, rescale jitter) drawn
from the ``rng`` passed in, OpenCV's deterministic functions only (float64 filtering and resizing, uint8
resizing), and codecs at fixed settings, single-threaded: libjpeg-turbo; libwebp ``method=4``; libaom ``speed=8``
with one thread and no auto-tiling (dav1d decodes bit-exactly), so reruns are byte-identical. Pixel sizes (halo
radius, ghost offsets, zoom) are chosen for images with a long side of about 512 px; the tone-mapping base layer
scales with the image.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from mobileiqa.data.distortions import (
    _SRGB_TO_LINEAR,
    _encode_decode,
    _gaussian,
    _gaussian_wide,
    _to_uint8,
    luma601,
)
from mobileiqa.data.phone.base import Family, Rng

__all__ = ["FAMILIES"]


# --------------------------------------------------------------------------------------------------- helpers

def _linear(image: np.ndarray) -> np.ndarray:
    """uint8 sRGB → linear-light float64 (H, W, 3) in [0, 1] (exact, through the 256-entry table)."""
    return _SRGB_TO_LINEAR[image]


def _encode_srgb(lin: np.ndarray) -> np.ndarray:
    """Linear light (overwritten) → uint8 sRGB: clip to [0, 1] in linear light, then the sRGB transfer curve."""
    np.clip(lin, 0.0, 1.0, out=lin)
    small = lin <= 0.0031308
    out = np.power(lin, 1.0 / 2.4)
    out *= 1.055
    out -= 0.055
    out[small] = 12.92 * lin[small]
    out *= 255.0
    return _to_uint8(out)


def _luminance(lin: np.ndarray) -> np.ndarray:
    """Rec. 709 relative luminance Y of linear RGB (elementwise)."""
    y = 0.2126 * lin[..., 0]
    y += 0.7152 * lin[..., 1]
    y += 0.0722 * lin[..., 2]
    return y


def _shift(x: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``out[y, x] = x[y - dy, x - dx]`` with edge pixels repeated past the border."""
    h, w = x.shape[:2]
    n = max(abs(dy), abs(dx))
    pad = ((n, n), (n, n)) + ((0, 0),) * (x.ndim - 2)
    return np.pad(x, pad, mode="edge")[n - dy:n - dy + h, n - dx:n - dx + w]


# ---------------------------------------------------------------------------------------------------- tone

def _tone_mapping_hdr(image: np.ndarray, param: tuple, rng: Rng) -> np.ndarray:
    compression, detail_gain = param
    lin = _linear(image)
    y = _luminance(lin)
    log_y = np.log2(y + 1.0 / 1024.0)
    sigma = max(2.0, max(image.shape[:2]) / 24.0)  # the large-scale base layer: ~21 px at a 512-px long side
    base = _gaussian_wide(log_y, sigma)
    anchor = float(np.mean(base))
    new = base - anchor
    new *= compression  # the base's range compressed towards its mean: highlights down, shadows up, flat
    new += anchor
    detail = log_y - base
    detail *= detail_gain  # the residual (including the halo a Gaussian base leaves at edges) boosted
    new += detail
    new -= log_y
    ratio = np.exp2(new)
    lin *= ratio[..., None]  # the luminance ratio applied to R, G and B keeps the hue
    return _encode_srgb(lin)


def _white_balance_error(image: np.ndarray, magnitude: float, rng: Rng) -> np.ndarray:
    # A wrong illuminant estimate, corrected by von Kries gains in linear RGB. The direction in the
    # (temperature, tint) plane is seeded: warm/cool along log(R/B), green/magenta along log(G²/(RB)) at half the
    # strength (auto white balance errs more in temperature than in tint).
    angle = rng.uniform(0.0, 2.0 * math.pi)
    t, g = magnitude * math.cos(angle), 0.5 * magnitude * math.sin(angle)
    log_gains = (0.5 * t - g / 3.0, 2.0 * g / 3.0, -0.5 * t - g / 3.0)  # log2(R/B) = t, log2(G²/(RB)) = 2g
    gains = [2.0**v for v in log_gains]
    grey = 0.2126 * gains[0] + 0.7152 * gains[1] + 0.0722 * gains[2]  # keep the luminance of neutral grey
    lin = _linear(image)
    for c in range(3):
        lin[..., c] *= gains[c] / grey
    return _encode_srgb(lin)


def _exposure_clipping(image: np.ndarray, stops: float, rng: Rng) -> np.ndarray:
    lin = _linear(image)
    lin *= 2.0**stops  # over-exposure: every channel clips at the sensor's white, highlights go flat and desaturate
    return _encode_srgb(lin)


def _banding(image: np.ndarray, stops: float, rng: Rng) -> np.ndarray:
    # Captured ``stops`` under, stored as 8-bit sRGB, then brightened back in an editor or by the phone's
    # shadow lift: each 8-bit code of the dark image spreads over 2^stops × as much linear light.
    dark = _SRGB_TO_LINEAR * 2.0**-stops
    codes = _encode_srgb(dark).astype(np.intp)  # the under-exposed capture's 8-bit codes
    lut = _SRGB_TO_LINEAR[codes] * 2.0**stops
    return _encode_srgb(lut)[image]


# ------------------------------------------------------------------------------------------------- enhance

def _oversharpen_halo(image: np.ndarray, param: tuple, rng: Rng) -> np.ndarray:
    sigma, amount = param
    y = luma601(image)
    detail = y - _gaussian(y, sigma)  # a wide unsharp mask: bright and dark bands ~2σ wide beside every edge
    detail *= amount
    out = image.astype(np.float64)
    out += detail[..., None]  # on luma only: the same offset to R, G and B
    return _to_uint8(out)


def _fusion_ghosting(image: np.ndarray, param: tuple, rng: Rng) -> np.ndarray:
    offset, weight = param
    out = image.astype(np.float64)
    out *= 1.0 - weight
    # Two burst frames misregistered by ~offset px in seeded directions, merged without deghosting.
    angles = rng.uniform(0.0, 2.0 * math.pi, 2)
    lengths = offset * rng.uniform(0.6, 1.0, 2)
    for a, r, w in zip(angles, lengths, (0.6 * weight, 0.4 * weight), strict=True):
        ghost = _shift(image, round(r * math.sin(a)), round(r * math.cos(a))).astype(np.float64)
        ghost *= w
        out += ghost
    return _to_uint8(out)


def _digital_zoom(image: np.ndarray, zoom: float, rng: Rng) -> np.ndarray:
    h, w = image.shape[:2]
    # The zoomed crop holds 1/zoom of the pixels per side: the same view area-downscaled by ``zoom``, upscaled
    # back with bicubic interpolation, then the ISP's post-zoom sharpening (σ = 1 px unsharp mask on luma).
    small = cv2.resize(image, (max(8, round(w / zoom)), max(8, round(h / zoom))), interpolation=cv2.INTER_AREA)
    out = cv2.resize(small.astype(np.float64), (w, h), interpolation=cv2.INTER_CUBIC)
    y = luma601(out)
    detail = y - _gaussian(y, 1.0)
    detail *= 0.8
    out += detail[..., None]
    return _to_uint8(out)


# --------------------------------------------------------------------------------------------------- codec

def _webp(image: np.ndarray, quality: float, rng: Rng) -> np.ndarray:
    return _encode_decode(image, "WEBP", quality=int(quality), method=4)


def _avif(image: np.ndarray, quality: float, rng: Rng) -> np.ndarray:
    return _encode_decode(image, "AVIF", quality=int(quality), speed=8, max_threads=1, codec="aom", subsampling="4:2:0",
                  autotiling=False)


def _messenger_chain(image: np.ndarray, param: tuple, rng: Rng) -> np.ndarray:
    generations, quality, scale = param
    h, w = image.shape[:2]
    out = image
    for _ in range(int(generations)):
        # each forward: resized to ~scale of the original (seeded ±4 % so the 8×8 grids never realign), JPEG 4:2:0
        s = scale * rng.uniform(0.96, 1.04)
        size = (max(8, round(w * s)), max(8, round(h * s)))
        inter = cv2.INTER_AREA if size[0] < out.shape[1] else cv2.INTER_LINEAR
        out = cv2.resize(out, size, interpolation=inter)
        out = _encode_decode(np.ascontiguousarray(out), "JPEG", quality=int(quality), subsampling="4:2:0")
    return cv2.resize(out, (w, h), interpolation=cv2.INTER_CUBIC)  # shown at the original size


# ------------------------------------------------------------------------------------------------ the table

FAMILIES: tuple[Family, ...] = (
    Family("tone_mapping_hdr", "tone", ((0.85, 1.2), (0.7, 1.45), (0.55, 1.75), (0.4, 2.1), (0.25, 2.6)), True,
           _tone_mapping_hdr,
           "Local tone mapping gone wrong (an over-done HDR mode): log luminance split into a large-scale Gaussian "
           "base (σ = long side / 24) and detail, the base compressed towards its mean and the detail boosted, "
           "giving flat, haloed, over-detailed pictures."),
    Family("white_balance_error", "tone", (0.2, 0.4, 0.7, 1.0, 1.5), True, _white_balance_error,
           "Auto white balance that picked the wrong illuminant: von Kries gains in linear RGB with log2(R/B) off "
           "by up to the level in a seeded warm/cool/green/magenta direction (tint at half strength), neutral "
           "luminance kept.", randomised=True),
    Family("exposure_clipping", "tone", (0.3, 0.7, 1.1, 1.6, 2.2), True, _exposure_clipping,
           "Over-exposure by the given stops in linear light with every channel clipped at white, so highlights "
           "flatten, lose detail and shift hue, unlike a smooth brightening curve."),
    Family("banding", "tone", (3.0, 4.5, 5.5, 6.5, 7.5), True, _banding,
           "An image captured the given stops under, stored as 8-bit sRGB, and brightened back in linear light by "
           "the phone's shadow lift or an edit, so smooth gradients and shadows break into bands."),
    Family("oversharpen_halo", "enhance", ((2.0, 0.6), (2.5, 1.1), (3.0, 1.7), (3.5, 2.4), (4.0, 3.2)), True,
           _oversharpen_halo,
           "Phone-style over-sharpening: an unsharp mask of large radius (Gaussian σ 2 to 4 px) on luma with a "
           "growing amount, leaving bright and dark halos several pixels wide beside every edge."),
    Family("fusion_ghosting", "enhance", ((2, 0.15), (3, 0.25), (5, 0.32), (7, 0.4), (10, 0.5)), True,
           _fusion_ghosting,
           "A multi-frame (night or HDR) merge without deghosting: two burst frames misregistered by up to the "
           "given px in seeded directions blended in with the given total weight, leaving double edges.",
           randomised=True),
    Family("digital_zoom", "enhance", (1.3, 1.8, 2.5, 3.5, 5.0), True, _digital_zoom,
           "Digital zoom by the given factor: the crop's 1/zoom resolution simulated by an area downscale of the "
           "whole view, a bicubic upscale back and the ISP's post-zoom sharpening (σ = 1 px unsharp mask, 0.8 on "
           "luma), so detail is lost and edges turn soft, stepped and ringed."),
    Family("webp", "codec", (60, 40, 20, 10, 3), True, _webp,
           "WebP (libwebp through Pillow, method 4) at falling quality, as apps and browsers save and share "
           "photos: 4:2:0 chroma, smoothed blocks and ringing."),
    Family("avif", "codec", (50, 35, 20, 10, 2), True, _avif,
           "AVIF (libaom through Pillow, speed 8, one thread, 4:2:0) at falling quality: smeared texture and, at "
           "the strongest levels, blocky, bleeding chroma."),
    Family("messenger_chain", "codec", ((1, 85, 0.9), (2, 75, 0.8), (3, 65, 0.7), (4, 55, 0.6), (6, 45, 0.5)),
           True, _messenger_chain,
           "A photo forwarded through messengers: per generation, a resize to about the given scale (seeded ±4 %) "
           "and JPEG 4:2:0 at the given quality, repeated for the given generations, then shown at the original "
           "size.", randomised=True),
)
