"""How a training run updates its weights: the optimiser, the end-to-end parameter groups (backbone at a scaled
lr), frozen backbone blocks, the lr schedule, bf16 autocast on CUDA and the channels-last memory layout."""

from __future__ import annotations

import contextlib

import torch
from torch import nn

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
    others once per epoch (see :attr:`~.loop.LoopConfig.step_scheduler`). Every schedule peaks at each parameter
    group's own lr (the backbone's ``lr * backbone_lr_scale``)."""
    if cfg.scheduler == "none":
        return None
    if cfg.scheduler == "onecycle":
        total = cfg.epochs * steps_per_epoch
        if total <= 2:  # too short for a cycle: constant lr
            return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
        # torch divides by (warmup·total − 1) — zero at exactly one warm-up step — so keep at least two
        pct = cfg.warmup if cfg.warmup * total > 1.5 else min(2.0 / total, 0.5)
        # one peak per group: a single max_lr would give every group the same one (until 2026-12-07 it did, so
        # backbone_lr_scale changed nothing under this schedule)
        peaks = [group["lr"] for group in optimizer.param_groups]
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=peaks, total_steps=total, pct_start=pct)
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.t_max or cfg.epochs)


def autocast_for(device: torch.device, cfg: TrainConfig):
    if device.type == "cuda" and cfg.bf16:
        return lambda: torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext


def memory_format(cfg: TrainConfig) -> torch.memory_format:
    """Channels-last when the recipe asks for it: oneDNN's depthwise and 1x1 convolutions run ~1.35x faster per
    training step on CPU in that layout (docs/TRAINING.md), and tensor cores want it on CUDA."""
    return torch.channels_last if cfg.channels_last else torch.contiguous_format
