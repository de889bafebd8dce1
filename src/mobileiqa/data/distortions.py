"""KADID-10k's 25 synthetic distortion types × 5 levels, reimplemented with numpy, OpenCV and Pillow.

This is what turns pristine photos into the synthetic default dataset (DATASETS.md, "KADID-10k distortion types
and level parameters"): :data:`DISTORTIONS` lists the types in KADID order with the published level parameters,
and :func:`apply_distortion` applies one ``(type, level)`` to an ``(H, W, 3) uint8`` RGB array. The code is ours,
not a port of KADID's MATLAB; where KADID's own tools are unavailable or its behaviour is undocumented we use a
documented substitute, listed one sentence per type in :data:`SUBSTITUTES` (it feeds the dataset card).

Reproducibility: all randomness (noise, motion-blur angle, shift direction, jitter, patch and block positions)
comes from ``np.random.default_rng(distortion_seed(photo_key, name, level))``, a hashlib digest, so regenerating a
distorted image is byte-identical across runs, processes and thread settings. Arithmetic is float64 (float32 only
for the jitter maps and impulse draws), elementwise rather than BLAS; OpenCV runs single-threaded inside each call
and only its deterministic functions are used (float64 filtering and resizing, fixed-point remap, integer non-local
means); the Pillow codecs (libjpeg-turbo, OpenJPEG) are deterministic. Across CPUs, a transcendental (cbrt, pow,
exp) may differ in its last bit, which can change a byte only when a value sits within ~1e-13 of a rounding
boundary. Every result is clipped to [0, 255] and rounded half-to-even (``np.rint``). Levels 1→5 are increasingly
strong except ``mean_shift`` and ``contrast_change``, whose levels alternate in sign (``monotone=False``).
"""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

__all__ = ["DISTORTIONS", "GROUPS", "RANDOMISED", "SUBSTITUTES", "Distortion", "apply_distortion",
           "distortion_seed"]

GROUPS = ("blur", "color", "compression", "noise", "brightness", "spatial", "sharpness_contrast")


@dataclass(frozen=True)
class Distortion:
    """One KADID-10k distortion type: its KADID id, our name, its KADID group and the 5 level parameters."""

    id: int
    name: str
    group: str
    levels: tuple
    monotone: bool


# --------------------------------------------------------------------------------------------------- helpers

Rng = np.random.Generator


def _to_uint8(x: np.ndarray) -> np.ndarray:
    """Float scratch image in 0..255 units → uint8: clip to [0, 255], round half to even (``x`` is overwritten)."""
    np.clip(x, 0.0, 255.0, out=x)
    np.rint(x, out=x)
    return x.astype(np.uint8)


