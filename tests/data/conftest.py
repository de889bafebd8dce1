"""Shared fixtures for data tests: generated photos only (never photos from Debian packages or Python
packages' sample images)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image


def make_photo(seed: int, w: int = 200, h: int = 150) -> Image.Image:
    """A synthetic 'photo': gradients, texture and coloured discs, seeded."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 255 / w, y * 255 / h, ((x + y) % 48) * 5], -1).astype(float)
    img += rng.normal(0, 10, img.shape)
    for _ in range(6):
        cx, cy, r = rng.integers(0, w), rng.integers(0, h), rng.integers(8, 40)
        img[(x - cx) ** 2 + (y - cy) ** 2 < r * r] = rng.integers(0, 255, 3)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


@pytest.fixture(scope="session")
def photos_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("photos")
    for i in range(4):
        make_photo(i, 200 + 10 * i, 150).save(d / f"gen_{i}.png")
    return d


@pytest.fixture(scope="session")
def tiny_dataset(photos_dir, tmp_path_factory):
    """A built tiny default dataset (3 photos, 1 level per type, 3 annotators)."""
    from mobileiqa.data.build import BuildSpec, build_dataset

    out = tmp_path_factory.mktemp("dataset")
    spec = BuildSpec(long_side=96, max_photos=3, levels_per_type=1, annotators=("ssim", "gmsd", "haarpsi"),
                     workers=1)
    report = build_dataset(photos_dir, out, spec, progress=False)
    return out, spec, report
