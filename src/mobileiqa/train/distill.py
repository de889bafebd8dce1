"""MAL distillation (PAPER.md, Training): the frozen teacher's LDA maps, opinion features and the MOS teach the
student, ``w_lda * MSE(LDA) + w_dof * MSE(DOF) + w_score * MSE(score, MOS)`` (1:1:1), optionally plus the
teacher's score. A :class:`~.adapters.FeatureAdapter` bridges different head shapes during training only;
``model.pt`` holds the student alone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from mobileiqa.data.prepare import PreparedDataset
from mobileiqa.models import create_model
from mobileiqa.models.checkpoint import load_model
from mobileiqa.train import distributed
from mobileiqa.train.adapters import FeatureAdapter
from mobileiqa.train.loop import Logger, LoopConfig, Trainer
from mobileiqa.train.losses import DistillWeights, distill_terms
from mobileiqa.train.recipe import (
    TrainConfig,
    autocast_for,
    build_optimizer,
    build_scheduler,
    predict,
    split_images,
    split_metrics,
    train_loader,
)
from mobileiqa.train.teacher import finish, setup_torch


@dataclass(frozen=True)
class DistillConfig:
    weights: DistillWeights = field(default_factory=DistillWeights)
    train: TrainConfig = field(default_factory=TrainConfig)


def distill_student(cfg: DistillConfig, dataset_dir: str | os.PathLike, teacher_path: str | os.PathLike,
                    out_dir: str | os.PathLike, model_name: str, weights: str | None = None,
                    logger: Logger | None = None, resume: bool = False) -> dict:
    tcfg, out_dir = cfg.train, Path(out_dir)
    device = setup_torch(tcfg)
    d = distributed.init(device)
    device = distributed.device_for(d, device)
    dataset = PreparedDataset.load(dataset_dir)
    train_images = split_images(dataset, "train", tcfg.resolution)
    val_images = split_images(dataset, "val", tcfg.resolution)
    teacher, _ = load_model(teacher_path)
    teacher = teacher.to(device).eval().requires_grad_(False)
    student = create_model(model_name, pretrained=weights).to(device)
    adapter = FeatureAdapter(student.config, teacher.config) if FeatureAdapter.needed(student.config,
                                                                                      teacher.config) else None
    trainable = DistilledStudent(student, adapter).to(device)
    if device.type == "cuda" and tcfg.channels_last:
        trainable = trainable.to(memory_format=torch.channels_last)
    net = distributed.wrap(trainable, d, device)
    optimizer = build_optimizer(trainable.parameters(), tcfg)
    scheduler = build_scheduler(optimizer, tcfg)
    loader, sampler = train_loader(train_images, tcfg, d.rank, d.world_size)

    def step(batch):
        x, y, _ = batch
        x, y = x.to(device), y.to(device)
        with torch.no_grad():
            t = teacher.features(x)
        return distill_terms(net(x), t, y, cfg.weights, tcfg.loss)

    def evaluate():
        return split_metrics(predict(student, val_images, tcfg.batch_size, device), val_images.mos.numpy(), "val")

    loop = LoopConfig(epochs=tcfg.epochs, accumulate=tcfg.accumulate, max_grad_norm=tcfg.max_grad_norm or None,
                      checkpoint_every_steps=tcfg.checkpoint_every_steps)
    trainer = Trainer(net, optimizer, scheduler, loader, sampler, step, evaluate, loop,
                      out_dir / "checkpoints", logger if d.main else None, autocast_for(device, tcfg))
    if resume:
        trainer.resume()
    trainer.fit()
    metrics = finish(trainer, student, model_name, out_dir, dataset, tcfg,
                     {"teacher": str(teacher_path), "distill_weights": vars(cfg.weights)}, prefix="student.") \
        if d.main else {}
    distributed.barrier()
    return metrics


class DistilledStudent(nn.Module):
    """The student plus its training-only adapter; ``forward`` returns adapted distillation features (a
    module forward, so DistributedDataParallel can synchronise its gradients)."""

    def __init__(self, student: nn.Module, adapter: FeatureAdapter | None) -> None:
        super().__init__()
        self.student, self.adapter = student, adapter

    def forward(self, x: torch.Tensor):
        f = self.student.features(x)
        return self.adapter(f) if self.adapter is not None else f
