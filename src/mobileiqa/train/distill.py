"""MAL distillation (PAPER.md, Training): the frozen teacher's LDA maps, opinion features and the MOS teach the
student, ``w_lda * MSE(LDA) + w_dof * MSE(DOF) + w_score * MSE(score, MOS)`` (1:1:1), optionally plus the
teacher's score. A :class:`~.adapters.FeatureAdapter` bridges different head shapes during training only;
``model.pt`` holds the student alone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
from torch import nn

from mobileiqa.models import create_model
from mobileiqa.models.checkpoint import load_model
from mobileiqa.train.adapters import FeatureAdapter
from mobileiqa.train.loop import Logger
from mobileiqa.train.losses import DistillWeights, distill_terms
from mobileiqa.train.recipe import TrainConfig, close_run, open_run, run_loop, to_device


@dataclass(frozen=True)
class DistillConfig:
    weights: DistillWeights = field(default_factory=DistillWeights)
    train: TrainConfig = field(default_factory=TrainConfig)


def distill_student(cfg: DistillConfig, dataset_dir: str | os.PathLike, teacher_path: str | os.PathLike,
                    out_dir: str | os.PathLike, model_name: str, weights: str | None = None,
                    logger: Logger | None = None, resume: bool = False) -> dict:
    ctx = open_run(cfg.train, dataset_dir, out_dir)
    teacher, _ = load_model(teacher_path)
    teacher = teacher.to(ctx.device).eval().requires_grad_(False)
    student = create_model(model_name, pretrained=weights)
    adapter = FeatureAdapter(student.config, teacher.config) if FeatureAdapter.needed(student.config,
                                                                                      teacher.config) else None
    trainable = to_device(DistilledStudent(student, adapter), ctx)

    def make_step(net):
        def step(batch):
            x, y, _ = batch
            x, y = x.to(ctx.device), y.to(ctx.device)
            with torch.no_grad():
                t = teacher.features(x)
            return distill_terms(net(x), t, y, cfg.weights, cfg.train.loss)
        return step

    trainer = run_loop(ctx, trainable, make_step, student, logger, resume)
    meta = {"teacher": str(teacher_path), "distill_weights": vars(cfg.weights)}
    return close_run(ctx, trainer, student, model_name, meta, prefix="student.")


class DistilledStudent(nn.Module):
    """The student plus its training-only adapter; ``forward`` returns adapted distillation features (a
    module forward, so DistributedDataParallel can synchronise its gradients)."""

    def __init__(self, student: nn.Module, adapter: FeatureAdapter | None) -> None:
        super().__init__()
        self.student, self.adapter = student, adapter

    def forward(self, x: torch.Tensor):
        f = self.student.features(x)
        return self.adapter(f) if self.adapter is not None else f
