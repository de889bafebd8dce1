"""Per-region quality targets ("local targets") of the default dataset, for a quality-map head: reading them
(:class:`LocalTargets`) and cutting a training crop's target (:func:`window_target`); they are measured and
written by :mod:`mobileiqa.data.local_targets_build` (the prepare stage).

The default dataset labels each image with simulated annotators: full-reference (FR) measures against its pristine
reference (:mod:`mobileiqa.data.annotators`), calibrated onto the MOS scale (:mod:`mobileiqa.data.calibration`).
Two of them have a natural *local* form, computed here on a grid of ``stride`` x ``stride`` pixel cells:

- **SSIM**: the per-pixel SSIM map of :func:`mobileiqa.data.annotators.ssim_luma` (luminance, 11-tap Gaussian
  window sigma 1.5, Wang et al.'s constants, data range 1), averaged per cell. The scalar annotator is the mean of
  the map's valid region, so the cells' mean is that value up to the 5-pixel border (the map is recomputed here
  with the same window and constants: ``ssim_luma`` returns means only; tests pin the two together).
- **GMSD**: piq's gradient magnitude similarity (``piq.gmsd``: the Y of YIQ, 2x2 average-pool downsampling after
  a zero pad when a side is odd, Prewitt filters / 3 with zero padding, constant t = 170 / 255^2) with a *local*
  deviation: the standard deviation of the similarity over a ``window`` x ``window`` pixel box around each pixel
  (box filters), averaged per cell and negated like the scalar annotator (higher is better). The scalar GMSD is
  that deviation over the whole image, so the local one reads somewhat lower (a box holds less variety).

Each map goes onto the MOS scale exactly like the scalar labels: the annotator's logistic map, the per-type
correction of the image's type id, clipped to [1, 5] and normalised to [0, 1]; an image's target is the mean of
its calibrated annotator maps (float16, same scale as the manifest's ``mos``).

Layout written beside the dataset (``manifest.csv`` is never touched)::

    local_targets/<photo_id>.npz   one per reference photo: its images' target maps by image id (float16
                                   (Hc, Wc), Hc = ceil(H / stride)) and ``__key__``, the digest of what shaped them
    local_targets/index.json       stride, window, annotators, manifest and calibration sha256, the build key, each
                                   photo's image ids, per-split counts, bytes (no timings: rebuilds are
                                   byte-identical)

:func:`window_target` turns a map into the target of a training crop (box, flips, grid).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mobileiqa.atomic import file_digest

LOCAL_TARGETS_VERSION = 1  # bump when the meaning of a stored map changes (LocalTargets.load refuses older ones)
FOLDER = "local_targets"
INDEX = "index.json"
KEY = "__key__"  # the npz entry holding the digest of what shaped a photo's maps


# --- crop targets -----------------------------------------------------------------------------------------------
def _area_weights(start: float, length: float, n: int, grid: int) -> np.ndarray:
    """``(grid, n)``: the share of each of ``n`` unit cells in each of ``grid`` equal bins of ``[start, start +
    length)`` (exact area averaging; a bin smaller than a cell takes that cell's value)."""
    edges = start + length * np.arange(grid + 1) / grid
    cells = np.arange(n)
    overlap = np.clip(np.minimum(edges[1:, None], cells + 1) - np.maximum(edges[:-1, None], cells), 0, None)
    return overlap / overlap.sum(axis=1, keepdims=True)


def window_target(cells: np.ndarray, image_hw: tuple[int, int], box: tuple[int, int, int, int],
                  hflip: bool = False, vflip: bool = False, grid: int = 8) -> np.ndarray:
    """The ``(grid, grid)`` float32 target of a crop: ``box = (y0, x0, h, w)`` in pixels of the image of size
    ``image_hw = (H, W)`` as fed to the model (the map spans the whole image, so its coordinates scale by Hc / H,
    Wc / W when the image was resized), area-averaged onto the grid, then flipped as
    :class:`mobileiqa.train.data.ManifestImages` flips the crop (``hflip``: columns, ``vflip``: rows). The whole
    image is ``box = (0, 0, H, W)``."""
    cells = np.asarray(cells, np.float64)
    (hc, wc), (height, width), (y0, x0, h, w) = cells.shape, image_hw, box
    if h <= 0 or w <= 0 or y0 < 0 or x0 < 0 or y0 + h > height or x0 + w > width:
        raise ValueError(f"crop box (y0, x0, h, w) = {box} does not lie inside the {height}x{width} image")
    if grid < 1:
        raise ValueError(f"grid must be >= 1, got {grid}")
    rows = _area_weights(y0 * hc / height, h * hc / height, hc, grid)
    cols = _area_weights(x0 * wc / width, w * wc / width, wc, grid)
    out = rows @ cells @ cols.T  # pooling and flipping commute: flip the pooled grid
    if hflip:
        out = out[:, ::-1]
    if vflip:
        out = out[::-1]
    return np.ascontiguousarray(out, dtype=np.float32)


# --- reading ----------------------------------------------------------------------------------------------------
class StaleLocalTargetsError(RuntimeError):
    """The local targets on disk are missing or do not match the dataset's manifest and calibration."""


@dataclass
class LocalTargets:
    """The local targets of a dataset folder, read lazily one photo file at a time."""

    folder: Path
    stride: int
    annotators: tuple[str, ...]
    photo_of: dict[str, str]  # image id -> photo id (the npz file)
    _maps: dict[str, dict[str, np.ndarray]] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, dataset_dir: str | os.PathLike) -> LocalTargets | None:
        """The local targets of the default dataset in ``dataset_dir`` (the folder holding ``refs/``, i.e. a
        prepared dataset's image root); ``None`` for a dataset without references or calibration (a real
        dataset). Raises :class:`StaleLocalTargetsError`, naming the file and what to run, when ``index.json`` is
        missing or was built for another manifest, calibration or format version."""
        dataset_dir = Path(dataset_dir)
        calib_path = dataset_dir / "calibration.json"
        if not (dataset_dir / "refs").is_dir() or not calib_path.is_file():
            return None
        index_path = dataset_dir / FOLDER / INDEX
        rebuild = ("run the prepare stage again (`mobileiqa prepare`, data.local_targets.enabled: true) or "
                   f"mobileiqa.data.local_targets.build_local_targets({str(dataset_dir)!r})")
        if not index_path.is_file():
            raise StaleLocalTargetsError(f"{index_path} not found: the dataset has no local targets; {rebuild}")
        index = json.loads(index_path.read_text())
        why = ("format version" if index.get("version") != LOCAL_TARGETS_VERSION else
               "manifest.csv" if index.get("manifest_sha256") != file_digest(dataset_dir / "manifest.csv") else
               "calibration.json" if index.get("calibration_sha256") != file_digest(calib_path) else None)
        if why:
            raise StaleLocalTargetsError(f"{index_path} is stale: it was built for another {why}; {rebuild}")
        photo_of = {i: p for p, ids in index["photos"].items() for i in ids}
        return cls(index_path.parent, int(index["stride"]), tuple(index["annotators"]), photo_of)

    @property
    def digest(self) -> str:
        """A digest of ``index.json`` (settings, manifest, calibration, per-photo keys): what a cache of anything
        derived from these targets is keyed by."""
        return file_digest(self.folder / INDEX)

    def __contains__(self, image_id: object) -> bool:
        return image_id in self.photo_of

    def __len__(self) -> int:
        return len(self.photo_of)

    def get(self, image_id: str) -> np.ndarray:
        """The ``(Hc, Wc)`` float32 target map of ``image_id`` (cells of ``stride`` pixels of the dataset image)."""
        try:
            photo = self.photo_of[image_id]
        except KeyError:
            raise KeyError(f"{self.folder / INDEX}: no local target for image {image_id!r}") from None
        if photo not in self._maps:
            with np.load(self.folder / f"{photo}.npz") as npz:
                self._maps[photo] = {k: npz[k] for k in npz.files if k != KEY}
        return self._maps[photo][image_id].astype(np.float32)