def _curve(image: np.ndarray, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Apply a per-channel tone curve ``fn`` ([0, 1] → [0, 1]) exactly, through a 256-entry lookup table."""
    lut = _to_uint8(255.0 * fn(np.arange(256, dtype=np.float64) / 255.0))
    return lut[image]


def _gaussian_kernel(sigma: float) -> np.ndarray:
    radius = math.ceil(3.0 * sigma)
    k = np.exp(-0.5 * (np.arange(-radius, radius + 1, dtype=np.float64) / sigma) ** 2)
    return k / k.sum()


def _gaussian(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur (kernel ±3σ, mirrored border) of a uint8 or float64 2-D or (H, W, C) array → float64."""
    k = _gaussian_kernel(sigma)
    return cv2.sepFilter2D(np.ascontiguousarray(x), cv2.CV_64F, k, k, borderType=cv2.BORDER_REFLECT_101)


def _gaussian_wide(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of a float64 plane for large σ: mirror-pad by 3σ, area-downscale by f = ⌊σ/4⌋, blur,
    bilinear upscale, crop; it departs from a direct blur by under 0.5 % of the blurred range, at ~1/10 the cost."""
    f = int(sigma // 4)
    h, w = x.shape[:2]
    pad = math.ceil(3.0 * sigma)
    if f <= 1 or min(h, w) <= pad:
        return _gaussian(x, sigma)
    padded = cv2.copyMakeBorder(x, pad, pad, pad, pad, cv2.BORDER_REFLECT_101)
    ph, pw = padded.shape[:2]
    small = cv2.resize(padded, (math.ceil(pw / f), math.ceil(ph / f)), interpolation=cv2.INTER_AREA)
    small = _gaussian(small, math.sqrt(sigma**2 - f**2 / 4.0) / f)  # minus the box (f²/12) + bilinear (f²/6) spread
    return cv2.resize(small, (pw, ph), interpolation=cv2.INTER_LINEAR)[pad:pad + h, pad:pad + w]


def _filter(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Correlate a uint8 image with a point-symmetric kernel (= convolution), mirrored border → float64."""
    return cv2.filter2D(image, cv2.CV_64F, kernel, borderType=cv2.BORDER_REFLECT_101)


# sRGB (D65) ↔ CIE Lab with explicit elementwise float64 arithmetic (no BLAS, so no CPU-dependent summation).
_WHITE = (0.95047, 1.0, 1.08883)
_RGB2XYZ = tuple(tuple(c / w for c in row) for row, w in zip(
    ((0.4124564, 0.3575761, 0.1804375), (0.2126729, 0.7151522, 0.0721750), (0.0193339, 0.1191920, 0.9503041)),
    _WHITE, strict=True))  # rows pre-divided by the white point
_XYZ2RGB = tuple(tuple(c * w for c, w in zip(row, _WHITE, strict=True)) for row in (
    (3.2404542, -1.5371385, -0.4985314), (-0.9692660, 1.8760108, 0.0415560), (0.0556434, -0.2040259, 1.0572252)))
_DELTA = 6.0 / 29.0
_V = np.arange(256, dtype=np.float64) / 255.0
_SRGB_TO_LINEAR = np.where(_V <= 0.04045, _V / 12.92, ((_V + 0.055) / 1.055) ** 2.4)


def _mix(m: tuple, c0: np.ndarray, c1: np.ndarray, c2: np.ndarray) -> list[np.ndarray]:
    """Per-pixel 3×3 matrix product on three planes, as (c0·m0 + c1·m1) + c2·m2 with few temporaries."""
    tmp, out = np.empty_like(c0), []
    for k0, k1, k2 in m:
        acc = c0 * k0
        acc += np.multiply(c1, k1, out=tmp)
        acc += np.multiply(c2, k2, out=tmp)
        out.append(acc)
    return out


def _lab_f(t: np.ndarray) -> np.ndarray:
    f = np.cbrt(t)
    small = t <= _DELTA**3
    f[small] = t[small] / (3 * _DELTA**2) + 4.0 / 29.0
    return f


def _lab_f_inv(f: np.ndarray) -> np.ndarray:
    t = f * f
    t *= f
    small = f <= _DELTA
    t[small] = 3 * _DELTA**2 * (f[small] - 4.0 / 29.0)
    return t


def _rgb_to_lab(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """uint8 sRGB → (L* in [0, 100], a*, b*) float64 planes, D65 white."""
    fx, fy, fz = (_lab_f(t) for t in _mix(_RGB2XYZ, *(_SRGB_TO_LINEAR[image[..., c]] for c in range(3))))
    fx -= fy
    fx *= 500.0
    fz -= fy
    fz *= -200.0
    fy *= 116.0
    fy -= 16.0
    return fy, fx, fz


def _lab_to_uint8(lum: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """CIE Lab planes → uint8 sRGB; out-of-gamut colours are clipped in linear RGB."""
    fy = lum + 16.0
    fy /= 116.0
    fx, fz = a / 500.0, b / -200.0
    fx += fy
    fz += fy
    out = np.empty((*lum.shape, 3), dtype=np.uint8)
    for c, lin in enumerate(_mix(_XYZ2RGB, _lab_f_inv(fx), _lab_f_inv(fy), _lab_f_inv(fz))):
        out[..., c] = np.rint(linear_to_srgb255(lin))  # already within [0, 255]
    return out


def linear_to_srgb255(lin: np.ndarray) -> np.ndarray:
    """Linear RGB (float64, any shape; clipped to [0, 1] in place first) → sRGB in 0..255 units, float64."""
    np.clip(lin, 0.0, 1.0, out=lin)
    srgb = lin ** (1.0 / 2.4)
    srgb *= 1.055
    srgb -= 0.055
    small = lin <= 0.0031308
    srgb[small] = 12.92 * lin[small]
    srgb *= 255.0
    return srgb


def luma601(image: np.ndarray) -> np.ndarray:
    """BT.601 luma of an (H, W, 3) array (uint8 or float64, in its own units) → float64."""
    y = 0.299 * image[..., 0]
    y += 0.587 * image[..., 1]
    y += 0.114 * image[..., 2]
    return y


def _encode_decode(image: np.ndarray, fmt: str, **options) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format=fmt, **options)
    buf.seek(0)
    with Image.open(buf) as decoded:
        return np.array(decoded.convert("RGB"))


def _planes(image: np.ndarray) -> list[np.ndarray]:
    return [image[..., c].astype(np.float64) for c in range(3)]


def _luma(r: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
    """BT.601 luma of float64 planes."""
    y = 0.299 * r
    y += 0.587 * g
    y += 0.114 * b
    return y


# ---------------------------------------------------------------------------------------- the 25 distortions
# Each takes (uint8 image, level parameter, rng) and returns a new uint8 image of the same shape.

def _gaussian_blur(image: np.ndarray, sigma: float, rng: Rng) -> np.ndarray:
    return _to_uint8(_gaussian(image, sigma))


def _disk_kernel(radius: float, supersample: int = 8) -> np.ndarray:
    """Disk of ``radius`` px, each tap weighted by the fraction of its pixel that the disk covers."""
    r = math.ceil(radius)
    sub = (np.arange((2 * r + 1) * supersample) + 0.5) / supersample - (r + 0.5)
    inside = (sub[:, None] ** 2 + sub[None, :] ** 2) <= radius**2
    k = inside.reshape(2 * r + 1, supersample, 2 * r + 1, supersample).mean(axis=(1, 3))
    return k / k.sum()


def _lens_blur(image: np.ndarray, radius: float, rng: Rng) -> np.ndarray:
    return _to_uint8(_filter(image, _disk_kernel(radius)))


def _line_kernel(length: float, angle: float, samples_per_px: int = 16) -> np.ndarray:
    """Segment of ``length`` px centred on the kernel at ``angle`` (radians), splatted bilinearly."""
    r = math.ceil(length / 2.0) + 1
    t = np.linspace(-length / 2.0, length / 2.0, int(length * samples_per_px) + 1)
    ys, xs = r - t * math.sin(angle), r + t * math.cos(angle)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    wy, wx = ys - y0, xs - x0
    k = np.zeros((2 * r + 1, 2 * r + 1))
    for dy, dx, w in ((0, 0, (1 - wy) * (1 - wx)), (0, 1, (1 - wy) * wx), (1, 0, wy * (1 - wx)), (1, 1, wy * wx)):
        np.add.at(k, (y0 + dy, x0 + dx), w)
    k = 0.5 * (k + k[::-1, ::-1])  # exact point symmetry, so correlation == convolution
    return k / k.sum()


def _motion_blur(image: np.ndarray, length: float, rng: Rng) -> np.ndarray:
    return _to_uint8(_filter(image, _line_kernel(length, rng.uniform(0.0, math.pi))))


def _color_diffusion(image: np.ndarray, amount: float, rng: Rng) -> np.ndarray:
    lum, a, b = _rgb_to_lab(image)
    sigma = 1.5 * amount + 2.0
    return _lab_to_uint8(lum, _gaussian_wide(a, sigma), _gaussian_wide(b, sigma))


def _color_shift(image: np.ndarray, px: float, rng: Rng) -> np.ndarray:
    r, g, b = _planes(image)
    luma = _luma(r, g, b)
    gy, gx = np.gradient(luma) if min(luma.shape) > 1 else (np.zeros_like(luma), np.zeros_like(luma))
    edges = _gaussian(np.hypot(gx, gy), 4.0)
    top = np.percentile(edges, 99)
    weight = np.clip(edges / top, 0.0, 1.0) if top > 0 else np.zeros_like(edges)
    angle = rng.uniform(0.0, 2.0 * math.pi)
    dy, dx = round(px * math.sin(angle)), round(px * math.cos(angle))
    h, w = g.shape
    n = math.ceil(px)
    shifted = np.pad(g, n, mode="edge")[n - dy:n - dy + h, n - dx:n - dx + w]  # shifted[y, x] = g[y - dy, x - dx]
    shifted -= g
    shifted *= weight
    shifted += g  # g + weight · (shifted g - g)
    out = image.copy()
    out[..., 1] = _to_uint8(shifted)
    return out


def _color_quantization(image: np.ndarray, colors: float, rng: Rng) -> np.ndarray:
    pil = Image.fromarray(image)
    # The median-cut palette is built on a box-reduced copy of about 12k pixels (its cost grows with the number
    # of distinct colours); every full-resolution pixel is then Floyd-Steinberg dithered onto it.
    factor = max(1, round(math.sqrt(image.shape[0] * image.shape[1] / 12288)))
    palette = pil.reduce(factor).quantize(colors=int(colors), method=Image.Quantize.MEDIANCUT)
    return np.array(pil.quantize(palette=palette, dither=Image.Dither.FLOYDSTEINBERG).convert("RGB"))


def _saturation_hsv(image: np.ndarray, factor: float, rng: Rng) -> np.ndarray:
    # Exact HSV arithmetic without a round trip: with V = max, m = min of (R, G, B), scaling S by f >= 0 gives
    # c' = V - f (V - c); f < 0 gives |f|·S at the complementary hue (H + 180°): c' = V - |f| (c - m).
    r, g, b = image[..., 0], image[..., 1], image[..., 2]
    v = np.maximum(np.maximum(r, g), b)[..., None]
    x = image.astype(np.float64)
    x -= np.minimum(np.minimum(r, g), b)[..., None] if factor < 0 else v
    x *= factor
    x += v
    return _to_uint8(x)


def _saturation_lab(image: np.ndarray, factor: float, rng: Rng) -> np.ndarray:
    lum, a, b = _rgb_to_lab(image)
    a *= factor
    b *= factor
    return _lab_to_uint8(lum, a, b)


def _jpeg2000(image: np.ndarray, ratio: float, rng: Rng) -> np.ndarray:
    resolutions = max(1, min(6, int(math.log2(min(image.shape[:2]))) - 1))
    return _encode_decode(image, "JPEG2000", quality_mode="rates", quality_layers=[float(ratio)],
                          irreversible=True, mct=1, num_resolutions=resolutions)


def _jpeg(image: np.ndarray, quality: float, rng: Rng) -> np.ndarray:
    return _encode_decode(image, "JPEG", quality=int(quality), subsampling="4:2:0")


def _white_noise(image: np.ndarray, variance: float, rng: Rng) -> np.ndarray:
    x = rng.standard_normal(image.shape)
    x *= 255.0 * math.sqrt(variance)
    x += image
    return _to_uint8(x)


def _white_noise_ycbcr(image: np.ndarray, variance: float, rng: Rng) -> np.ndarray:
    r, g, b = _planes(image)  # full-range BT.601 YCbCr, 0..255 units
    y = _luma(r, g, b)
    b -= y
    b /= 1.772  # Cb - 128
    r -= y
    r /= 1.402  # Cr - 128
    noise = rng.standard_normal((3, *y.shape))
    noise *= 255.0 * math.sqrt(variance)
    y += noise[0]
    b += noise[1]
    r += noise[2]
    r *= 1.402
    r += y
    b *= 1.772
    b += y
    g = y - 0.299 * r
    g -= 0.114 * b
    g /= 0.587
    return np.stack([_to_uint8(r), _to_uint8(g), _to_uint8(b)], axis=-1)


def _impulse_noise(image: np.ndarray, density: float, rng: Rng) -> np.ndarray:
    u = rng.random(image.shape, dtype=np.float32)
    out = image.copy()
    out[u < density / 2] = 0
    out[(u >= density / 2) & (u < density)] = 255
    return out


def _multiplicative_noise(image: np.ndarray, variance: float, rng: Rng) -> np.ndarray:
    half_width = math.sqrt(3.0 * variance)  # uniform noise with this variance, as MATLAB imnoise 'speckle'
    x = rng.uniform(-half_width, half_width, image.shape)
    x *= image
    x += image  # image + image · n
    return _to_uint8(x)


def _denoise(image: np.ndarray, variance: float, rng: Rng) -> np.ndarray:
    noisy_bgr = np.ascontiguousarray(_white_noise(image, variance, rng)[..., ::-1])
    h = 0.8 * 255.0 * math.sqrt(variance)
    return np.ascontiguousarray(cv2.fastNlMeansDenoisingColored(noisy_bgr, None, h, h, 5, 7)[..., ::-1])


def _brighten(image: np.ndarray, amount: float, rng: Rng) -> np.ndarray:
    gamma = 1.0 + 2.0 * amount
    return _curve(image, lambda v: 1.0 - (1.0 - v) ** gamma)


def _darken(image: np.ndarray, amount: float, rng: Rng) -> np.ndarray:
    gamma = 1.0 - math.log2(1.0 - amount)  # mid-grey 0.5 → 0.5 - amount / 2
    return _curve(image, lambda v: v**gamma)


def _mean_shift(image: np.ndarray, offset: float, rng: Rng) -> np.ndarray:
    return _curve(image, lambda v: v + offset)


def _jitter(image: np.ndarray, amount: float, rng: Rng) -> np.ndarray:
    h, w = image.shape[:2]
    maps = rng.standard_normal((2, h, w), dtype=np.float32)
    maps *= np.float32(math.sqrt(5.0) * amount)
    maps[0] += np.arange(w, dtype=np.float32)[None, :]
    maps[1] += np.arange(h, dtype=np.float32)[:, None]
    return cv2.remap(image, maps[0], maps[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def _non_eccentricity_patch(image: np.ndarray, count: float, rng: Rng, size: int = 16) -> np.ndarray:
    h, w = image.shape[:2]
    ph, pw = min(size, h), min(size, w)
    out = image.copy()
    for u_y, u_x, v_y, v_x in rng.random((int(count), 4)):
        y, x = int(u_y * (h - ph + 1)), int(u_x * (w - pw + 1))
        ty = min(max(y + math.floor((v_y - 0.5) * size), 0), h - ph)
        tx = min(max(x + math.floor((v_x - 0.5) * size), 0), w - pw)
        out[ty:ty + ph, tx:tx + pw] = out[y:y + ph, x:x + pw].copy()
    return out


def _pixelate(image: np.ndarray, s: float, rng: Rng) -> np.ndarray:
    h, w = image.shape[:2]
    z = 0.95 - s**0.6
    small = Image.fromarray(image).resize((max(1, round(z * w)), max(1, round(z * h))), Image.Resampling.BOX)
    return np.array(small.resize((w, h), Image.Resampling.NEAREST))


def _quantization(image: np.ndarray, levels: float, rng: Rng) -> np.ndarray:
    steps = int(levels) - 1
    return _curve(image, lambda v: np.rint(v * steps) / steps)


def _color_block(image: np.ndarray, count: float, rng: Rng, size: int = 32) -> np.ndarray:
    h, w = image.shape[:2]
    bh, bw = min(size, h), min(size, w)
    out = image.copy()
    for _ in range(int(count)):
        color = rng.integers(0, 256, 3, dtype=np.uint8)
        y, x = int(rng.integers(0, h - bh + 1)), int(rng.integers(0, w - bw + 1))
        out[y:y + bh, x:x + bw] = color
    return out


def _high_sharpen(image: np.ndarray, amount: float, rng: Rng, sigma: float = 1.0) -> np.ndarray:
    lum, a, b = _rgb_to_lab(image)
    detail = lum - _gaussian(lum, sigma)
    detail *= amount
    detail += lum
    return _lab_to_uint8(np.clip(detail, 0.0, 100.0, out=detail), a, b)


def _contrast_change(image: np.ndarray, c: float, rng: Rng) -> np.ndarray:
    # End points fixed, slope 1 + c at mid-grey and 1 - c at black/white: an S-curve for c > 0, its inverse for c < 0.
    return _curve(image, lambda v: v - c * np.sin(2.0 * math.pi * v) / (2.0 * math.pi))


# ------------------------------------------------------------------------------------------------ the table

_TABLE: tuple[tuple[int, str, str, tuple, bool, Callable[[np.ndarray, float, Rng], np.ndarray]], ...] = (
    (1, "gaussian_blur", "blur", (0.1, 0.5, 1, 2, 5), True, _gaussian_blur),
    (2, "lens_blur", "blur", (1, 2, 4, 6, 8), True, _lens_blur),
    (3, "motion_blur", "blur", (1, 2, 4, 6, 10), True, _motion_blur),
    (4, "color_diffusion", "color", (1, 3, 6, 8, 12), True, _color_diffusion),
    (5, "color_shift", "color", (1, 3, 6, 8, 12), True, _color_shift),
    (6, "color_quantization", "color", (64, 48, 32, 16, 8), True, _color_quantization),
    (7, "saturation_hsv", "color", (0.4, 0.2, 0.1, 0, -0.4), True, _saturation_hsv),
    (8, "saturation_lab", "color", (1, 2, 3, 6, 9), True, _saturation_lab),
    (9, "jpeg2000", "compression", (16, 32, 45, 120, 170), True, _jpeg2000),
    (10, "jpeg", "compression", (43, 36, 24, 7, 4), True, _jpeg),
    (11, "white_noise", "noise", (0.001, 0.002, 0.003, 0.005, 0.01), True, _white_noise),
    (12, "white_noise_ycbcr", "noise", (0.0001, 0.0005, 0.001, 0.002, 0.003), True, _white_noise_ycbcr),
    (13, "impulse_noise", "noise", (0.001, 0.005, 0.01, 0.02, 0.03), True, _impulse_noise),
    (14, "multiplicative_noise", "noise", (0.001, 0.005, 0.01, 0.02, 0.05), True, _multiplicative_noise),
    (15, "denoise", "noise", (0.001, 0.002, 0.003, 0.005, 0.01), True, _denoise),
    (16, "brighten", "brightness", (0.1, 0.2, 0.4, 0.7, 1.1), True, _brighten),
    (17, "darken", "brightness", (0.05, 0.1, 0.2, 0.4, 0.8), True, _darken),
    (18, "mean_shift", "brightness", (0, 0.08, -0.08, 0.15, -0.15), False, _mean_shift),
    (19, "jitter", "spatial", (0.05, 0.1, 0.2, 0.5, 1), True, _jitter),
    (20, "non_eccentricity_patch", "spatial", (20, 40, 60, 80, 100), True, _non_eccentricity_patch),
    (21, "pixelate", "spatial", (0.01, 0.05, 0.1, 0.2, 0.5), True, _pixelate),
    (22, "quantization", "spatial", (20, 16, 13, 10, 7), True, _quantization),
    (23, "color_block", "spatial", (2, 4, 6, 8, 10), True, _color_block),
    (24, "high_sharpen", "sharpness_contrast", (1, 2, 3, 6, 12), True, _high_sharpen),
    (25, "contrast_change", "sharpness_contrast", (0, 0.15, -0.4, 0.3, -0.6), False, _contrast_change),
)

#: The 25 KADID-10k types by name, in KADID id order.
DISTORTIONS: dict[str, Distortion] = {name: Distortion(id_, name, group, levels, monotone)
                                      for id_, name, group, levels, monotone, _ in _TABLE}
_APPLY = {row[1]: row[5] for row in _TABLE}

#: Types whose output depends on ``photo_key`` (they draw from the seeded generator).
RANDOMISED = frozenset({"motion_blur", "color_shift", "white_noise", "white_noise_ycbcr", "impulse_noise",
                        "multiplicative_noise", "denoise", "jitter", "non_eccentricity_patch", "color_block"})

#: One sentence per type on how our implementation substitutes for, or departs from, KADID-10k's generator.
SUBSTITUTES: dict[str, str] = {
    "gaussian_blur": "Gaussian blur with a ±3σ kernel and mirrored borders (OpenCV, float64).",
    "lens_blur": "Disk kernel of the given radius with anti-aliased edges (8×8 supersampled pixel coverage).",
    "motion_blur": "Bilinearly rasterised line kernel of the given length at a seeded uniform angle in [0°, 180°).",
    "color_diffusion": "Gaussian blur (σ = 1.5·amount + 2) of the CIE Lab a*/b* channels with L* kept (our own "
                       "D65 sRGB/Lab conversion); for σ ≥ 8 the blur runs on a copy area-downscaled by ⌊σ/4⌋, "
                       "within 0.5 % of a direct blur.",
    "color_shift": "Green channel displaced by the given number of px in a seeded direction (rounded to whole px) "
                   "and blended in with a weight from the blurred (σ = 4) luminance-gradient edge map scaled to its "
                   "99th percentile, after KADIS-700k's idea.",
    "color_quantization": "Pillow median-cut palette of N colours (built on a box-reduced copy of about 12k "
                          "pixels), then Floyd–Steinberg dithering of the full image onto that palette.",
    "saturation_hsv": "HSV saturation multiplied by the factor; 0 gives grey at V = max(R, G, B) and a negative "
                      "factor gives |factor|·S at the complementary hue (H + 180°), computed exactly without a "
                      "colour-space round trip.",
    "saturation_lab": "CIE Lab a*/b* multiplied by the factor, out-of-gamut colours clipped in linear RGB.",
    "jpeg2000": "OpenJPEG through Pillow, irreversible 9/7 wavelet with colour transform, one quality layer at the "
                "given compression ratio (a public copy of KADIS-700k's script lists 400 for level 5; we use the "
                "table's 170).",
    "jpeg": "libjpeg(-turbo) through Pillow at the given quality, 4:2:0 chroma subsampling.",
    "white_noise": "Gaussian noise of the given variance (image in [0, 1]) added independently to R, G and B.",
    "white_noise_ycbcr": "Gaussian noise of the given variance added to full-range BT.601 Y, Cb and Cr in [0, 1] "
                         "(MATLAB's rgb2ycbcr is studio-range).",
    "impulse_noise": "Salt-and-pepper noise per channel value as MATLAB imnoise defines it: a fraction density/2 "
                     "of the values set to 0 and density/2 set to 255.",
    "multiplicative_noise": "Speckle x + x·n with n uniform, zero-mean, of the given variance, as MATLAB imnoise "
                            "'speckle' defines it.",
    "denoise": "KADID's CNN denoiser weights are unavailable offline: white noise at white_noise's variances, then "
               "OpenCV non-local means (fastNlMeansDenoisingColored, h = hColor = 0.8·σ·255, 5-px template, "
               "7-px search window).",
    "brighten": "Per-channel monotone tone curve 1 − (1 − x)^(1 + 2·amount) instead of the parabola through "
                "mid-grey 0.5 + amount/2 of public KADIS-700k ports, which overshoots white at amount 1.1.",
    "darken": "Per-channel power curve x^γ with γ = 1 − log2(1 − amount), which maps mid-grey to 0.5 − amount/2 "
              "like the parabola of public KADIS-700k ports but stays monotone.",
    "mean_shift": "Offset added to every channel in [0, 1] units and clipped, with no min–max renormalisation of "
                  "the result; levels ordered by magnitude (0, +0.08, −0.08, +0.15, −0.15).",
    "jitter": "One bilinear resampling from positions displaced per pixel by Gaussian offsets of σ = √5·amount px "
              "per axis (the spread of five successive σ = amount warps).",
    "non_eccentricity_patch": "Each of N 16-px patches is copied from a seeded random position to one displaced by "
                              "up to ±8 px per axis, kept inside the image.",
    "pixelate": "Box-filter downscale by z = 0.95 − s^0.6 (Pillow), then nearest-neighbour upscale to the original "
                "size.",
    "quantization": "Uniform per-channel quantisation to N evenly spaced levels (not luminance-adaptive "
                    "thresholds).",
    "color_block": "N uniformly random-coloured 32-px squares at seeded positions fully inside the image.",
    "high_sharpen": "Unsharp mask L* + amount·(L* − G_σ=1(L*)) on CIE Lab lightness, clipped to [0, 100].",
    "contrast_change": "Per-channel curve x − c·sin(2πx)/(2π): identity at 0, end points fixed, slope 1 + c at "
                       "mid-grey (S-curve for c > 0, flattening for c < 0); levels ordered by magnitude "
                       "(0, 0.15, −0.4, 0.3, −0.6).",
}


# ------------------------------------------------------------------------------------------------------ API

def distortion_seed(photo_key: str, name: str, level: int) -> int:
    """Stable 64-bit seed for one (photo, type, level): the first 8 bytes of a SHA-256 digest."""
    digest = hashlib.sha256(f"{photo_key}\x1f{name}\x1f{int(level)}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


@contextmanager
def _opencv_single_thread() -> Iterator[None]:
    previous = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(previous)


def check_inputs(image: np.ndarray, level: int) -> None:
    """The checks every distortion applies: a level 1..5 and a non-empty ``(H, W, 3) uint8`` RGB image."""
    if isinstance(level, bool) or not isinstance(level, int | np.integer) or not 1 <= level <= 5:
        raise ValueError(f"distortion level must be an integer 1..5 (1 = weakest), got {level!r}")
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 \
            or 0 in image.shape:
        got = f"{image.dtype} array of shape {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"image must be a non-empty (H, W, 3) uint8 RGB array, got {got}")


def _check(image: np.ndarray, name: str, level: int, photo_key: str) -> None:
    if name not in DISTORTIONS:
        raise ValueError(f"unknown distortion {name!r}; choose one of: {', '.join(DISTORTIONS)}")
    check_inputs(image, level)
    if not isinstance(photo_key, str):
        raise ValueError(f"photo_key must be a str (it seeds the randomness), got {type(photo_key).__name__}")


def apply_distortion(image: np.ndarray, name: str, level: int, photo_key: str) -> np.ndarray:
    """Distort an ``(H, W, 3) uint8`` RGB image with KADID type ``name`` at ``level`` 1..5.

    Returns a new ``(H, W, 3) uint8`` array; ``image`` is not modified. The result depends only on the pixels,
    ``name``, ``level`` and (for the :data:`RANDOMISED` types) ``photo_key``, byte for byte.
    """
    _check(image, name, level, photo_key)
    param = DISTORTIONS[name].levels[int(level) - 1]
    rng = np.random.default_rng(distortion_seed(photo_key, name, int(level)))
    with _opencv_single_thread():
        out = _APPLY[name](np.ascontiguousarray(image), param, rng)
    assert out.shape == image.shape and out.dtype == np.uint8, (name, out.shape, out.dtype)
    return out
