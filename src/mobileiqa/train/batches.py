"""Which images a training run sees and how they are batched: the split's images (decoded, resolution policy,
the model's normalisation), size-grouped or photo batches of crops, the loader, and the head phase's batches of
cached rows."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader

from mobileiqa.data.manifest import split_rows
from mobileiqa.preprocess import Normalisation, ResolutionPolicy
from mobileiqa.train.data import ManifestImages, PhotoBatchSampler, SizeBatchSampler, collate
from mobileiqa.train.settings import TrainConfig


def split_images(dataset, frame, split: str, policy: ResolutionPolicy, crop: int = 0,
                 cache: bool = False, *, norm: Normalisation) -> ManifestImages:
    """The ``split`` rows of the manifest ``frame`` of ``dataset``, normalised with ``norm`` (required: it is the
    scored model's, ``model.normalisation``; ImageNet mean/std on a mean-0.5 Lite2 teacher read val 0.64 for 0.83)."""
    part = split_rows(frame, split, dataset.manifest, "training needs 'train' and 'val' rows")
    return ManifestImages(part, dataset.root, policy, crop, cache, norm)


def check_photo_batches(images: ManifestImages, cfg: TrainConfig) -> None:
    """Photo batches stack crops of one size: every training image must be at least ``crop`` on both sides."""
    sizes = set(images.sizes())
    if cfg.images_per_photo and len(sizes) > 1:
        smallest = min(min(w, h) for w, h in sizes)
        raise ValueError(f"images_per_photo needs crops smaller than every training image, but crop {cfg.crop} "
                         f"leaves sizes {sorted(sizes)}; set crop <= {smallest}")


def train_sampler(images: ManifestImages, cfg: TrainConfig, rank: int = 0, world_size: int = 1):
    """Size-grouped batches of whole images or crops, or (``images_per_photo`` > 0) photo batches of crops."""
    if not cfg.images_per_photo:
        return SizeBatchSampler(images.sizes(), cfg.batch_size, shuffle=True, flips=cfg.flips, seed=cfg.seed,
                                rank=rank, world_size=world_size)
    check_photo_batches(images, cfg)
    return PhotoBatchSampler(images.frame["content_id"].astype(str).tolist(), cfg.images_per_photo,
                             max(1, cfg.batch_size // cfg.images_per_photo), crops=cfg.crops_per_image,
                             flips=cfg.flips, seed=cfg.seed, rank=rank, world_size=world_size)


def train_loader(images: ManifestImages, cfg: TrainConfig, rank: int = 0, world_size: int = 1):
    sampler = train_sampler(images, cfg, rank, world_size)
    # a private generator: iterating a DataLoader draws a seed, which must not shift the global RNG (dropout),
    # or a run resumed mid-epoch would diverge from an uninterrupted one
    loader = DataLoader(images, batch_sampler=sampler, collate_fn=collate, num_workers=cfg.workers,
                        persistent_workers=cfg.workers > 0, generator=torch.Generator().manual_seed(cfg.seed))
    return loader, sampler


def cached_sampler(n: int, groups: list[str], cfg: TrainConfig):
    """Head-phase batches of cached rows (items as :class:`SizeBatchSampler`'s; h-flip = the flipped view)."""
    if cfg.images_per_photo:
        return PhotoBatchSampler(groups, cfg.images_per_photo, max(1, cfg.head_batch_size // cfg.images_per_photo),
                                 flips=cfg.flips, seed=cfg.seed)
    return SizeBatchSampler([(1, 1)] * n, cfg.head_batch_size, shuffle=True, flips=cfg.flips, seed=cfg.seed)
