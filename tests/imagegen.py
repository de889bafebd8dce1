"""Generated test images: never photos from Debian packages or Python packages' sample images."""

from __future__ import annotations

import numpy as np
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
