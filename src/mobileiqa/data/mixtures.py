"""Mixtures and regional distortions for the default dataset (opt-in: ``data.build.mixture_fraction`` and
``data.build.regional_fraction``; :mod:`mobileiqa.data.build` uses them).

A *mixture* applies 2 or 3 distortions in the order a photo meets them, one per :data:`SLOTS` entry: the camera
(phone ``sensor``, ``optics`` + KADID ``blur``, ``noise``), then an edit (phone ``tone``, ``enhance`` + KADID
``color``, ``brightness``, ``sharpness_contrast``), then compression (phone ``codec`` + KADID ``compression``).
KADID's ``spatial`` types are never mixed. :func:`draw_mixture` picks, from a hashlib seed of
``(build seed, photo, mixture index)``: 2 or 3 slots (even odds, order kept), one family per slot (uniform over the
KADID types and the *enabled* phone families of the slot's groups) and a level 1..5 each; component ``k`` is
applied with its own photo key ``<photo>/mixNN/k`` (:func:`component_key`), so every image is reproducible from its
recipe. The mixture is named ``mix:a+b[+c]`` (:func:`mixture_name`, :func:`mobileiqa.data.families.components`).

A *regional* distortion is blended into its input through a soft mask (:func:`draw_region`, :func:`region_mask`):
an ellipse or rounded rectangle covering 20-60 % of the frame, inside it, with a smoothstep edge about 5 % of the
short side wide; ``out = mask * distorted + (1 - mask) * input``, clipped and rounded half to even like
:mod:`mobileiqa.data.distortions`, so pixels far outside the region are the input's, byte for byte. A region is
recorded as fractions of the frame (``cx, cy``: centre; ``rx, ry``: half sizes, of the width and the height;
``corner``: the rounded rectangle's corner radius as a share of its shorter half side; ``feather``: the edge width
as a share of the short side), rounded to 4 decimals before use, so the recorded region *is* the mask.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np

from mobileiqa.data.distortions import DISTORTIONS, _to_uint8, apply_distortion
from mobileiqa.data.manifest import MIX_PREFIX
from mobileiqa.data.phone import FAMILIES, apply_family

#: the ordered slots of a mixture and the groups (KADID's and the phone families') that fill each
SLOTS: dict[str, tuple[str, ...]] = {
    "camera": ("sensor", "optics", "blur", "noise"),
    "edit": ("tone", "enhance", "color", "brightness", "sharpness_contrast"),
    "compression": ("codec", "compression"),
}
FEATHER = 0.05  # the soft edge of a region, as a share of the frame's short side
COVERAGE = (0.2, 0.6)  # the share of the frame a region covers


def stable_int(*parts) -> int:
    """A 64-bit integer from a SHA-256 digest of ``parts`` (the build's seeding)."""
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8], "little")


def _unit(*parts) -> float:
    """A seeded number in [0, 1)."""
    return stable_int(*parts) / 2.0**64


def mixture_count(n_single: int, fraction: float) -> int:
    """How many mixtures a photo with ``n_single`` single-distortion images gets, so that mixtures are
    ``fraction`` of its images: ``round(fraction * n_single / (1 - fraction))``."""
    return round(fraction * n_single / (1 - fraction)) if fraction > 0 else 0


def slot_candidates(phone_names) -> dict[str, list[str]]:
    """Per slot, the KADID types (all, in KADID order) then the phone families among ``phone_names`` (in
    registry order, so the draw does not depend on how the families were listed) whose group fills it."""
    enabled = set(phone_names)
    return {slot: [d.name for d in DISTORTIONS.values() if d.group in groups]
            + [f.name for f in FAMILIES.values() if f.name in enabled and f.group in groups]
            for slot, groups in SLOTS.items()}


def mixture_name(names) -> str:
    return MIX_PREFIX + "+".join(names)


def component_key(photo_id: str, index: int, k: int) -> str:
    """The photo key that seeds component ``k`` of mixture ``index`` of ``photo_id``."""
    return f"{photo_id}/mix{index:02d}/{k}"


