"""Quality-map figures (``mobileiqa predict --maps DIR``): one PNG per scored image — the photo with its quality map
overlaid as a heat map, a colour bar and the score and spread — drawn with Pillow and numpy (no torch, no
matplotlib).

* The photo is decoded the way the model saw it (:func:`~mobileiqa.data.images.prepare_image`: EXIF orientation,
  reduced JPEG decoding) at a readable size: long side :data:`DISPLAY_LONG_SIDE` (larger photos downscaled,
  smaller ones upscaled).
* The map (``G x G``, row 0 = top, covering the whole image) is upsampled bicubically to the photo's size and
  coloured with *inferno* reversed: low quality is bright yellow and most opaque, high quality dark and nearly
  transparent — the perceptually ordered colour map makes the worst regions stand out.
* Under the photo, a colour bar labelled with the map's scale (normalised MOS, 0 = worst, 1 = best); in the
  top-left corner, the score on the model's scale and the spread (annotators' predicted disagreement, not the
  model's error).

Files are named after the image (``photo.jpg`` → ``photo_map.png``; a second ``photo.*`` in one run gets
``photo_map-2.png``) and written atomically.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from mobileiqa.atomic import atomic_path
from mobileiqa.data.images import ImageError, prepare_image
from mobileiqa.predict.predictor import Predictor, Result, no_heads_message
from mobileiqa.preprocess import Normalisation, ResolutionPolicy
from mobileiqa.scale import QualityScale

DISPLAY_LONG_SIDE = 1024
ALPHA_BEST, ALPHA_WORST = 0.15, 0.7  # overlay opacity at map value 1 (best) and 0 (worst)
#: matplotlib's "inferno" at 17 evenly spaced points (RGB, 0-255), interpolated linearly in between.
INFERNO = np.array([
    (0, 0, 4), (11, 7, 36), (33, 12, 74), (61, 9, 101), (87, 16, 110), (113, 25, 110), (138, 34, 106),
    (163, 44, 97), (188, 55, 84), (210, 70, 68), (228, 90, 49), (241, 115, 29), (249, 142, 9), (252, 172, 17),
    (249, 203, 53), (242, 234, 105), (252, 255, 164)], dtype=np.float64)
_RAW = Normalisation((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))  # prepare_image's output in [0, 1]: the photo itself


def colours(quality: np.ndarray) -> np.ndarray:
    """``(..., 3) uint8`` colours of map values in [0, 1]: inferno reversed (0 = worst = bright yellow, 1 = best
    = near black)."""
    t = (1.0 - np.clip(np.asarray(quality, np.float64), 0.0, 1.0)) * (len(INFERNO) - 1)
    lo = np.minimum(np.floor(t).astype(int), len(INFERNO) - 2)
    frac = (t - lo)[..., None]
    return np.round(INFERNO[lo] * (1 - frac) + INFERNO[lo + 1] * frac).astype(np.uint8)


def upsample(quality_map, size: tuple[int, int]) -> np.ndarray:
    """A ``G x G`` map (row 0 = top) smoothly (bicubic) upsampled to ``size`` ``(W, H)``, clipped to [0, 1]."""
    grid = Image.fromarray(np.asarray(quality_map, np.float32), mode="F")
    return np.clip(np.asarray(grid.resize(size, Image.Resampling.BICUBIC), np.float64), 0.0, 1.0)


def overlay(photo: Image.Image, quality_map) -> Image.Image:
    """``photo`` with the map blended over it (colour :func:`colours`, opacity from ALPHA_BEST to ALPHA_WORST)."""
    q = upsample(quality_map, photo.size)
    alpha = (ALPHA_BEST + (ALPHA_WORST - ALPHA_BEST) * (1.0 - q))[..., None]
    mixed = np.asarray(photo.convert("RGB"), np.float64) * (1 - alpha) + colours(q) * alpha
    return Image.fromarray(np.round(mixed).astype(np.uint8), mode="RGB")


def _font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def figure(photo: Image.Image, quality_map, score: float, spread: float, scale: QualityScale) -> Image.Image:
    """The whole figure: overlay, colour bar below it, score and spread in the top-left corner."""
    shown = overlay(photo, quality_map)
    w, h = shown.size
    unit = max(12, round(max(w, h) / 48))  # text size
    bar_h, pad = unit, unit // 2
    panel = 3 * unit + bar_h + 2 * pad
    canvas = Image.new("RGB", (w, h + panel), (255, 255, 255))
    canvas.paste(shown, (0, 0))
    draw = ImageDraw.Draw(canvas)
    font, small = _font(unit), _font(max(10, round(unit * 0.8)))
    # colour bar: 0 (worst) on the left to 1 (best) on the right, ticks every 0.25
    x0, x1, y0 = 2 * unit, w - 2 * unit, h + pad
    ramp = colours(np.linspace(0.0, 1.0, max(2, x1 - x0)))[None].repeat(bar_h, axis=0)
    canvas.paste(Image.fromarray(ramp, mode="RGB"), (x0, y0))
    draw.rectangle((x0, y0, x0 + ramp.shape[1] - 1, y0 + bar_h - 1), outline=(0, 0, 0))
    for v in (0.0, 0.25, 0.5, 0.75, 1.0):
        x = x0 + round(v * (ramp.shape[1] - 1))
        draw.line((x, y0 + bar_h, x, y0 + bar_h + pad // 2), fill=(0, 0, 0))
        draw.text((x, y0 + bar_h + pad // 2), f"{v:g}", fill=(0, 0, 0), font=small, anchor="ma")
    draw.text((w // 2, h + panel - pad), "local quality (normalised MOS): 0 = worst, 1 = best", fill=(0, 0, 0),
              font=small, anchor="md")
    # score and spread, top left, on a dark box
    lines = [f"score {score:.3f}  ({scale.describe()})", f"spread {spread:.3f}  (predicted rater disagreement)"]
    box = [draw.textbbox((pad, pad + i * round(unit * 1.3)), t, font=font) for i, t in enumerate(lines)]
    draw.rectangle((0, 0, max(b[2] for b in box) + pad, max(b[3] for b in box) + pad), fill=(0, 0, 0))
    for i, text in enumerate(lines):
        draw.text((pad, pad + i * round(unit * 1.3)), text, fill=(255, 255, 255), font=font)
    return canvas


def display_photo(image, max_pixels: int, long_side: int = DISPLAY_LONG_SIDE) -> Image.Image:
    """``image`` decoded as the model saw it (EXIF orientation applied), resized to long side ``long_side``."""
    x = prepare_image(image, ResolutionPolicy(long_side=long_side), norm=_RAW, max_pixels=max_pixels, reduce=True,
                      warn=lambda message: None)
    photo = Image.fromarray(np.round(x.transpose(1, 2, 0) * 255).astype(np.uint8), mode="RGB")
    if max(photo.size) != long_side:
        factor = long_side / max(photo.size)
        photo = photo.resize((max(1, round(photo.width * factor)), max(1, round(photo.height * factor))),
                             Image.Resampling.BICUBIC)
    return photo


class MapWriter:
    """Writes the figure of each scored image into ``folder`` (created), one unique name per image."""

    def __init__(self, folder: str | os.PathLike, predictor: Predictor, long_side: int = DISPLAY_LONG_SIDE) -> None:
        if not predictor.explains:
            raise ValueError(no_heads_message(predictor.source))
        self.folder, self.predictor, self.long_side = Path(folder), predictor, long_side
        self.folder.mkdir(parents=True, exist_ok=True)
        self._used: set[str] = set()

    def name_for(self, source: str) -> Path:
        stem = Path(source).stem or "image"
        name, n = f"{stem}_map.png", 1
        while name in self._used:
            n += 1
            name = f"{stem}_map-{n}.png"
        self._used.add(name)
        return self.folder / name

    def write(self, result: Result) -> Path:
        """Draw ``result`` (a scored file with its quality map) and write it; returns the PNG's path."""
        photo = display_photo(result.source, self.predictor.max_pixels, self.long_side)
        image = figure(photo, result.quality_map, result.score, result.spread, self.predictor.scale)
        path = self.name_for(result.source)
        with atomic_path(path) as tmp:
            image.save(tmp, format="PNG")
        return path

    def __call__(self, results: Iterable[Result]) -> Iterator[Result]:
        """``results`` with ``map_file`` set on each one drawn; an image that cannot be read again is passed on
        with a warning instead of a map."""
        for result in results:
            if not result.ok or result.quality_map is None:
                yield result
                continue
            try:
                path = self.write(result)
            except ImageError as exc:
                note = f"no map drawn ({exc.reason})"
                yield replace(result, warning="; ".join(filter(None, [result.warning, note])))
                continue
            yield replace(result, map_file=str(path))
