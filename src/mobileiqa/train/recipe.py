"""What teacher training and distillation share: the typed recipe, loaders over the prepared dataset,
optimiser and schedule, split prediction and metrics, and the run driver around :class:`~.loop.Trainer`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from mobileiqa.atomic import write_json
from mobileiqa.data.manifest import PreparedDataset, read_manifest, split_rows
from mobileiqa.environment import git_commit
from mobileiqa.eval.metrics import accuracy
from mobileiqa.models.checkpoint import save_model
from mobileiqa.preprocess import IMAGENET, Normalisation, ResolutionPolicy
from mobileiqa.train import distributed
from mobileiqa.train.auxiliary import AuxHead, BatchLabels, aux_loss, rank_loss
from mobileiqa.train.data import ManifestImages, PhotoBatchSampler, SizeBatchSampler, collate
from mobileiqa.train.distributed import Dist
from mobileiqa.train.features_cache import (
    FEATURES_DIR,
    CachedLoader,
    backbone_digest,
    cache_split,
    head_parameters,
    predict_cached,
)
from mobileiqa.train.loop import LoopConfig, Trainer, select_device
from mobileiqa.train.losses import score_loss
from mobileiqa.train.settings import TrainConfig


def build_optimizer(params, cfg: TrainConfig, lr: float | None = None) -> torch.optim.Optimizer:
    """``params``: parameters or param groups (a group's own ``lr`` wins); ``lr`` overrides ``cfg.lr``."""
    lr = cfg.lr if lr is None else lr
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=cfg.weight_decay, nesterov=True)


def param_groups(trainable: nn.Module, cfg: TrainConfig) -> list[dict]:
    """The end-to-end phase's groups: backbone parameters at ``lr * backbone_lr_scale`` (frozen ones left out),
    everything else at ``lr``."""
    backbone, rest = [], []
    for name, p in trainable.named_parameters():
        if p.requires_grad:
            (backbone if ".backbone." in f".{name}" else rest).append(p)
    groups = [{"params": rest, "lr": cfg.lr}]
    if backbone and cfg.backbone_lr_scale > 0:
        groups.append({"params": backbone, "lr": cfg.lr * cfg.backbone_lr_scale})
    return groups


def freeze_blocks(backbone: nn.Module, n: int) -> int:
    """Stop gradients into the stem and the first ``n`` blocks of a timm EfficientNet/MobileNetV3 features
    backbone (``conv_stem``, ``bn1``, ``blocks``); returns the number of frozen tensors."""
    if n < 0:
        return 0
    if not hasattr(backbone, "blocks") or not hasattr(backbone, "conv_stem"):
        raise ValueError(f"freeze_blocks {n}: the backbone {type(backbone).__name__} has no conv_stem/blocks "
                         "(timm EfficientNet/MobileNetV3 layout); set freeze_blocks: -1")
    if n > len(backbone.blocks):
        raise ValueError(f"freeze_blocks {n} exceeds the backbone's {len(backbone.blocks)} blocks")
    modules = [backbone.conv_stem, backbone.bn1, *list(backbone.blocks)[:n]]
    frozen = [p for m in modules for p in m.parameters()]
    for p in frozen:
        p.requires_grad_(False)
    return len(frozen)


def build_scheduler(optimizer, cfg: TrainConfig, steps_per_epoch: int = 1):
    """The lr schedule; ``onecycle`` steps once per optimiser step (``steps_per_epoch`` of them per epoch), the
    others once per epoch (see :attr:`~.loop.LoopConfig.step_scheduler`)."""
    if cfg.scheduler == "none":
        return None
    if cfg.scheduler == "onecycle":
        total = cfg.epochs * steps_per_epoch
        if total <= 2:  # too short for a cycle: constant lr
            return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
        # torch divides by (warmup·total − 1) — zero at exactly one warm-up step — so keep at least two
        pct = cfg.warmup if cfg.warmup * total > 1.5 else min(2.0 / total, 0.5)
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.lr, total_steps=total, pct_start=pct)
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.t_max or cfg.epochs)


def autocast_for(device: torch.device, cfg: TrainConfig):
    if device.type == "cuda" and cfg.bf16:
        return lambda: torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext


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


