"""One training run, shared by teacher training and distillation: open it (seed, threads, device, torchrun, the
train/val splits), the recipe's extra loss terms, the end-to-end loop and the optional head phase on cached
features around :class:`~.loop.Trainer`, and closing it (the best epoch saved as ``model.pt`` with its
provenance, ``metrics.json``)."""

from __future__ import annotations

import dataclasses
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from mobileiqa.atomic import write_json
from mobileiqa.data.local_targets import LocalTargets
from mobileiqa.data.manifest import ANNOTATOR_PREFIX, PreparedDataset, read_manifest
from mobileiqa.environment import git_commit
from mobileiqa.models.checkpoint import save_model
from mobileiqa.models.iqa_net import HeadConfig
from mobileiqa.preprocess import IMAGENET, Normalisation
from mobileiqa.train import distributed
from mobileiqa.train.auxiliary import (
    AnnotatorHead,
    AuxHead,
    AuxOutputs,
    BatchLabels,
    LocalMapHead,
    annotator_loss,
    aux_loss,
    local_map_loss,
)
from mobileiqa.train.batches import cached_sampler, check_photo_batches, split_images, train_loader
from mobileiqa.train.data import ManifestImages
from mobileiqa.train.distributed import Dist
from mobileiqa.train.features_cache import (
    FEATURES_DIR,
    CachedLoader,
    backbone_digest,
    cache_split,
    head_parameters,
    predict_cached,
)
from mobileiqa.train.loop import LoopConfig, Trainer, caching_threads, select_device
from mobileiqa.train.losses import rank_loss, score_loss
from mobileiqa.train.optim import autocast_for, build_optimizer, build_scheduler, memory_format, param_groups
from mobileiqa.train.scoring import predict, split_metrics
from mobileiqa.train.settings import TrainConfig


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
    device = select_device(cfg.device, cfg.threads)
    d = distributed.init(device)
    dataset = PreparedDataset.load(dataset_dir)
    frame = read_manifest(dataset.manifest)
    train = split_images(dataset, frame, "train", cfg.resolution, cfg.crop, cfg.cache_images, norm=norm)
    if cfg.epochs:  # before a head phase spends minutes caching features
        check_photo_batches(train, cfg)
    return RunContext(cfg, distributed.device_for(d, device), d, dataset, train,
                      split_images(dataset, frame, "val", cfg.resolution, cache=cfg.cache_images, norm=norm),
                      Path(out_dir))


def training_extras(ctx: RunContext, head: HeadConfig):
    """Row labels of the training split and the fresh training-only heads, each ``None`` when off: the auxiliary
    head (``aux_weight`` > 0), the annotator head (``annotator_weight`` > 0 on a manifest with simulated
    annotators' scores) and the local map head (``local_map_weight`` > 0 on a dataset with local targets; the
    training images then also return each view's target). A dataset without annotator scores or local targets (a
    real MOS dataset) trains without those heads, with a warning, so the default recipe runs on every dataset."""
    cfg = ctx.cfg
    labels = BatchLabels(ctx.train_images.frame, need_distortions=cfg.aux_weight > 0,
                         source=str(ctx.dataset.manifest), need_annotators=cfg.annotator_weight > 0)
    aux = AuxHead(head.width, len(labels.type_names), labels.num_levels) if cfg.aux_weight else None
    annotators = None
    if labels.annotators is not None:
        annotators = AnnotatorHead(head.width, head.num_opinions, len(labels.annotator_names))
    elif cfg.annotator_weight:
        warnings.warn(f"{ctx.dataset.manifest}: no {ANNOTATOR_PREFIX}<name> score columns (a real MOS dataset), so "
                      f"annotator_weight {cfg.annotator_weight} is ignored: training without the annotator head "
                      "(set annotator_weight: 0 for this dataset to silence this)", stacklevel=2)
    local_map = None
    if cfg.local_map_weight:
        targets = LocalTargets.load(ctx.dataset.root)
        if targets is None:
            warnings.warn(f"{ctx.dataset.root}: no local targets (a real MOS dataset), so local_map_weight "
                          f"{cfg.local_map_weight} is ignored: training without the local map head (set "
                          "local_map_weight: 0 for this dataset to silence this)", stacklevel=2)
        else:
            ctx.train_images.with_local_targets(targets, head.grid)
            local_map = LocalMapHead(head.width)
    return labels, aux, annotators, local_map


def extra_terms(cfg: TrainConfig, score, mos, extras: AuxOutputs, labels, idx, local: tuple = ()) -> dict:
    """The recipe's weighted ranking and auxiliary loss terms (empty when their weights are 0); ``local`` is the
    batch's ``(targets, has_target)`` where the training images return local targets."""
    terms = {}
    if cfg.rank_weight:
        terms["loss_rank"] = cfg.rank_weight * rank_loss(score, mos, labels.photo[idx.cpu()])
    if cfg.aux_weight and extras.logits is not None:
        terms["loss_aux"] = cfg.aux_weight * aux_loss(extras.logits, labels, idx)
    if cfg.annotator_weight and extras.annotators is not None:
        terms["loss_annotators"] = cfg.annotator_weight * annotator_loss(extras.annotators, labels, idx)
    if cfg.local_map_weight and extras.local_map is not None and local:
        terms["loss_local_map"] = cfg.local_map_weight * local_map_loss(extras.local_map, *local)
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
                      eval_every=cfg.val_every, ema=cfg.ema)
    steps_per_epoch = -(-len(sampler) // cfg.accumulate)
    scheduler = build_scheduler(optimizer, cfg, steps_per_epoch)
    trainer = Trainer(net, optimizer, scheduler, loader, sampler, make_step(net), evaluate, loop,
                      ctx.out_dir / "checkpoints", logger if ctx.dist.main else None,
                      autocast_for(ctx.device, cfg))
    if not (resume and trainer.resume()) and head is not None:
        trainer.continue_from(head)  # epochs, history and best epoch of the head phase
    trainer.fit()
    return trainer


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
    with caching_threads(ctx.cfg.cache_threads):
        for split, images in (("train", ctx.train_images), ("val", ctx.val_images if val else None)):
            if images is None:
                out.append(None)
                continue
            whole = ManifestImages(images.frame, ctx.dataset.root, ctx.cfg.resolution, 0, False, model.normalisation)
            whole.share_decoded(images)  # decode each image once for both phases
            out.append(cache_split(model, whole, views if split == "train" else 1, folder, f"{tag}-{split}",
                                   {**key, "split": split}, batch, ctx.batch, also))
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
