"""Phone distortion families of the camera itself: the sensor (photon and read noise through a small ISP, night-mode
denoising smear) and the optics (hand shake, partial defocus, chromatic aberration, vignetting, a smudged lens).

Each family is ``fn(image, parameter, rng) -> image`` on ``(H, W, 3) uint8`` sRGB with the conventions of
:mod:`mobileiqa.data.distortions`: float64 arithmetic, results clipped and rounded half to even, all randomness
from the seeded ``rng``, OpenCV's deterministic functions only (float64 filtering and resizing, fixed-point remap,
integer non-local means). What happens in light (noise, blur, shading, glare) is computed on linear RGB (inverse
sRGB) and encoded back to sRGB at the end. Level parameters are in pixels where they are lengths, tuned so that
level 1 is barely visible and level 5 clearly bad at a long side of 512 px; every family draws from ``rng`` (its
output depends on the photo key). Each runs in well under 0.3 s on one core for a 512 × 384 photo.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from mobileiqa.data.distortions import (
    _SRGB_TO_LINEAR,
    _disk_kernel,
    _gaussian,
    _gaussian_wide,
    _to_uint8,
    linear_to_srgb255,
    luma601,
)
from mobileiqa.data.phone.base import Family, Rng

__all__ = ["FAMILIES"]

# ----------------------------------------------------------------------------------------------------------- helpers


def _linear(image: np.ndarray) -> np.ndarray:
    """uint8 sRGB → linear RGB in [0, 1], float64 (exact, through the 256-entry table)."""
    return _SRGB_TO_LINEAR[image]


def _normalised_radius(h: int, w: int, cy: float, cx: float) -> np.ndarray:
    """Distance of every pixel centre from (cy, cx), divided by the distance to the farthest image corner."""
    yy = (np.arange(h, dtype=np.float64) - cy) ** 2
    xx = (np.arange(w, dtype=np.float64) - cx) ** 2
    far = max(math.hypot(y - cy, x - cx) for y in (-0.5, h - 0.5) for x in (-0.5, w - 0.5))
    return np.sqrt(yy[:, None] + xx[None, :]) / far


def _convolve(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """True convolution (flipped-kernel correlation) of a float64 image with an odd-sized kernel, mirrored border."""
    return cv2.filter2D(x, cv2.CV_64F, np.ascontiguousarray(kernel[::-1, ::-1]), borderType=cv2.BORDER_REFLECT_101)


# ------------------------------------------------------------------------------------------------------------ sensor

# Daylight white-balance gains of a typical phone sensor: its raw red and blue respond ~2x and ~1.6x less than green,
# so the ISP multiplies them (and their noise) back up.
_WB_GAINS = (2.0, 1.0, 1.6)
_READ_NOISE = 3.0  # electrons RMS
# Bilinear demosaicing as convolutions of the zero-filled colour planes of an RGGB mosaic.
_DEMOSAIC_RB = np.array([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 4.0
_DEMOSAIC_G = np.array([[0.0, 1.0, 0.0], [1.0, 4.0, 1.0], [0.0, 1.0, 0.0]]) / 4.0


def _capture(image: np.ndarray, photons: float, rng: Rng) -> np.ndarray:
    """The photo as a phone sensor records it with ``photons`` electrons at raw full scale → linear RGB float64
    (not clipped). Per photosite of an RGGB mosaic of the white-balance-inverted scene: Poisson shot noise plus
    Gaussian read noise; that noise is demosaiced bilinearly and multiplied by the white-balance gains (its spatial
    and cross-channel correlation and its red/blue amplification) and added to the scene. The scene itself is not
    re-mosaiced: a 512 px photo is far below the sensor's resolution, so demosaicing false colour would be an
    artefact of the simulation, not of the phone."""
    lin = _linear(image)
    h, w = image.shape[:2]
    sites = ((0, 0, 0), (0, 1, 1), (1, 0, 1), (1, 1, 2))  # (row parity, column parity, channel) of RGGB
    raw = np.empty((h, w), dtype=np.float64)
    for py, px, c in sites:
        raw[py::2, px::2] = lin[py::2, px::2, c] / _WB_GAINS[c]
    raw *= photons
    noise = rng.poisson(raw).astype(np.float64)
    noise -= raw
    noise += _READ_NOISE * rng.standard_normal((h, w))
    noise /= photons
    planes = np.zeros((3, h, w), dtype=np.float64)
    for py, px, c in sites:
        planes[c, py::2, px::2] = noise[py::2, px::2]
    for c in range(3):
        demosaiced = cv2.filter2D(planes[c], cv2.CV_64F, _DEMOSAIC_G if c == 1 else _DEMOSAIC_RB,
                                  borderType=cv2.BORDER_REFLECT_101)  # mirroring keeps the mosaic's parity
        demosaiced *= _WB_GAINS[c]
        lin[..., c] += demosaiced
    return lin


def _to_ycc(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Full-range BT.601 (Y, Cb − 128, Cr − 128) planes of an (H, W, 3) float64 array in 0..255 units."""
    y = luma601(rgb)
    return y, (rgb[..., 2] - y) / 1.772, (rgb[..., 0] - y) / 1.402


