"""One resolution policy and one normalisation, shared by training, evaluation, export and predict.

Policies (never a silent resize to a square):

* ``long_side`` — keep the aspect ratio, the longer side becomes ``long_side`` px (the CPU default, 512);
  images already smaller are left as they are.
* ``fixed`` — resize to exactly ``width`` x ``height`` (the paper profile: 1907 x 1231); portrait images are
  resized to ``height`` x ``width`` so that nothing is squashed by 90 degrees.
* ``native`` — no resizing.

Resizing uses Pillow's bicubic filter with antialiasing (``Image.Resampling.BICUBIC`` via ``reduce``-free
``resize``). Normalisation (mean/std on [0, 1] RGB) is a property of the backbone weights: a
:class:`Normalisation` travels with the model into checkpoints and exported metadata; files without one mean
ImageNet's statistics (:data:`IMAGENET`). Both are recorded in exported metadata.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MODES = ("long_side", "fixed", "native")
#: the models' minimum input side in px (every backbone stage must keep at least one pixel)
MIN_SIDE = 64
#: the paper's high-resolution input, width x height: the ``fixed`` policy's size and where cost is measured
PHOTO_WIDTH, PHOTO_HEIGHT = 1907, 1231


@dataclass(frozen=True)
class Normalisation:
    """Per-channel ``(x - mean) / std`` on RGB in [0, 1]: what the backbone weights were trained with."""

    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def __post_init__(self) -> None:
        mean, std = tuple(float(v) for v in self.mean), tuple(float(v) for v in self.std)
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError(f"normalisation needs 3 means and 3 positive stds, got mean={self.mean} std={self.std}")
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)

    def to_dict(self) -> dict:
        return {"mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, data: dict | None) -> Normalisation:
        """``None`` (a file written before normalisation was recorded) means ImageNet's statistics."""
        return IMAGENET if not data else cls(tuple(data["mean"]), tuple(data["std"]))

    def affine_to(self, other: Normalisation) -> tuple[np.ndarray, np.ndarray]:
        """``(a, b)`` per channel with ``other(x) = a * self(x) + b``: re-normalise a batch for another model."""
        a = np.asarray(self.std, np.float32) / np.asarray(other.std, np.float32)
        b = (np.asarray(self.mean, np.float32) - np.asarray(other.mean, np.float32)) / np.asarray(other.std,
                                                                                                   np.float32)
        return a, b


IMAGENET = Normalisation()
#: mean 0.5, std 0.5: TensorFlow's "inception" preprocessing (EfficientNet-Lite)
HALF = Normalisation((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))


@dataclass(frozen=True)
class ResolutionPolicy:
    mode: str = "long_side"
    long_side: int = 512
    width: int = PHOTO_WIDTH
    height: int = PHOTO_HEIGHT

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"resolution.mode must be one of {MODES}, got {self.mode!r}")
        if min(self.long_side, self.width, self.height) < MIN_SIDE:
            raise ValueError(f"resolution sizes must be >= {MIN_SIDE} px (the models' minimum input)")

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


def normalise(rgb: np.ndarray, norm: Normalisation = IMAGENET) -> np.ndarray:
    """``(H, W, 3) uint8`` → ``(3, H, W) float32`` normalised with ``norm`` (the model's statistics)."""
    x = rgb.astype(np.float32) / 255.0
    x = (x - np.asarray(norm.mean, np.float32)) / np.asarray(norm.std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))
