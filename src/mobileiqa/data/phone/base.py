"""What a phone distortion family is, and the seeded, single-threaded way every family is applied."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mobileiqa.data.distortions import _opencv_single_thread, check_inputs, distortion_seed

Rng = np.random.Generator
#: ``fn(image, parameter, rng) -> image``: (H, W, 3) uint8 RGB in and out
Apply = Callable[[np.ndarray, float, Rng], np.ndarray]


@dataclass(frozen=True)
class Family:
    """One phone distortion family: its name, its group (the leave-one-group-out unit), the 5 level parameters
    (level 1 weakest), whether quality falls monotonically with the level, what it models (one or two sentences
    for the dataset card), and whether its output depends on the photo key (it draws from the seeded ``rng``)."""

    name: str
    group: str
    levels: tuple
    monotone: bool
    apply: Apply
    models: str
    randomised: bool = False


def apply_family_from(families: dict[str, Family], image: np.ndarray, name: str, level: int,
                      photo_key: str) -> np.ndarray:
    """Apply ``families[name]`` at ``level`` with the seed of ``(photo_key, name, level)``; a new uint8 array."""
    if name not in families:
        raise ValueError(f"unknown phone distortion family {name!r}; choose one of: {', '.join(families)}")
    check_inputs(image, level)
    family = families[name]
    rng = np.random.default_rng(distortion_seed(photo_key, name, int(level)))
    with _opencv_single_thread():
        out = family.apply(np.ascontiguousarray(image), family.levels[int(level) - 1], rng)
    if out.shape != image.shape or out.dtype != np.uint8:
        raise RuntimeError(f"{name} level {level} returned {out.dtype} {out.shape} for a {image.shape} image")
    return out


def contact_sheet_from(families: dict[str, Family], image: np.ndarray, name: str, photo_key: str,
                       width: int) -> np.ndarray:
    """The reference and levels 1..5 of ``families[name]``, ``width`` px wide and captioned: the whole photo
    downscaled (top row) and a centre crop at 100 % (bottom row), where noise, halos and codec damage show."""
    tiles = [(["reference"], image)] + [([f"level {lv}: {families[name].levels[lv - 1]}"],
                                         apply_family_from(families, image, name, lv, photo_key)) for lv in range(1, 6)]
    return captioned_tiles(tiles, width, crop=True)


def captioned_tiles(tiles: list[tuple[list[str], np.ndarray]], width: int, crop: bool = False) -> np.ndarray:
    """Equal-size ``(caption lines, image)`` tiles side by side, ``width`` px in all, each downscaled under its
    caption; with ``crop``, a row of their centre crops at 100 % below (the dataset card's contact sheets)."""
    import cv2

    h, w = tiles[0][1].shape[:2]
    tile_w = width // len(tiles)
    tile_h = max(1, round(h * tile_w / w))
    crop_h, crop_w = (min(tile_h, h), min(tile_w, w)) if crop else (0, 0)
    top, left = (h - crop_h) // 2, (w - crop_w) // 2
    caption = 6 + 12 * max(len(lines) for lines, _ in tiles)
    sheet = np.full((caption + tile_h + (4 + crop_h if crop else 0), tile_w * len(tiles), 3), 255, np.uint8)
    for i, (lines, tile) in enumerate(tiles):
        x = i * tile_w
        sheet[caption:caption + tile_h, x:x + tile_w] = cv2.resize(tile, (tile_w, tile_h),
                                                                    interpolation=cv2.INTER_AREA)
        if crop:
            sheet[caption + tile_h + 4:, x:x + crop_w] = tile[top:top + crop_h, left:left + crop_w]
        for j, line in enumerate(lines):
            cv2.putText(sheet, line[:32], (x + 4, 14 + 12 * j), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1,
                        cv2.LINE_AA)
    return sheet
