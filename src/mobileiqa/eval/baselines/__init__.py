"""Classic no-reference IQA baselines shown beside the model in every accuracy table: NIQE, PIQE, BRISQUE.

Each baseline is an object with ``.name``, ``.higher_is_better`` (False for all three: lower scores mean
better quality) and ``.score(rgb_uint8) -> float`` for one HxWx3 uint8 RGB image. Get one with
:func:`get_baseline`; :data:`BASELINES` lists the names; :func:`score_images` scores files with a progress bar.

Input handling (no baseline resizes the image; callers decide the resolution):
- ``niqe`` (:mod:`.niqe`): YIQ luma rounded to 0..255; cropped to whole 96x96 blocks (needs >= 2 blocks).
- ``piqe`` (:mod:`.piqe`): YIQ luma scaled to a maximum of 255 and rounded; padded to whole 16x16 blocks.
- ``brisque`` (:mod:`.brisque`): OpenCV grey (uint8); LIVE model files from Debian's ``opencv-data``,
  fetched into ``.cache/debs`` on first use.
NIQE and PIQE reproduce pyiqa's published calibration values (``tests/eval/test_baselines.py``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
from PIL import Image, ImageOps
from tqdm.auto import tqdm

from mobileiqa.eval.baselines.brisque import BRISQUE, BrisqueModelError, ensure_brisque_models
from mobileiqa.eval.baselines.niqe import NIQE
from mobileiqa.eval.baselines.piqe import PIQE

__all__ = ["BASELINES", "BRISQUE", "NIQE", "PIQE", "Baseline", "BrisqueModelError", "ensure_brisque_models",
           "get_baseline", "load_rgb", "score_images"]


class Baseline(Protocol):
    """What every baseline provides."""

    name: str
    higher_is_better: bool

    def score(self, rgb_uint8: np.ndarray) -> float: ...


_FACTORIES: dict[str, Callable[..., Baseline]] = {"niqe": NIQE, "piqe": PIQE, "brisque": BRISQUE}
#: Names accepted by :func:`get_baseline`, in table order.
BASELINES: tuple[str, ...] = tuple(_FACTORIES)


def get_baseline(name: str, **kwargs) -> Baseline:
    """A new baseline object by name (``niqe``, ``piqe``, ``brisque``); ``kwargs`` go to its constructor
    (BRISQUE: ``model_path``/``range_path`` or ``cache_dir``)."""
    try:
        factory = _FACTORIES[name]
    except KeyError:
        raise ValueError(f"unknown baseline {name!r}; choose from {list(BASELINES)}") from None
    return factory(**kwargs)


def load_rgb(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as an HxWx3 uint8 RGB array (EXIF orientation applied, alpha dropped)."""
    try:
        with Image.open(path) as img:
            return np.asarray(ImageOps.exif_transpose(img).convert("RGB"))
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the image ({exc})") from None


def score_images(name: str | Baseline, paths: Sequence[str | os.PathLike], progress: bool = True,
                 **kwargs) -> np.ndarray:
    """Score each image file with one baseline (a name or a baseline object); returns float64 scores in the
    order of ``paths``. An image the baseline cannot score (e.g. too small for NIQE) raises ``ValueError``
    naming the file."""
    baseline = get_baseline(name, **kwargs) if isinstance(name, str) else name
    scores = np.empty(len(paths), dtype=np.float64)
    for i, path in enumerate(tqdm(paths, desc=baseline.name, unit="img", disable=not progress)):
        try:
            scores[i] = baseline.score(load_rgb(path))
        except ValueError as exc:
            raise ValueError(f"{path}: {baseline.name} failed: {exc}") from None
    return scores