@torch.no_grad()
def predict(model: nn.Module, images: ManifestImages, batch_size: int, device: torch.device) -> np.ndarray:
    """Scores for every row of ``images`` in row order (eval mode, no flips)."""
    model.eval()
    sampler = SizeBatchSampler(images.sizes(), batch_size, shuffle=False)
    loader = DataLoader(images, batch_sampler=sampler, collate_fn=collate, generator=torch.Generator())
    out = np.empty(len(images), np.float64)
    for x, _, idx in loader:
        y = model(x.to(device))
        out[idx.numpy()] = y.float().cpu().numpy()
    return out


def split_metrics(pred: np.ndarray, mos: np.ndarray, prefix: str) -> dict[str, float]:
    m = accuracy(pred, mos)
    return {f"{prefix}_{k}": float(getattr(m, k)) for k in ("srcc", "plcc", "krcc", "rmse")}


@dataclass
class RunContext:
    """One training run: its recipe, device, rank, dataset splits and output folder."""

    cfg: TrainConfig
    device: torch.device
    dist: Dist
    dataset: PreparedDataset
    train_images: ManifestImages
    val_images: ManifestImages
    out_dir: Path

    def batch(self, x: torch.Tensor) -> torch.Tensor:
        """An image batch on the run's device, in the run's memory format."""
        return x.to(self.device).contiguous(memory_format=memory_format(self.cfg))


