"""Typed params.yaml sections of the training stages: ``train_teacher`` (a :class:`TrainConfig`) and
``distill_student`` (:class:`DistillConfig`); read through :mod:`mobileiqa.config`. Plain dataclasses (no torch).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field

from mobileiqa.explain_spec import ExplainConfig
from mobileiqa.preprocess import ResolutionPolicy


@dataclass(frozen=True)
class TrainConfig:
    """A training recipe: the ``train_teacher`` section, and ``distill_student.train``."""

    # defaults = the CPU recipe (docs/TRAINING.md): a short end-to-end fine-tune of a pretrained backbone on random
    # crops, backbone and head at the same lr, plain MSE
    epochs: int = 9
    batch_size: int = 32
    accumulate: int = 1  # gradient accumulation: optimiser step every N batches
    optimizer: str = "adamw"  # adam | adamw | sgd
    lr: float = 2e-3
    weight_decay: float = 1e-4
    scheduler: str = "onecycle"  # cosine (per epoch) | onecycle (per optimiser step) | none
    t_max: int = 0  # cosine period in epochs; 0 = epochs
    warmup: float = 0.1  # onecycle: fraction of the steps spent warming up to lr
    ema: float = 0.0  # > 0: an exponential moving average of the weights (this decay per step) is validated and kept
    loss: str = "mse"  # mse | mae
    flips: bool = True  # random horizontal + vertical flips
    crop: int = 128  # train on random crop x crop windows (native scale); 0 = whole images. Validation: whole
    crops_per_image: int = 1  # crop windows of each image per batch (needs crop and images_per_photo)
    images_per_photo: int = 0  # > 0: batches of batch_size // this photos x this many of their images (crop only)
    rank_weight: float = 0.0  # within-photo pairwise ranking loss (needs images_per_photo >= 2)
    aux_weight: float = 0.0  # training-only distortion type + level classification (synthetic data only)
    # training-only regression of each simulated annotator's score from the pooled opinion maps; only where the
    # manifest has their scores (synthetic data: real MOS datasets train without it). On by default: +0.03
    # mean held-out SRCC, in-distribution unchanged (docs/TRAINING.md, "Each simulated annotator")
    annotator_weight: float = 1.0
    # training-only regression of the dataset's local targets (the annotators' full-reference error maps on the
    # grid) from the fused map, on the trained features; only where the dataset has them (synthetic data)
    local_map_weight: float = 0.0
    cache_images: bool = True  # keep decoded train/val images in memory
    eval_batch_size: int = 16  # whole-image validation batches; 0 = batch_size
    val_every: int = 3  # end-to-end phase: validate after every N-th epoch of the run and the last (passes cost)
    seed: int = 0
    device: str = "auto"  # auto = cuda -> mps -> cpu
    threads: int = 0  # torch CPU threads; 0 = torch's default (one per core); 1 on a box shared with other jobs
    workers: int = 0  # DataLoader worker processes
    checkpoint_every_steps: int = 50  # 0 = only at the end of each epoch
    max_grad_norm: float = 0.0  # 0 = no clipping
    bf16: bool = True  # bf16 autocast on CUDA (ignored elsewhere)
    channels_last: bool = True  # channels-last memory format for model and batches (CUDA and CPU: ~1.35x on CPU)
    resolution: ResolutionPolicy = field(default_factory=ResolutionPolicy)
    # optional head phase before the end-to-end epochs (docs/TRAINING.md): the head alone on cached frozen-backbone
    # features (train.features_cache; needs a pool-first LDA). Off by default: it measured worse than end to end
    head_epochs: int = 0  # 0 = no head phase
    head_lr: float = 2e-3  # one-cycle peak lr of the head phase
    head_batch_size: int = 32
    head_mixup: float = 0.0  # head phase: + the score loss on a mixup of the batch (Beta(a, a) weights); 0 = off
    cache_threads: int = 0  # torch threads while caching backbone features; 0 = ``threads``
    # end-to-end phase: backbone lr = lr x this (the head keeps lr). 1.0: the one-cycle schedule ignored the scale
    # until 2026-12-07, so every recorded figure trained the backbone at the full lr (docs/TRAINING.md)
    backbone_lr_scale: float = 1.0
    freeze_bn: bool = False  # end-to-end phase: BatchNorm layers of the backbone keep their statistics (eval mode)
    freeze_blocks: int = -1  # end-to-end phase: stem + the first N backbone blocks get no gradient; -1 = none

    def __post_init__(self) -> None:
        if self.optimizer not in ("adam", "adamw", "sgd"):
            raise ValueError(f"optimizer must be adam, adamw or sgd, got {self.optimizer!r}")
        if self.scheduler not in ("cosine", "onecycle", "none"):
            raise ValueError(f"scheduler must be cosine, onecycle or none, got {self.scheduler!r}")
        if self.epochs < 0 or self.head_epochs < 0 or self.epochs + self.head_epochs < 1:
            raise ValueError(f"epochs ({self.epochs}) and head_epochs ({self.head_epochs}) must be >= 0 and not both 0")
        if self.batch_size < 1 or self.accumulate < 1 or self.crops_per_image < 1 or self.head_batch_size < 1:
            raise ValueError("batch_size, head_batch_size, accumulate and crops_per_image must be >= 1")
        if self.backbone_lr_scale < 0 or self.freeze_blocks < -1:
            raise ValueError("backbone_lr_scale must be >= 0 and freeze_blocks >= -1")
        if self.images_per_photo and not self.crop:
            raise ValueError("images_per_photo > 0 batches crops of one size: set crop too (e.g. 128)")
        if self.images_per_photo > self.batch_size:
            raise ValueError(f"images_per_photo {self.images_per_photo} exceeds batch_size {self.batch_size}")
        if self.crops_per_image > 1 and not self.images_per_photo:
            raise ValueError("crops_per_image > 1 needs images_per_photo > 0 (photo batches of crops)")
        if self.rank_weight and self.images_per_photo < 2:
            raise ValueError("rank_weight > 0 compares images of one photo: set images_per_photo >= 2")
        if self.val_every < 1:
            raise ValueError(f"val_every must be >= 1 (1 = validate after every epoch), got {self.val_every}")
        if self.head_mixup < 0:
            raise ValueError(f"head_mixup is a Beta concentration >= 0 (0 = off), got {self.head_mixup}")
        if not 0 < self.warmup < 1:
            raise ValueError(f"warmup must be in (0, 1), got {self.warmup}")
        if not 0 <= self.ema < 1:
            raise ValueError(f"ema is a decay per optimiser step in [0, 1) (0 = off), got {self.ema}")


# recipe fields added after results were recorded, each with its value that reproduces the training before it
# existed (which need not be today's default: ``annotator_weight`` was added off and turned on later)
OFF_VALUES: dict[str, object] = {"ema": 0.0, "annotator_weight": 0.0, "local_map_weight": 0.0}


def recipe_dict(cfg: TrainConfig, added: Iterable[str]) -> dict:
    """``cfg`` as a dict for result keys and digests, less the fields named in ``added`` (recipe fields added after
    those results were recorded) while they hold their :data:`OFF_VALUES`: there they change nothing, so the
    results recorded before the fields existed keep their keys."""
    unknown = set(added) - set(OFF_VALUES)
    if unknown:
        raise KeyError(f"recipe_dict: no OFF_VALUES entry for {sorted(unknown)} (add the value that changes nothing)")
    return {k: v for k, v in dataclasses.asdict(cfg).items() if not (k in added and v == OFF_VALUES[k])}


@dataclass(frozen=True)
class DistillWeights:
    """Weights of the distillation terms (PAPER.md, Training: 1:1:1, plus the teacher-score extension)."""

    lda: float = 1.0
    dof: float = 1.0
    score: float = 1.0
    teacher_score: float = 1.0  # extension: match the teacher's score too


@dataclass(frozen=True)
class ExplainTrainConfig:
    """``distill_student.explain``: the quality-map and opinion-spread heads (:mod:`mobileiqa.models.explain`),
    trained after distillation on the frozen student's detached features of ``views`` views per training image
    (whole images, or ``crop`` x ``crop`` windows, with the student recipe's flips, resolution, threads and device;
    :mod:`mobileiqa.train.explain`). The score is unchanged by them."""

    enabled: bool = True
    views: int = 1  # randomly flipped views of each training image, their features computed once
    crop: int = 0  # 0 = whole images, as the heads see them at inference (the spread of 128-px crops read 0.10
    #                SRCC on whole test images, whole-image views 0.34; docs/TRAINING.md); > 0 = random windows
    epochs: int = 30  # one-cycle epochs over the cached views (the heads alone: seconds each)
    lr: float = 1e-3  # one-cycle peak lr
    batch_size: int = 32
    hidden: int = ExplainConfig.hidden  # channels of the map head, width of the spread head
    fine: int = ExplainConfig.fine  # the map head mixes cells on a finer grid, trained on targets of that grid
    #                (2x: test map Spearman 0.551 -> 0.570 over 3 students, benchmarks/explain_heads.py; TRAINING.md)
    map_members: int = ExplainConfig.map_members  # map heads side by side, each trained, their maps averaged
    stage_means: bool = ExplainConfig.stage_means  # the spread head also reads each stage channel's spatial mean
    corr_stages: tuple[int, ...] = ExplainConfig.corr_stages  # ... and the channel correlations of these stages
    spread_dropout: float = ExplainConfig.spread_dropout  # dropout on the spread head's inputs while training
    spread_weight_decay: float = 0.1  # AdamW weight decay of the spread head (the map head: the recipe's)
    map_weight: float = 1.0  # quality map: MSE + (1 - the per-image Pearson correlation; the within-image order)
    map_ranks: bool = True  # ... the correlation with the target cells' ranks in their image (what Spearman scores)
    spread_weight: float = 1.0  # spread: pairwise ranking loss against mos_std (losses.spread_loss); scale fitted after
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("views", "epochs", "batch_size", "hidden", "fine", "map_members"):
            if getattr(self, name) < 1:
                raise ValueError(f"distill_student.explain.{name} must be >= 1, got {getattr(self, name)}")
        if self.crop < 0:
            raise ValueError(f"distill_student.explain.crop must be 0 (whole images) or > 0, got {self.crop}")
        if self.spread_weight_decay < 0:
            raise ValueError("distill_student.explain.spread_weight_decay must be >= 0, got "
                             f"{self.spread_weight_decay}")
        if self.lr <= 0 or self.map_weight < 0 or self.spread_weight < 0 or not self.map_weight + self.spread_weight:
            raise ValueError("distill_student.explain: lr must be > 0 and map_weight/spread_weight >= 0, not both 0; "
                             f"got lr={self.lr}, map_weight={self.map_weight}, spread_weight={self.spread_weight}")
        self.heads()  # the heads' own checks (corr_stages, spread_dropout); the loader prefixes this section's key

    def heads(self) -> ExplainConfig:
        """The :class:`ExplainConfig` of the heads this recipe trains."""
        return ExplainConfig(hidden=self.hidden, fine=self.fine, map_members=self.map_members,
                             stage_means=self.stage_means,
                             corr_stages=self.corr_stages, spread_dropout=self.spread_dropout)


@dataclass(frozen=True)
class DistillConfig:
    """The ``distill_student`` section: the distillation weights, the student's recipe and its start."""

    weights: DistillWeights = field(default_factory=DistillWeights)
    train: TrainConfig = field(default_factory=TrainConfig)  # the student's recipe
    # start the student from the teacher's weights wherever names and shapes match (same backbone and head
    # sizes); the score head only when both score on the same scale. From-scratch CPU recipe: the student then
    # continues where the teacher stopped instead of starting from noise (docs/TRAINING.md)
    init_from_teacher: bool = True
    explain: ExplainTrainConfig = field(default_factory=ExplainTrainConfig)
