"""Manifest → batches: images resized by the shared :class:`~mobileiqa.preprocess.ResolutionPolicy`, batched by
size so aspect ratios survive (no padding, no squashing), with flips decided by the sampler.

:class:`SizeBatchSampler` owns all randomness of an epoch (order and flips) from ``(seed, epoch)``, supports
resuming mid-epoch (``start_batch``) and sharding across ranks (equal batch counts per rank), so a resumed or
distributed run sees exactly the batches an uninterrupted single run would. :class:`PhotoBatchSampler` does the
same for crop training with batches of several images of each of several reference photos (for the within-photo
ranking loss) and several crops of each image.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset, Sampler

from mobileiqa.data.images import load_image
from mobileiqa.data.local_targets import LocalTargets, window_target
from mobileiqa.preprocess import IMAGENET, MIN_SIDE, Normalisation, ResolutionPolicy, normalise

Item = tuple[int, bool, bool, float, float]  # (row index, h-flip, v-flip, crop row fraction, crop column fraction)


class View(NamedTuple):
    """Where a training view comes from: its row, the size of the resized image ``(H, W)``, the crop window
    ``(y0, x0, h, w)`` in its pixels and the flips applied after cropping."""

    index: int
    image_hw: tuple[int, int]
    box: tuple[int, int, int, int]
    hflip: bool
    vflip: bool


class ManifestImages(Dataset):
    """Images of one manifest split; ``__getitem__`` takes an :data:`Item` or a plain index.

    ``crop`` > 0 trains on ``crop x crop`` windows of the resized image (smaller sides are kept whole), so
    distortions stay at their native scale while steps get cheaper; evaluation uses whole images (crop 0).

    ``cache`` keeps every decoded, resized image in memory (uint8) after its first use: crop training reads each
    image many times. Tensors are normalised with ``normalisation``, the trained model's.
    """

    def __init__(self, frame: pd.DataFrame, root: str | os.PathLike, policy: ResolutionPolicy, crop: int = 0,
                 cache: bool = False, normalisation: Normalisation = IMAGENET) -> None:
        if len(frame) == 0:
            raise ValueError("no images in this split of the manifest")
        if crop and crop < MIN_SIDE:
            raise ValueError(f"crop must be 0 (whole images) or >= {MIN_SIDE} px, got {crop}")
        self.frame = frame.reset_index(drop=True)
        self.root, self.policy, self.crop, self.normalisation = Path(root), policy, crop, normalisation
        self._cache: dict[int, np.ndarray] | None = {} if cache else None
        self.paths = self.frame["path"].tolist()
        self.mos = torch.tensor(self.frame["mos"].to_numpy(np.float32))
        self.local: tuple[LocalTargets, int, list[str]] | None = None

    def with_local_targets(self, targets: LocalTargets, grid: int) -> ManifestImages:
        """Also return each view's ``(grid, grid)`` local target, cut and flipped with it, and whether the row has
        one: items become ``(image, mos, index, target, has_target)`` (training-only ``local_map_weight``)."""
        self.local = (targets, grid, self.frame["image_id"].astype(str).tolist())  # ids read once, not per item
        return self

    def __len__(self) -> int:
        return len(self.frame)

    def share_decoded(self, other: ManifestImages) -> None:
        """Use ``other``'s decoded-image cache (same rows, same resolution policy)."""
        if other._cache is not None and other.paths == self.paths and other.policy == self.policy:
            self._cache = other._cache

    def sizes(self) -> list[tuple[int, int]]:
        """Model input size ``(width, height)`` of every row, from the manifest (no decoding)."""
        sizes = [self.policy.target_size(int(w), int(h)) for w, h in zip(self.frame["width"], self.frame["height"],
                                                                         strict=True)]
        return [(min(w, self.crop), min(h, self.crop)) for w, h in sizes] if self.crop else sizes

    def view(self, item: int | Item) -> tuple[np.ndarray, View]:
        """The decoded, resized image of ``item`` cut to its crop window and flipped (uint8, not normalised), and
        where it came from (:class:`View`), so per-pixel targets can follow the same crop and flips."""
        index, hflip, vflip, *where = (item, False, False) if isinstance(item, int | np.integer) else item
        fy, fx = where or (0.0, 0.0)
        arr = self._cache.get(index) if self._cache is not None else None
        if arr is None:
            arr = np.asarray(self.policy.apply(load_image(self.root / self.paths[index])))
            if self._cache is not None:
                self._cache[index] = arr
        h, w = arr.shape[:2]
        y0, x0, ch, cw = 0, 0, h, w
        if self.crop:
            ch, cw = min(h, self.crop), min(w, self.crop)
            y0, x0 = min(int(fy * (h - ch + 1)), h - ch), min(int(fx * (w - cw + 1)), w - cw)
            arr = arr[y0:y0 + ch, x0:x0 + cw]
        if hflip:
            arr = arr[:, ::-1]
        if vflip:
            arr = arr[::-1]
        return arr, View(int(index), (h, w), (y0, x0, ch, cw), bool(hflip), bool(vflip))

    def __getitem__(self, item: int | Item) -> tuple:
        arr, v = self.view(item)
        x = torch.from_numpy(normalise(arr, self.normalisation))
        if self.local is None:
            return x, self.mos[v.index], v.index
        targets, grid, ids = self.local
        target, has = view_target(targets, ids[v.index], v, grid)
        return x, self.mos[v.index], v.index, target, has