def open_run(cfg: TrainConfig, dataset_dir: str | os.PathLike, out_dir: str | os.PathLike,
             norm: Normalisation = IMAGENET) -> RunContext:
    """Seed, threads, device (and the torchrun process group), and the train/val splits normalised with ``norm``
    (the trained model's :class:`~mobileiqa.preprocess.Normalisation`)."""
    torch.manual_seed(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = select_device(cfg.device)
    d = distributed.init(device)
    dataset = PreparedDataset.load(dataset_dir)
    frame = read_manifest(dataset.manifest)
    train = split_images(dataset, frame, "train", cfg.resolution, cfg.crop, cfg.cache_images, norm=norm)
    if cfg.epochs:  # before a head phase spends minutes caching features
        check_photo_batches(train, cfg)
    return RunContext(cfg, distributed.device_for(d, device), d, dataset, train,
                      split_images(dataset, frame, "val", cfg.resolution, cache=cfg.cache_images, norm=norm),
                      Path(out_dir))


def training_extras(ctx: RunContext, width: int):
    """Row labels of the training split and, when ``aux_weight`` > 0, a fresh training-only auxiliary head."""
    labels = BatchLabels(ctx.train_images.frame, need_distortions=ctx.cfg.aux_weight > 0,
                         source=str(ctx.dataset.manifest))
    aux = AuxHead(width, len(labels.type_names), labels.num_levels) if ctx.cfg.aux_weight else None
    return labels, aux


def extra_terms(cfg: TrainConfig, score, mos, logits, labels, idx) -> dict:
    """The recipe's weighted ranking and auxiliary loss terms (empty when their weights are 0)."""
    terms = {}
    if cfg.rank_weight:
        terms["loss_rank"] = cfg.rank_weight * rank_loss(score, mos, labels.photo[idx.cpu()])
    if cfg.aux_weight and logits is not None:
        terms["loss_aux"] = cfg.aux_weight * aux_loss(logits, labels, idx)
    return terms


def mixup_terms(cfg: TrainConfig, model: nn.Module, maps: list[torch.Tensor], mos: torch.Tensor) -> dict:
    """Head phase: the score loss of ``model`` on a mixup of the batch's cached maps — each row mixed with a random
    other row at a weight drawn from Beta(``head_mixup``, ``head_mixup``), the target MOS mixed alike. A regulariser
    for a head that overfits a few dozen training photos (docs/TRAINING.md); empty when ``head_mixup`` is 0."""
    if not cfg.head_mixup:
        return {}
    lam = torch.distributions.Beta(cfg.head_mixup, cfg.head_mixup).sample((len(mos),)).to(mos)
    other = torch.randperm(len(mos)).to(mos.device)
    w = lam.view(-1, 1, 1, 1)
    mixed = [w * m + (1 - w) * m[other] for m in maps]
    return {"loss_mixup": score_loss(model.head_features(mixed).score, lam * mos + (1 - lam) * mos[other], cfg.loss)}


def with_terms(terms: dict, extra: dict) -> dict:
    """``terms`` (with its ``loss`` total) plus the weighted ``extra`` terms, added to the total."""
    if extra:
        terms = {**terms, **extra, "loss": terms["loss"] + sum(extra.values())}
    return terms


def memory_format(cfg: TrainConfig) -> torch.memory_format:
    """Channels-last when the recipe asks for it: oneDNN's depthwise and 1x1 convolutions run ~1.35x faster per
    training step on CPU in that layout (docs/TRAINING.md), and tensor cores want it on CUDA."""
    return torch.channels_last if cfg.channels_last else torch.contiguous_format


def to_device(module: nn.Module, ctx: RunContext) -> nn.Module:
    return module.to(ctx.device).to(memory_format=memory_format(ctx.cfg))


def run_loop(ctx: RunContext, trainable: nn.Module, make_step, scored: nn.Module, logger=None,
             resume: bool = False, head: Trainer | None = None) -> Trainer:
    """Train ``trainable`` (wrapped for DDP when launched by torchrun) with ``make_step(net)``'s step function,
    validating ``scored`` after every epoch; after a head phase (``head``) its epochs count first and its best
    epoch stands until an end-to-end epoch beats it."""
    cfg = ctx.cfg
    net = distributed.wrap(trainable, ctx.dist, ctx.device)
    optimizer = build_optimizer(param_groups(trainable, cfg), cfg)
    loader, sampler = train_loader(ctx.train_images, cfg, ctx.dist.rank, ctx.dist.world_size)

    def evaluate():
        pred = predict(scored, ctx.val_images, cfg.eval_batch_size or cfg.batch_size, ctx.device)
        return split_metrics(pred, ctx.val_images.mos.numpy(), "val")

    if not cfg.epochs and head is not None:  # head phase only
        return head
    loop = LoopConfig(epochs=cfg.epochs + cfg.head_epochs, accumulate=cfg.accumulate,
                      max_grad_norm=cfg.max_grad_norm or None,
                      checkpoint_every_steps=cfg.checkpoint_every_steps, step_scheduler=cfg.scheduler == "onecycle",
                      eval_every=cfg.val_every)
    steps_per_epoch = -(-len(sampler) // cfg.accumulate)
    scheduler = build_scheduler(optimizer, cfg, steps_per_epoch)
    trainer = Trainer(net, optimizer, scheduler, loader, sampler, make_step(net), evaluate, loop,
                      ctx.out_dir / "checkpoints", logger if ctx.dist.main else None,
                      autocast_for(ctx.device, cfg))
    if not (resume and trainer.resume()) and head is not None:
        trainer.continue_from(head)  # epochs, history and best epoch of the head phase
    trainer.fit()
    return trainer


def cached_sampler(n: int, groups: list[str], cfg: TrainConfig):
    """Head-phase batches of cached rows (items as :class:`SizeBatchSampler`'s; h-flip = the flipped view)."""
    if cfg.images_per_photo:
        return PhotoBatchSampler(groups, cfg.images_per_photo, max(1, cfg.head_batch_size // cfg.images_per_photo),
                                 flips=cfg.flips, seed=cfg.seed)
    return SizeBatchSampler([(1, 1)] * n, cfg.head_batch_size, shuffle=True, flips=cfg.flips, seed=cfg.seed)


def cache_features(ctx: RunContext, model: nn.Module, tag: str, val: bool = True, also: tuple = ()):
    """Cached pooled maps of ``model``'s frozen backbone (its own normalisation) on the train split (both views
    when the recipe flips) and, with ``val``, the val split (else ``None``). The key is everything the maps depend
    on (backbone tensors, grid, dataset, resolution, normalisation, views), so a cache in one of the ``also``
    run folders (the teacher stage's, for distillation) is reused only when it is exactly right."""
    folder = ctx.out_dir / "checkpoints" / FEATURES_DIR
    views = 2 if ctx.cfg.flips else 1
    key = {"backbone": backbone_digest(model.backbone), "grid": model.config.grid,
           "dataset": ctx.dataset.manifest_sha256, "resolution": ctx.cfg.resolution.to_dict(),
           "normalisation": model.normalisation.to_dict(), "views": views}
    also = tuple(Path(f) / "checkpoints" / FEATURES_DIR for f in also)
    batch = ctx.cfg.eval_batch_size or ctx.cfg.batch_size
    model = to_device(model, ctx)
    out = []
    threads = torch.get_num_threads()
    if ctx.cfg.cache_threads:  # caching is inference on whole images: it may use other threads than training
        torch.set_num_threads(ctx.cfg.cache_threads)
    try:
        for split, images in (("train", ctx.train_images), ("val", ctx.val_images if val else None)):
            if images is None:
                out.append(None)
                continue
            whole = ManifestImages(images.frame, ctx.dataset.root, ctx.cfg.resolution, 0, False, model.normalisation)
            whole.share_decoded(images)  # decode each image once for both phases
            out.append(cache_split(model, whole, views if split == "train" else 1, folder, f"{tag}-{split}",
                                   {**key, "split": split}, batch, ctx.batch, also))
    finally:
        torch.set_num_threads(threads)
    return tuple(out)


def run_head_loop(ctx: RunContext, trainable: nn.Module, make_step, scored: nn.Module, train_split, val_split,
                  logger=None, resume: bool = False) -> Trainer:
    """The head phase: ``head_epochs`` of ``make_step(trainable)`` over cached batches (the backbone is frozen and
    never called), validating ``scored``'s head on the cached val split. Runs the same on every torchrun rank
    (it takes seconds to minutes), and checkpoints under ``checkpoints/head`` like the end-to-end loop."""
    cfg = ctx.cfg
    trainable = trainable.to(ctx.device)
    sampler = cached_sampler(len(train_split), ctx.train_images.frame["content_id"].astype(str).tolist(), cfg)
    optimizer = build_optimizer(head_parameters(trainable), cfg, lr=cfg.head_lr)
    head_cfg = dataclasses.replace(cfg, epochs=cfg.head_epochs, lr=cfg.head_lr, scheduler="onecycle")
    scheduler = build_scheduler(optimizer, head_cfg, len(sampler))

    def evaluate():
        return split_metrics(predict_cached(scored, val_split), val_split.mos.numpy(), "val")

    loop = LoopConfig(epochs=cfg.head_epochs, checkpoint_every_steps=0, step_scheduler=True)
    trainer = Trainer(trainable, optimizer, scheduler, CachedLoader(train_split, sampler), sampler,
                      make_step(trainable), evaluate, loop, ctx.out_dir / "checkpoints" / "head",
                      logger if ctx.dist.main else None)
    if resume:
        trainer.resume()
    trainer.fit()
    state = torch.load(trainer.best_path, map_location="cpu", weights_only=True)["model"]
    trainable.load_state_dict(state)  # the end-to-end phase starts from the head phase's best epoch
    return trainer


def close_run(ctx: RunContext, trainer: Trainer, model: nn.Module, name: str, extra_meta: dict | None = None,
              prefix: str = "") -> dict:
    """On rank 0: reload the best epoch into ``model`` (keys under ``prefix``), save ``model.pt`` with its
    provenance and write ``metrics.json``. Other ranks return ``{}``."""
    metrics: dict = {}
    if ctx.dist.main:
        state = torch.load(trainer.best_path, map_location="cpu", weights_only=True)["model"]
        model.load_state_dict({k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)})
        model = model.to(memory_format=torch.contiguous_format)  # the saved model is layout-neutral
        meta = {"dataset_sha256": ctx.dataset.manifest_sha256, "git_commit": git_commit(),
                "best_epoch": trainer.state.best_epoch, "resolution": ctx.cfg.resolution.to_dict(),
                **(extra_meta or {})}
        save_model(model.cpu(), name, ctx.out_dir / "model.pt", meta=meta)
        best_row = trainer.history[trainer.state.best_epoch]
        metrics = {"best_epoch": trainer.state.best_epoch, "steps": trainer.state.step,
                   **{k: v for k, v in best_row.items() if k.startswith("val_")}, "history": trainer.history}
        write_json(ctx.out_dir / "metrics.json", metrics)
    distributed.barrier()
    return metrics
