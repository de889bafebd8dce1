"""One resolution policy and one normalisation, shared by training, evaluation, export and predict.

Policies (never a silent resize to a square):

* ``long_side`` — keep the aspect ratio, the longer side becomes ``long_side`` px (the CPU default, 512);
  images already smaller are left as they are.
* ``fixed`` — resize to exactly ``width`` x ``height`` (the paper profile: 1907 x 1231); portrait images are
  resized to ``height`` x ``width`` so that nothing is squashed by 90 degrees.
* ``native`` — no resizing.

Resizing uses Pillow's bicubic filter with antialiasing (``Image.Resampling.BICUBIC`` via ``reduce``-free
``resize``); normalisation is ImageNet's mean/std on [0, 1] RGB. Both are recorded in exported metadata.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MODES = ("long_side", "fixed", "native")


@dataclass(frozen=True)
class ResolutionPolicy:
    mode: str = "long_side"
    long_side: int = 512
    width: int = 1907
    height: int = 1231

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"resolution.mode must be one of {MODES}, got {self.mode!r}")
        if min(self.long_side, self.width, self.height) < 64:
            raise ValueError("resolution sizes must be >= 64 px (the models' minimum input)")

    def target_size(self, width: int, height: int) -> tuple[int, int]:
        """``(width, height)`` an image of the given size is resized to."""
        if self.mode == "native":
            return width, height
        if self.mode == "fixed":
            return (self.width, self.height) if width >= height else (self.height, self.width)
        scale = self.long_side / max(width, height)
        if scale >= 1:
            return width, height
        return max(1, round(width * scale)), max(1, round(height * scale))

    def apply(self, img: Image.Image) -> Image.Image:
        size = self.target_size(*img.size)
        return img if size == img.size else img.resize(size, Image.Resampling.BICUBIC)

    def to_dict(self) -> dict:
        return asdict(self)


def normalise(rgb: np.ndarray) -> np.ndarray:
    """``(H, W, 3) uint8`` → ``(3, H, W) float32`` normalised with ImageNet statistics."""
    x = rgb.astype(np.float32) / 255.0
    x = (x - np.asarray(IMAGENET_MEAN, np.float32)) / np.asarray(IMAGENET_STD, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))
