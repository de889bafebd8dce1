"""Batches of equal-size images, deterministic epochs, resume and sharding; the shared resolution policy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from mobileiqa.data.manifest import read_manifest
from mobileiqa.preprocess import IMAGENET_MEAN, ResolutionPolicy, normalise
from mobileiqa.train.data import ManifestImages, SizeBatchSampler, collate


def test_policies_keep_aspect_and_never_square():
    assert ResolutionPolicy("long_side", 512).target_size(2560, 1600) == (512, 320)
    assert ResolutionPolicy("long_side", 512).target_size(1200, 1600) == (384, 512)
    assert ResolutionPolicy("long_side", 512).target_size(300, 200) == (300, 200)  # never upsampled
    assert ResolutionPolicy("fixed").target_size(4000, 3000) == (1907, 1231)
    assert ResolutionPolicy("fixed").target_size(3000, 4000) == (1231, 1907)
    assert ResolutionPolicy("native").target_size(123, 456) == (123, 456)
    with pytest.raises(ValueError, match="mode"):
        ResolutionPolicy("square")


def test_normalise_is_imagenet_chw():
    x = normalise(np.zeros((2, 3, 3), np.uint8))
    assert x.shape == (3, 2, 3) and x.dtype == np.float32
    assert np.allclose(x[:, 0, 0] * np.array([0.229, 0.224, 0.225]) + IMAGENET_MEAN, 0, atol=1e-6)


SIZES = [(512, 341)] * 7 + [(341, 512)] * 5 + [(512, 288)] * 4


def _all(sampler):
    return [b for b in sampler]


def test_batches_hold_one_size_and_cover_every_item_once():
    s = SizeBatchSampler(SIZES, 3, shuffle=True, flips=True, seed=1)
    batches = _all(s)
    assert len(batches) == len(s) == 3 + 2 + 2
    assert sorted(i for b in batches for i, *_ in b) == list(range(len(SIZES)))
    assert all(len({SIZES[i] for i, *_ in b}) == 1 for b in batches)


def test_epochs_are_seeded_and_resume_mid_epoch():
    s = SizeBatchSampler(SIZES, 3, shuffle=True, flips=True, seed=1)
    s.set_epoch(2)
    full = _all(s)
    again = SizeBatchSampler(SIZES, 3, shuffle=True, flips=True, seed=1)
    again.set_epoch(2)
    assert full == _all(again)
    s.set_epoch(2, start_batch=4)
    assert _all(s) == full[4:] and len(s) == len(full) - 4
    s.set_epoch(3)
    assert _all(s) != full


def test_ranks_get_equal_disjoint_shards():
    shards = [SizeBatchSampler(SIZES, 2, shuffle=True, seed=0, rank=r, world_size=3) for r in range(3)]
    batches = [_all(s) for s in shards]
    assert len({len(b) for b in batches}) == 1 and len(batches[0]) == len(shards[0])
    seen = [i for b in batches for batch in b for i, *_ in batch]
    assert set(seen) == set(range(len(SIZES)))  # every item somewhere (a few repeated to even out ranks)


def test_dataset_yields_normalised_tensors_with_flips(tiny_dataset):
    out, _, _ = tiny_dataset
    df = read_manifest(out / "manifest.csv")
    ds = ManifestImages(df[df["split"] == "train"], out, ResolutionPolicy("long_side", 64))
    x, mos, _ = ds[0]
    w, h = ds.sizes()[0]
    assert x.shape == (3, h, w) and max(w, h) == 64 and float(mos) == pytest.approx(ds.frame["mos"][0])
    flipped, _, _ = ds[(0, True, False)]
    assert torch.equal(flipped, x.flip(-1))
    loader = DataLoader(ds, batch_sampler=SizeBatchSampler(ds.sizes(), 4, shuffle=True, seed=0), collate_fn=collate)
    images, mos, index = next(iter(loader))
    assert images.ndim == 4 and images.shape[0] == mos.shape[0] == index.shape[0] <= 4


def test_crops_keep_native_scale_and_a_fixed_window(tiny_dataset):
    out, _, _ = tiny_dataset
    df = read_manifest(out / "manifest.csv")
    part = df[df["split"] == "train"]
    whole = ManifestImages(part, out, ResolutionPolicy("long_side", 96))
    crops = ManifestImages(part, out, ResolutionPolicy("long_side", 96), crop=64)
    assert all(s == (64, 64) for s in crops.sizes())  # every 96-px image has both sides >= 64
    full, _, _ = whole[0]
    corner, _, _ = crops[(0, False, False, 1.0, 1.0)]  # bottom-right window
    assert torch.equal(corner, full[:, -64:, -64:])
    origin, _, _ = crops[(0, False, False, 0.0, 0.0)]
    assert torch.equal(origin, full[:, :64, :64])
    with pytest.raises(ValueError, match="crop"):
        ManifestImages(part, out, ResolutionPolicy("long_side", 96), crop=10)
