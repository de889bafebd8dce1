"""Localised evaluation of a quality map (issue 19): does the model's (G, G) map of local quality point at the
part of the image that is distorted?

The *quadrant set* (:func:`quadrant_set`) takes each pristine reference photo of a split (the default dataset
keeps them in ``refs/``) and, for each distortion type, makes one copy with that type at one level in exactly one
quadrant: the whole photo is distorted with the dataset's own generator (:func:`mobileiqa.data.mixtures.apply_one`,
so KADID types and phone families alike), then only that quadrant is pasted into the pristine photo. The seam is a
hard edge, on purpose: there is no doubt about which pixels are distorted, and since the distortion saw the whole
photo, the quadrant has no border artefacts of its own (a blur inside it reads across the seam). The quadrant of
each (photo, type) is seeded and balanced: each type puts every quadrant on the same number of photos (± 1), and
over all types the four counts differ by at most one.

A map's quadrant means (:func:`quadrant_means`) split the grid at its middle, like the image: for an odd side the
middle row (column) straddles the split, and each half takes it with weight 1/2 (area weights, so the four means
are those of the map as a piecewise-constant image over the photo). The metrics are pure functions:
:func:`pointing_accuracy` (the share of images whose lowest-quality quadrant is the distorted one, with a 95 %
Wilson interval; chance is 1/4); the per-image Spearman correlation of a predicted and a target map is
:func:`mobileiqa.eval.metrics.spatial.map_spearman`. :func:`evaluate_quadrants` runs a map function over the set;
:func:`quadrant_figure` draws a few items.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from mobileiqa.data.distortions import DISTORTIONS
from mobileiqa.data.images import load_rgb_array
from mobileiqa.data.mixtures import apply_one
from mobileiqa.data.phone import FAMILIES
from mobileiqa.eval.metrics.spatial import as_maps
from mobileiqa.eval.plots import _figure, _save
from mobileiqa.eval.settings import LocalisedConfig

__all__ = ["QUADRANTS", "QuadrantImage", "evaluate_quadrants", "pointing_accuracy",
           "quadrant_bounds", "quadrant_figure", "quadrant_maps", "quadrant_means", "quadrant_set",
           "score_quadrant_maps", "wilson_interval", "worst_quadrant"]

#: Quadrant index → name (row-major: top row first, left before right).
QUADRANTS = ("top-left", "top-right", "bottom-left", "bottom-right")
CHANCE = 1.0 / len(QUADRANTS)
_DEFAULT = LocalisedConfig()
_Z95 = float(stats.norm.ppf(0.975))

MapFn = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class QuadrantImage:
    """One item of the quadrant set: ``image`` (H, W, 3) uint8 with ``dist_type`` at ``level`` in ``quadrant``
    (an index into :data:`QUADRANTS`) only, made from reference photo ``photo_id``."""

    image: np.ndarray
    quadrant: int
    dist_type: str
    level: int
    photo_id: str


# ------------------------------------------------------------------------------------------------ quadrant set
def quadrant_bounds(height: int, width: int, quadrant: int) -> tuple[slice, slice]:
    """Row and column slices of ``quadrant`` in an image of ``height`` x ``width``: the top (left) half has
    ``height // 2`` rows (``width // 2`` columns), so for an odd side the middle line belongs to the bottom (right)."""
    if quadrant not in range(4):
        raise ValueError(f"quadrant must be 0..3 ({', '.join(QUADRANTS)}), got {quadrant!r}")
    top, left = quadrant in (0, 1), quadrant in (0, 2)
    rows = slice(0, height // 2) if top else slice(height // 2, height)
    cols = slice(0, width // 2) if left else slice(width // 2, width)
    return rows, cols


def _balanced_quadrants(n_photos: int, n_types: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_photos, n_types)`` quadrant indices: each column holds every quadrant ``n_photos // 4`` times plus the
    remainder on distinct quadrants, taken round-robin across the columns (so the overall counts differ by at most
    one), shuffled over the photos."""
    full, extra = divmod(n_photos, 4)
    start = int(rng.integers(4))
    out = np.empty((n_photos, n_types), dtype=np.int64)
    for t in range(n_types):
        extras = [(start + t * extra + j) % 4 for j in range(extra)]
        out[:, t] = rng.permutation(np.array(list(range(4)) * full + extras, dtype=np.int64))
    return out


def _check_types(types: Sequence[str], level: int) -> None:
    if isinstance(types, str) or not types:
        raise ValueError(f"types must be a non-empty sequence of distortion types, got {types!r}")
    unknown = [t for t in types if t not in DISTORTIONS and t not in FAMILIES]
    if unknown:
        raise ValueError(f"unknown distortion type(s) {unknown}; KADID types: {', '.join(DISTORTIONS)}; phone "
                         f"families: {', '.join(FAMILIES)}")
    if isinstance(level, bool) or not isinstance(level, int | np.integer) or not 1 <= level <= 5:
        raise ValueError(f"level must be an integer 1..5 (1 = weakest), got {level!r}")


def _split_photos(dataset_dir: Path, split: str) -> list[str]:
    """The photo ids (``content_id``) of ``split`` in ``dataset_dir/manifest.csv``, sorted."""
    manifest = dataset_dir / "manifest.csv"
    if not manifest.is_file():
        raise FileNotFoundError(f"{dataset_dir}: no manifest.csv; the quadrant set needs a dataset folder written "
                                "by `mobileiqa prepare` (the default dataset)")
    frame = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    missing = [c for c in ("content_id", "split") if c not in frame.columns]
    if missing:
        raise ValueError(f"{manifest}: missing column(s) {missing}")
    ids = sorted(frame.loc[frame["split"] == split, "content_id"].unique())
    if not ids:
        raise ValueError(f"{dataset_dir}: no photos in split {split!r} of manifest.csv (splits present: "
                         f"{sorted(frame['split'].unique())})")
    return ids


def quadrant_set(dataset_dir: str | os.PathLike, split: str = "test", types: Sequence[str] = _DEFAULT.types,
                 level: int = _DEFAULT.level, max_photos: int | None = _DEFAULT.max_photos,
                 seed: int = _DEFAULT.seed) -> list[QuadrantImage]:
    """For each photo of ``split`` (a seeded order, at most ``max_photos``) and each of ``types`` (in that order),
    the pristine reference ``refs/<photo_id>.png`` with ``level`` of the type pasted into one seeded quadrant.

    Items are photo-major: ``len(photos) * len(types)`` of them. The result depends only on the files and the
    arguments. Errors name the folder when ``refs/`` or ``manifest.csv`` is missing or the split is empty, and
    the file when a photo of the split has no reference."""
    _check_types(types, level)
    if max_photos is not None and (isinstance(max_photos, bool) or not isinstance(max_photos, int)
                                   or max_photos < 1):
        raise ValueError(f"max_photos must be None (all) or an integer >= 1, got {max_photos!r}")
    dataset_dir = Path(dataset_dir)
    refs_dir = dataset_dir / "refs"
    if not refs_dir.is_dir():
        raise FileNotFoundError(f"{dataset_dir}: no refs/ folder of pristine reference photos; the quadrant set "
                                "needs the default dataset (built by `mobileiqa prepare`), whose refs/ holds them")
    ids = _split_photos(dataset_dir, split)
    rng = np.random.default_rng(seed)
    photos = [ids[i] for i in rng.permutation(len(ids))][:max_photos]
    quadrants = _balanced_quadrants(len(photos), len(types), rng)
    items = []
    for i, photo_id in enumerate(photos):
        path = refs_dir / f"{photo_id}.png"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: reference of {split} photo {photo_id!r} (manifest.csv) is missing")
        ref = load_rgb_array(path)
        for t, dist_type in enumerate(types):
            q = int(quadrants[i, t])
            rows, cols = quadrant_bounds(*ref.shape[:2], q)
            image = ref.copy()
            image[rows, cols] = apply_one(ref, dist_type, int(level), photo_key=photo_id)[rows, cols]
            items.append(QuadrantImage(image, q, dist_type, int(level), photo_id))
    return items


# ---------------------------------------------------------------------------------------------- map quadrants
def _half_weights(n: int) -> np.ndarray:
    """``(2, n)``: the share of each of ``n`` cells in the first and the second half of the axis (odd ``n``: the
    middle cell is split 1/2 : 1/2)."""
    first = np.clip(n / 2 - np.arange(n), 0.0, 1.0)
    return np.stack([first, 1.0 - first])


def quadrant_means(grid) -> np.ndarray:
    """Mean of each quadrant (order of :data:`QUADRANTS`) of a ``(G, G)`` map → ``(4,)``; a stack ``(N, G, G)``
    gives ``(N, 4)``. Non-square maps work alike. An odd side's middle row (column) counts half in each of the two
    halves it straddles (area weights)."""
    g = as_maps(grid)
    rows, cols = _half_weights(g.shape[-2]), _half_weights(g.shape[-1])
    sums = np.einsum("ar,...rc,bc->...ab", rows, g, cols)
    area = rows.sum(axis=1)[:, None] * cols.sum(axis=1)[None, :]
    return (sums / area).reshape(*g.shape[:-2], 4)


def worst_quadrant(grid) -> int:
    """Index (into :data:`QUADRANTS`) of the quadrant of a ``(G, G)`` map with the lowest mean quality; a tie goes
    to the first in that order."""
    means = quadrant_means(grid)
    if means.ndim != 1:
        raise ValueError(f"worst_quadrant takes one 2-D map, got shape {np.shape(grid)}")
    return int(np.argmin(means))


# ----------------------------------------------------------------------------------------------------- metrics
def wilson_interval(hits: int, count: int, z: float = _Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``hits / count`` (95 % by default)."""
    if count < 1 or not 0 <= hits <= count:
        raise ValueError(f"need 0 <= hits <= count and count >= 1, got hits={hits}, count={count}")
    p, z2 = hits / count, z * z
    centre = (p + z2 / (2 * count)) / (1 + z2 / count)
    half = z / (1 + z2 / count) * math.sqrt(p * (1 - p) / count + z2 / (4 * count * count))
    low = 0.0 if hits == 0 else max(0.0, centre - half)  # exact at the ends (the formula gives 0 and 1 there)
    return low, 1.0 if hits == count else min(1.0, centre + half)


def _proportion(hits: np.ndarray) -> dict:
    n, k = len(hits), int(hits.sum())
    return {"accuracy": k / n, "hits": k, "count": n, "ci95": list(wilson_interval(k, n))}


def pointing_accuracy(grids, quadrants: Sequence[int], types: Sequence[str] | None = None) -> dict:
    """Share of images whose worst quadrant (:func:`worst_quadrant` of its map in ``grids``) is its distorted one
    (``quadrants``): ``{"accuracy", "hits", "count", "ci95": [low, high] (Wilson), "chance": 0.25, "per_type":
    {type: {"accuracy", "hits", "count", "ci95"}}}``; ``per_type`` is empty without ``types``."""
    grids = list(grids)
    quadrants = [int(q) for q in quadrants]
    if not grids:
        raise ValueError("pointing_accuracy needs at least one map")
    if len(quadrants) != len(grids) or (types is not None and len(types) != len(grids)):
        raise ValueError(f"{len(grids)} maps but {len(quadrants)} quadrants"
                         + ("" if types is None else f" and {len(types)} types"))
    bad = [q for q in quadrants if q not in range(4)]
    if bad:
        raise ValueError(f"quadrants must be 0..3 ({', '.join(QUADRANTS)}), got {bad[:5]}")
    hits = np.array([worst_quadrant(g) == q for g, q in zip(grids, quadrants, strict=True)])
    out = {**_proportion(hits), "chance": CHANCE, "per_type": {}}
    if types is not None:
        labels = np.asarray(list(types), dtype=object)
        out["per_type"] = {t: _proportion(hits[labels == t]) for t in dict.fromkeys(types)}
    return out


# ------------------------------------------------------------------------------------------------- evaluation
def quadrant_maps(items: Sequence[QuadrantImage], map_fn: MapFn) -> list[np.ndarray]:
    """``map_fn(item.image)`` for each item, checked to be a finite 2-D map, as float64."""
    grids = []
    for i, item in enumerate(items):
        grid = np.asarray(map_fn(item.image), dtype=np.float64)
        if grid.ndim != 2:
            raise ValueError(f"map_fn returned shape {grid.shape} for item {i} ({item.photo_id}, "
                             f"{item.dist_type}); expected a 2-D (G, G) map")
        grids.append(as_maps(grid, f"map of item {i} ({item.photo_id}, {item.dist_type})"))
    return grids


def score_quadrant_maps(items: Sequence[QuadrantImage], grids: Sequence[np.ndarray]) -> dict:
    """:func:`pointing_accuracy` of the maps over the items (overall and per type) plus ``per_item``: for each item
    its photo_id, dist_type, level, quadrant, worst_quadrant, hit and the four quadrant_means (JSON-ready)."""
    if len(items) != len(grids):
        raise ValueError(f"{len(items)} items but {len(grids)} maps")
    out = pointing_accuracy(grids, [it.quadrant for it in items], [it.dist_type for it in items])
    out["per_item"] = []
    for item, grid in zip(items, grids, strict=True):
        means = quadrant_means(grid)
        worst = int(np.argmin(means))
        out["per_item"].append({"photo_id": item.photo_id, "dist_type": item.dist_type, "level": item.level,
                                "quadrant": item.quadrant, "worst_quadrant": worst, "hit": worst == item.quadrant,
                                "quadrant_means": [float(m) for m in means]})
    return out


def evaluate_quadrants(items: Sequence[QuadrantImage], map_fn: MapFn) -> dict:
    """Run ``map_fn`` (``(H, W, 3) uint8 → (G, G)`` quality map, higher = better) over the quadrant set and score
    it (:func:`score_quadrant_maps`). To draw :func:`quadrant_figure` as well, call :func:`quadrant_maps` and
    :func:`score_quadrant_maps` instead, so the maps are computed once."""
    return score_quadrant_maps(items, quadrant_maps(items, map_fn))


# ----------------------------------------------------------------------------------------------------- figure
def _spread(items: Sequence[QuadrantImage], n: int) -> list[int]:
    """Up to ``n`` item indices, taking the types in turn (each type's items in set order)."""
    by_type: dict[str, list[int]] = {}
    for i, item in enumerate(items):
        by_type.setdefault(item.dist_type, []).append(i)
    queues, picked = list(by_type.values()), []
    while len(picked) < n and any(queues):
        for queue in queues:
            if queue and len(picked) < n:
                picked.append(queue.pop(0))
    return picked


def quadrant_figure(items: Sequence[QuadrantImage], grids: Sequence[np.ndarray], path: str | os.PathLike,
                    n: int = 6) -> Path:
    """PNG of up to ``n`` items (the types in turn), three a row: the photo under its predicted map (red = low
    quality, green = high, on the [0, 1] scale), the distorted quadrant outlined solid white, the map's worst
    quadrant dashed black; each title gives the type, level, photo and hit or miss. Written atomically."""
    if len(items) != len(grids):
        raise ValueError(f"{len(items)} items but {len(grids)} maps")
    if not items or n < 1:
        raise ValueError(f"quadrant_figure needs at least one item and n >= 1, got {len(items)} items, n={n}")
    picked = _spread(items, n)
    ncols = min(3, len(picked))
    nrows = math.ceil(len(picked) / ncols)
    h0, w0 = items[picked[0]].image.shape[:2]
    panel_w = 4.2  # inches a panel; the colour bar takes another ~1.3
    fig, axes = _figure(panel_w * ncols + 1.3, 0.5 + nrows * (panel_w * h0 / w0 + 0.55), nrows=nrows, ncols=ncols,
                        squeeze=False, layout="constrained")
    from matplotlib.patches import Rectangle

    shown = None
    for ax, i in zip(axes.flat, picked, strict=False):
        item, grid = items[i], as_maps(grids[i], f"grids[{i}]")
        h, w = item.image.shape[:2]
        worst = worst_quadrant(grid)
        ax.imshow(item.image, extent=(0, w, h, 0))
        shown = ax.imshow(grid, extent=(0, w, h, 0), cmap="RdYlGn", vmin=0.0, vmax=1.0, alpha=0.45,
                          interpolation="nearest")
        inset = 0.02 * min(h, w)  # the worst quadrant's outline sits inside, so a hit shows both
        for q, pad, style in ((item.quadrant, 0.0, {"edgecolor": "white", "lw": 2.5, "ls": "-"}),
                              (worst, inset, {"edgecolor": "black", "lw": 2.0, "ls": "--"})):
            rows, cols = quadrant_bounds(h, w, q)
            ax.add_patch(Rectangle((cols.start + pad, rows.start + pad), cols.stop - cols.start - 2 * pad,
                                   rows.stop - rows.start - 2 * pad, fill=False, **style))
        verdict = "hit" if worst == item.quadrant else f"miss (worst: {QUADRANTS[worst]})"
        ax.set_title(f"{item.dist_type} L{item.level} in {QUADRANTS[item.quadrant]}\n{item.photo_id} · {verdict}",
                     fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes.flat[len(picked):]:
        ax.set_visible(False)
    fig.colorbar(shown, ax=axes, shrink=0.8, label="predicted local quality (higher = better)")
    fig.suptitle("quality map per quadrant-distorted photo (solid white: distorted quadrant; dashed black: the "
                 "map's worst)", fontsize=10)
    return _save(fig, path)