def view_target(targets: LocalTargets | None, image_id: str, v: View, grid: int) -> tuple[torch.Tensor, bool]:
    """The ``(grid, grid)`` local target of view ``v`` of image ``image_id`` (cut and flipped like the view) and
    True, or zeros and False where ``targets`` has none for the image."""
    if targets is None or image_id not in targets:
        return torch.zeros(grid, grid), False
    return torch.from_numpy(window_target(targets.get(image_id), v.image_hw, v.box, v.hflip, v.vflip, grid)), True


def collate(batch: Sequence[tuple]):
    """``(images, mos, index)`` batched; with local targets also ``(targets, has_target)``."""
    fields = list(zip(*batch, strict=True))
    out = [torch.stack(fields[0]), torch.stack(fields[1]), torch.tensor(fields[2])]
    if len(fields) == 5:
        out += [torch.stack(fields[3]), torch.tensor(fields[4])]
    return tuple(out)


class _EpochSampler(Sampler[list[Item]]):
    """What both batch samplers share: the epoch (and the batch to resume at), sharding the epoch's batches over
    torchrun ranks, and the per-item flips and crop positions."""

    def __init__(self, seed: int, rank: int, world_size: int) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world_size {world_size}")
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.epoch, self.start_batch = 0, 0

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.epoch, self.start_batch = epoch, start_batch

    def _shard(self, batches: list[list[int]]) -> list[list[int]]:
        """This rank's batches; equal counts per rank, repeating from the start to fill the last round."""
        if self.world_size > 1:
            extra = (-len(batches)) % self.world_size
            batches = (batches + batches[:extra])[self.rank::self.world_size]
        return batches

    @staticmethod
    def _items(rows, rng: np.random.Generator, flips: bool, random_crops: bool) -> list[Item]:
        f = rng.random((len(rows), 2)) < 0.5 if flips else np.zeros((len(rows), 2), bool)
        c = rng.random((len(rows), 2)) if random_crops else np.zeros((len(rows), 2))  # crop position fractions
        return [(int(i), bool(h), bool(v), float(y), float(x)) for i, (h, v), (y, x) in zip(rows, f, c, strict=True)]

    def _epoch_batches(self) -> list[list[Item]]:
        raise NotImplementedError

    def __iter__(self) -> Iterator[list[Item]]:
        yield from self._epoch_batches()[self.start_batch:]


class SizeBatchSampler(_EpochSampler):
    """Batches of equal-size images. ``shuffle`` reorders within and across size groups per epoch; ``flips``
    draws horizontal/vertical flips per item. ``rank``/``world_size`` shard the epoch's batches."""

    def __init__(self, sizes: Sequence[tuple[int, int]], batch_size: int, *, shuffle: bool, flips: bool = False,
                 seed: int = 0, rank: int = 0, world_size: int = 1) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        super().__init__(seed, rank, world_size)
        self.groups: dict[tuple[int, int], list[int]] = defaultdict(list)
        for i, size in enumerate(sizes):
            self.groups[tuple(size)].append(i)
        self.batch_size, self.shuffle, self.flips = batch_size, shuffle, flips

    def _epoch_batches(self) -> list[list[Item]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        batches: list[list[int]] = []
        for size in sorted(self.groups):
            idx = np.array(self.groups[size])
            if self.shuffle:
                idx = rng.permutation(idx)
            batches += [idx[i:i + self.batch_size].tolist() for i in range(0, len(idx), self.batch_size)]
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return [self._items(b, rng, self.flips, self.shuffle) for b in self._shard(batches)]

    def __len__(self) -> int:
        n = sum(-(-len(g) // self.batch_size) for g in self.groups.values())
        return -(-n // self.world_size) - self.start_batch


class PhotoBatchSampler(_EpochSampler):
    """Crop-training batches: ``photos_per_batch`` reference photos (``groups[i]`` = row ``i``'s photo) with up to
    ``images_per_photo`` of their images each, every image repeated ``crops`` times with its own crop position
    and flips. An epoch shows every row once per crop; all randomness comes from ``(seed, epoch)``; ``start_batch``
    resumes mid-epoch and ``rank``/``world_size`` shard batches like :class:`SizeBatchSampler`. Items must all
    have one size (crops smaller than every image), which the caller checks.
    """

    def __init__(self, groups: Sequence, images_per_photo: int, photos_per_batch: int, *, crops: int = 1,
                 flips: bool = False, seed: int = 0, rank: int = 0, world_size: int = 1) -> None:
        if min(images_per_photo, photos_per_batch, crops) < 1:
            raise ValueError("images_per_photo, photos_per_batch and crops must be >= 1")
        super().__init__(seed, rank, world_size)
        self.photos: dict = defaultdict(list)
        for i, g in enumerate(groups):
            self.photos[g].append(i)
        self.keys = sorted(self.photos, key=str)
        self.k, self.p, self.crops, self.flips = images_per_photo, photos_per_batch, crops, flips

    def _chunks(self) -> int:
        return sum(-(-len(v) // self.k) for v in self.photos.values())

    def _epoch_batches(self) -> list[list[Item]]:
        rng = np.random.default_rng([self.seed, self.epoch, 1])
        chunks: list[list[int]] = []
        for key in self.keys:
            idx = rng.permutation(self.photos[key]).tolist()
            chunks += [idx[i:i + self.k] for i in range(0, len(idx), self.k)]
        chunks = [chunks[i] for i in rng.permutation(len(chunks))]
        batches = [[i for c in chunks[j:j + self.p] for i in c] for j in range(0, len(chunks), self.p)]
        return [self._items(np.repeat(np.asarray(b, np.int64), self.crops), rng, self.flips, True)
                for b in self._shard(batches)]

    def __len__(self) -> int:
        n = -(-self._chunks() // self.p)
        return -(-n // self.world_size) - self.start_batch