def _from_ycc(y: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> np.ndarray:
    r = cr * 1.402
    r += y
    b = cb * 1.772
    b += y
    g = y - 0.299 * r
    g -= 0.114 * b
    g /= 0.587
    return np.stack([r, g, b], axis=-1)


def _sensor_noise_isp(image: np.ndarray, photons: float, rng: Rng) -> np.ndarray:
    srgb = linear_to_srgb255(_capture(image, photons, rng))
    y, cb, cr = _to_ycc(srgb)
    sigma = 0.8 + 8.0 / math.sqrt(photons)  # chroma denoise grows with the gain: σ 0.96 px at level 1, 1.9 at 5
    y = 0.7 * y + 0.3 * _gaussian(y, 0.7)  # a light luma denoise keeps the grain
    return _to_uint8(_from_ycc(y, _gaussian(cb, sigma), _gaussian(cr, sigma)))


def _night_denoise_smear(image: np.ndarray, photons: float, rng: Rng) -> np.ndarray:
    noisy = _to_uint8(linear_to_srgb255(_capture(image, photons, rng)))
    # the noise σ the ISP expects at mid-grey (linear 0.2, green), in sRGB 0..255 units (slope of sRGB there ≈ 1.09)
    sigma = 255.0 * 1.09 * math.sqrt(0.2 * photons + _READ_NOISE**2) / photons
    h = 1.6 * sigma  # over-smoothing: the NR is tuned to show no grain, whatever texture it takes with it
    bgr = cv2.fastNlMeansDenoisingColored(np.ascontiguousarray(noisy[..., ::-1]), None, h, 1.5 * h, 5, 9)
    smooth = bgr[..., ::-1].astype(np.float64)
    y, cb, cr = _to_ycc(smooth)
    detail = y - _gaussian(y, 1.2)
    detail *= 0.8  # the sharpening after NR that makes the smear look crisp and waxy
    y += detail
    return _to_uint8(_from_ycc(y, cb, cr))


# ------------------------------------------------------------------------------------------------------------ optics

def _shake_kernel(spread: float, rng: Rng, steps: int = 48) -> np.ndarray:
    """Point-spread function of hand shake: a random walk with inertia (velocity keeps 85 % of itself and gets a
    Gaussian kick each step), sampled at equal time steps (so the camera dwells where it moves slowly), centred on
    its centroid and scaled to an RMS radius of ``spread`` px, then splatted bilinearly. Scaling the spread rather
    than the path length keeps a curled-up path as blurry as a straight one of the same level."""
    kicks = rng.standard_normal((steps, 2))
    v = np.empty_like(kicks)
    v[0] = kicks[0]
    for t in range(1, steps):
        v[t] = 0.85 * v[t - 1] + 0.5 * kicks[t]
    path = np.concatenate([np.zeros((1, 2)), np.cumsum(v, axis=0)])
    length = np.hypot(*np.diff(path, axis=0).T).sum()
    sub = 64  # points per step, so that consecutive points are well under a px apart
    f = np.arange(steps * sub + 1) / sub
    i = np.minimum(f.astype(int), steps - 1)
    pts = path[i] + (f - i)[:, None] * (path[i + 1] - path[i])
    pts -= pts.mean(axis=0)
    rms = math.sqrt(float(np.mean(np.sum(pts * pts, axis=1))))
    pts *= spread / max(rms, 1e-6 * length)
    r = math.ceil(np.abs(pts).max()) + 1
    ys, xs = pts[:, 0] + r, pts[:, 1] + r
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    wy, wx = ys - y0, xs - x0
    k = np.zeros((2 * r + 1, 2 * r + 1))
    for dy, dx, wt in ((0, 0, (1 - wy) * (1 - wx)), (0, 1, (1 - wy) * wx), (1, 0, wy * (1 - wx)), (1, 1, wy * wx)):
        np.add.at(k, (y0 + dy, x0 + dx), wt)
    return k / k.sum()


def _camera_shake(image: np.ndarray, spread: float, rng: Rng) -> np.ndarray:
    return _to_uint8(linear_to_srgb255(_convolve(_linear(image), _shake_kernel(spread, rng))))


def _disc_blur(lin: np.ndarray, radius: float) -> np.ndarray:
    """Disc (bokeh) blur of linear RGB; radii over 3 px run at half resolution and are upscaled bilinearly."""
    if radius <= 3.0 or min(lin.shape[:2]) < 32:
        return _convolve(lin, _disk_kernel(radius))
    h, w = lin.shape[:2]
    small = cv2.resize(lin, ((w + 1) // 2, (h + 1) // 2), interpolation=cv2.INTER_AREA)
    small = _convolve(small, _disk_kernel(radius / 2.0))
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


_DEFOCUS_RADII = (0.0, 1.0, 2.0, 3.0, 4.5, 6.5, 9.0, 12.0, 16.0)


def _defocus_partial(image: np.ndarray, radius: float, rng: Rng) -> np.ndarray:
    h, w = image.shape[:2]
    cy, cx = rng.uniform(0.25, 0.75) * h, rng.uniform(0.25, 0.75) * w
    if rng.random() < 0.5:  # focus locked on one spot (the subject, or the wrong one): blur grows with distance
        d = _normalised_radius(h, w, cy, cx)
        sharp = rng.uniform(0.1, 0.25)
    else:  # a tilted focus plane through the focus point: blur grows on both sides of a seeded line
        angle = rng.uniform(0.0, math.pi)
        d = np.abs((np.arange(h)[:, None] - cy) * math.cos(angle) - (np.arange(w)[None, :] - cx) * math.sin(angle))
        d /= d.max()
        sharp = rng.uniform(0.05, 0.15)
    rmap = np.clip((d - sharp) / (1.0 - sharp), 0.0, 1.0)
    rmap *= radius / rmap.mean()  # the same mean blur whatever the geometry, so that levels stay ordered
    top = float(rmap.max())
    radii = [r for r in _DEFOCUS_RADII if r < top] + [top]
    lin = _linear(image)
    out = np.zeros_like(lin)
    for k, r in enumerate(radii):
        weight = np.interp(rmap, radii, np.eye(len(radii))[k])  # hat function: linear blend of adjacent radii
        if weight.any():
            out += (lin if r == 0.0 else _disc_blur(lin, r)) * weight[..., None]
    return _to_uint8(linear_to_srgb255(out))


def _chromatic_aberration(image: np.ndarray, shift: float, rng: Rng) -> np.ndarray:
    h, w = image.shape[:2]
    cy = (h - 1) / 2.0 + rng.uniform(-0.03, 0.03) * h  # a slightly decentred optical axis
    cx = (w - 1) / 2.0 + rng.uniform(-0.03, 0.03) * w
    rho = _normalised_radius(h, w, cy, cx)
    sign = 1.0 if rng.random() < 0.5 else -1.0  # red magnified and blue shrunk, or the other way round
    yy = (np.arange(h, dtype=np.float64) - cy)[:, None]
    xx = (np.arange(w, dtype=np.float64) - cx)[None, :]
    # lateral CA: red and blue images scaled about the axis relative to green, ``shift`` px apart from it at the
    # farthest corner, growing with the radius (linear plus cubic term)
    far = max(math.hypot(y - cy, x - cx) for y in (-0.5, h - 0.5) for x in (-0.5, w - 0.5))
    scale = shift * (0.6 + 0.4 * rho * rho) / far  # displacement / radius
    lin = _linear(image)
    out = lin.copy()
    for c, s in ((0, sign), (2, -sign)):
        factor = 1.0 - s * scale  # channel c at p comes from axis + (p - axis) · factor
        map_x = (cx + xx * factor).astype(np.float32)
        map_y = (cy + yy * factor).astype(np.float32)
        out[..., c] = cv2.remap(lin[..., c], map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    # purple fringing: light from near-clipped highlights spills over their dark surroundings in red and blue,
    # the wavelengths the lens focuses worst, more so off-axis
    bright = np.clip((luma601(lin) - 0.45) / 0.45, 0.0, 1.0)
    halo = _gaussian(bright, 0.8 + 0.5 * shift) - bright
    np.maximum(halo, 0.0, out=halo)
    halo *= 0.12 * shift * (0.3 + 0.7 * rho)
    out[..., 0] += 0.7 * halo
    out[..., 2] += halo
    return _to_uint8(linear_to_srgb255(out))


def _vignetting(image: np.ndarray, stops: float, rng: Rng) -> np.ndarray:
    h, w = image.shape[:2]
    cy = (h - 1) / 2.0 + rng.uniform(-0.04, 0.04) * h
    cx = (w - 1) / 2.0 + rng.uniform(-0.04, 0.04) * w
    rho = _normalised_radius(h, w, cy, cx)
    # cos⁴ law of a lens whose focal length makes the farthest corner ``stops`` stops darker than the axis
    t = math.sqrt(2.0 ** (stops / 2.0) - 1.0)  # (corner radius / focal length)
    gain = 1.0 + (t * rho) ** 2
    np.reciprocal(gain, out=gain)
    gain *= gain
    # residual colour shading: red and blue gains drift from green towards the corners in a seeded direction
    hue = rng.uniform(0.0, 2.0 * math.pi)
    tint = 0.07 * stops * rho * rho
    lin = _linear(image)
    lin[..., 0] *= gain * (1.0 + math.cos(hue) * tint)
    lin[..., 1] *= gain
    lin[..., 2] *= gain * (1.0 + math.sin(hue) * tint)
    return _to_uint8(linear_to_srgb255(lin))


def _glare_kernel(sigma: float, angle: float, elongation: float = 4.0) -> np.ndarray:
    """Anisotropic Gaussian (σ along ``angle``, σ / ``elongation`` across), odd-sized, normalised."""
    r = math.ceil(3.0 * sigma)
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1].astype(np.float64)
    along = xx * math.cos(angle) + yy * math.sin(angle)
    across = -xx * math.sin(angle) + yy * math.cos(angle)
    k = np.exp(-0.5 * ((along / sigma) ** 2 + (across * elongation / sigma) ** 2))
    return k / k.sum()


def _lens_smudge(image: np.ndarray, scatter: float, rng: Rng) -> np.ndarray:
    lin = _linear(image)
    h, w = image.shape[:2]
    size = max(h, w)
    # grease on the cover glass scatters a fraction of the light: 40 % into a veil that lifts the blacks (half a
    # wide halo, half uniform), the rest into a soft glow and streaks along the wipe direction, in seeded shares
    veil = np.stack([_gaussian_wide(np.ascontiguousarray(lin[..., c]), 0.2 * size) for c in range(3)], axis=-1)
    veil += lin.mean(axis=(0, 1))
    veil *= 0.5
    streak_share = rng.uniform(0.2, 0.8)
    glow = _gaussian(lin, 0.012 * size)
    streak = _convolve(lin, _glare_kernel(0.03 * size, rng.uniform(0.0, math.pi)))
    out = lin * (1.0 - scatter)
    out += (0.4 * scatter) * veil
    out += (0.6 * scatter * (1.0 - streak_share)) * glow
    out += (0.6 * scatter * streak_share) * streak
    return _to_uint8(linear_to_srgb255(out))


# ------------------------------------------------------------------------------------------------------------- table

FAMILIES: tuple[Family, ...] = (
    Family("sensor_noise_isp", "sensor", (2500, 900, 350, 140, 55), True, _sensor_noise_isp,
           "Sensor noise at rising ISO: Poisson shot and 3 e⁻ read noise per photosite of a linear RGGB Bayer mosaic "
           "with the given photons at raw full scale, bilinearly demosaiced and amplified by the white-balance gains "
           "(2, 1, 1.6), then an ISP chroma denoise and light luma denoise, back to sRGB.", randomised=True),
    Family("night_denoise_smear", "sensor", (1000, 400, 160, 70, 30), True, _night_denoise_smear,
           "A night shot after the phone's noise reduction: low-light sensor noise as in sensor_noise_isp at the "
           "given photons, then over-strong non-local-means denoising (h = 1.6× the expected noise) and a luma "
           "sharpen, leaving waxy, smeared texture with crisp edges.", randomised=True),
    Family("camera_shake", "optics", (0.6, 1.3, 2.5, 4.5, 8), True, _camera_shake,
           "Hand shake during the exposure: convolution in linear light with a seeded curved trajectory (a random "
           "walk with inertia, equal time per step) scaled to the given RMS radius in px, unlike a straight motion "
           "blur.", randomised=True),
    Family("defocus_partial", "optics", (0.5, 1, 2, 3.5, 6), True, _defocus_partial,
           "Missed or shallow focus: a disc (bokeh) blur in linear light whose radius grows from 0 in a seeded "
           "in-focus spot or along a tilted focus plane towards the frame's edges, averaging the given radius in px "
           "over the frame.", randomised=True),
    Family("chromatic_aberration", "optics", (0.5, 1, 1.8, 2.8, 4.2), True, _chromatic_aberration,
           "Lateral chromatic aberration of a small lens: red and blue scaled about a slightly decentred axis in "
           "opposite directions, the given px from green at the corner, plus purple fringing around highlights.",
           randomised=True),
    Family("vignetting", "optics", (0.5, 1, 1.6, 2.3, 3.2), True, _vignetting,
           "Lens shading: cos⁴ light falloff in linear light reaching the given stops at the farthest corner of a "
           "slightly decentred axis, with a seeded red/blue colour shading towards the corners.", randomised=True),
    Family("lens_smudge", "optics", (0.06, 0.13, 0.22, 0.33, 0.46), True, _lens_smudge,
           "A fingerprint-smudged phone lens: the given fraction of the light is scattered, in linear light, into "
           "a veil that lifts the blacks (a wide halo and a uniform floor), a soft glow and streaks along a seeded "
           "wipe direction.", randomised=True),
)