def draw_mixture(seed: int, photo_id: str, index: int, candidates: dict[str, list[str]],
                 regional_fraction: float = 0.0) -> list[dict]:
    """Mixture ``index`` of ``photo_id``: its components in slot order, each ``{"slot", "name", "level",
    "photo_key", "region"}`` (``region`` None for the whole frame). Whether a component is regional is its own
    seeded draw, so the components do not depend on ``regional_fraction``."""
    rng = np.random.default_rng(stable_int(seed, "mixture", photo_id, index))
    n = 2 + int(rng.integers(2))
    slots = [list(SLOTS)[i] for i in sorted(rng.choice(len(SLOTS), size=n, replace=False).tolist())]
    out = []
    for k, slot in enumerate(slots):
        names = candidates[slot]
        name, level = names[int(rng.integers(len(names)))], int(rng.integers(1, 6))
        regional = _unit(seed, "mixture-regional", photo_id, index, k) < regional_fraction
        region = draw_region(seed, "mixture-region", photo_id, index, k) if regional else None
        out.append({"slot": slot, "name": name, "level": level, "photo_key": component_key(photo_id, index, k),
                    "region": region})
    return out


def regional_singles(seed: int, photo_id: str, singles: list[tuple[str, int]], fraction: float) -> set:
    """The ``round(fraction * len(singles))`` of a photo's single-distortion ``(name, level)`` images that are
    applied to a region only, ranked by a seeded hash (so the share is exact per photo)."""
    n = round(fraction * len(singles))
    ranked = sorted(singles, key=lambda s: stable_int(seed, "regional", photo_id, *s))
    return set(ranked[:n])


def draw_region(seed: int, *parts) -> dict:
    """A seeded region (see the module docstring), inside the frame, covering about 20-60 % of it."""
    rng = np.random.default_rng(stable_int(seed, *parts))
    shape = "ellipse" if rng.random() < 0.5 else "rounded_rect"
    area = rng.uniform(COVERAGE[0] + 0.03, COVERAGE[1] - 0.05)  # margins for the rounded corners and the edge
    aspect = math.exp(rng.uniform(math.log(0.6), math.log(1.6)))
    corner = rng.uniform(0.15, 0.45)
    prod = area / (math.pi if shape == "ellipse" else 4.0)  # rx * ry
    rx = min(math.sqrt(prod * aspect), 0.46)
    ry = min(prod / rx, 0.46)
    rx = prod / ry
    cx, cy = rng.uniform(rx, 1 - rx), rng.uniform(ry, 1 - ry)
    region = {"shape": shape, "cx": cx, "cy": cy, "rx": rx, "ry": ry, "feather": FEATHER}
    if shape == "rounded_rect":
        region["corner"] = corner
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in region.items()}


def region_mask(region: dict, height: int, width: int) -> np.ndarray:
    """The ``(height, width)`` float64 mask of ``region``: 1 inside, 0 outside, a smoothstep across an edge
    ``feather * min(height, width)`` px wide centred on the boundary (a signed distance: exact for the rounded
    rectangle, scaled radially for the ellipse)."""
    y = (np.arange(height, dtype=np.float64) + 0.5)[:, None]
    x = (np.arange(width, dtype=np.float64) + 0.5)[None, :]
    cx, cy, hx, hy = region["cx"] * width, region["cy"] * height, region["rx"] * width, region["ry"] * height
    if region["shape"] == "ellipse":
        d = (np.sqrt(((x - cx) / hx) ** 2 + ((y - cy) / hy) ** 2) - 1.0) * min(hx, hy)
    elif region["shape"] == "rounded_rect":
        r = region["corner"] * min(hx, hy)
        qx, qy = np.abs(x - cx) - (hx - r), np.abs(y - cy) - (hy - r)
        d = np.hypot(np.maximum(qx, 0.0), np.maximum(qy, 0.0)) + np.minimum(np.maximum(qx, qy), 0.0) - r
    else:
        raise ValueError(f"unknown region shape {region['shape']!r}; ellipse or rounded_rect")
    t = np.clip(0.5 - d / max(region["feather"] * min(height, width), 1.0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def blend(distorted: np.ndarray, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``mask * distorted + (1 - mask) * image`` as uint8 (clipped, rounded half to even)."""
    m = mask[..., None]
    return _to_uint8(m * distorted.astype(np.float64) + (1.0 - m) * image.astype(np.float64))


def apply_one(image: np.ndarray, name: str, level: int, photo_key: str, region: dict | None = None) -> np.ndarray:
    """One KADID type or phone family at ``level``, over the whole frame or (``region``) blended in a region."""
    fn = apply_distortion if name in DISTORTIONS else apply_family
    out = fn(image, name, level, photo_key=photo_key)
    return out if region is None else blend(out, image, region_mask(region, *image.shape[:2]))


def apply_mixture(image: np.ndarray, recipe: list[dict]) -> np.ndarray:
    """Apply a :func:`draw_mixture` recipe's components in order."""
    for c in recipe:
        image = apply_one(image, c["name"], c["level"], c["photo_key"], c["region"])
    return image
