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
    dataset = PreparedDataset.load(dataset_dir)
    train_images = split_images(dataset, "train", tcfg.resolution)
    val_images = split_images(dataset, "val", tcfg.resolution)
    teacher, _ = load_model(teacher_path)
    teacher = teacher.to(device).eval().requires_grad_(False)
    student = create_model(model_name, pretrained=weights).to(device)
    adapter = FeatureAdapter(student.config, teacher.config) if FeatureAdapter.needed(student.config,
                                                                                      teacher.config) else None
    trainable = nn.ModuleDict({"student": student, **({"adapter": adapter.to(device)} if adapter else {})})
    if device.type == "cuda" and tcfg.channels_last:
        trainable = trainable.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(trainable.parameters(), tcfg)
    scheduler = build_scheduler(optimizer, tcfg)
    loader, sampler = train_loader(train_images, tcfg)

    def step(batch):
        x, y, _ = batch
        x, y = x.to(device), y.to(device)
        with torch.no_grad():
            t = teacher.features(x)
        s = student.features(x)
        return distill_terms(adapter(s) if adapter else s, t, y, cfg.weights, tcfg.loss)

    def evaluate():
        return split_metrics(predict(student, val_images, tcfg.batch_size, device), val_images.mos.numpy(), "val")

    loop = LoopConfig(epochs=tcfg.epochs, accumulate=tcfg.accumulate, max_grad_norm=tcfg.max_grad_norm or None,
                      checkpoint_every_steps=tcfg.checkpoint_every_steps)
    trainer = Trainer(trainable, optimizer, scheduler, loader, sampler, step, evaluate, loop,
                      out_dir / "checkpoints", logger, autocast_for(device, tcfg))
    if resume:
        trainer.resume()
    trainer.fit()
    return finish(trainer, student, model_name, out_dir, dataset, tcfg,
                  {"teacher": str(teacher_path), "distill_weights": vars(cfg.weights)}, prefix="student.")
