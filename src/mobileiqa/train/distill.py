"""MAL distillation (PAPER.md, Training): the frozen teacher's LDA maps, opinion features and the MOS teach the
student, ``w_lda * MSE(LDA) + w_dof * MSE(DOF) + w_score * MSE(score, MOS)`` (1:1:1), optionally plus the
teacher's score. A :class:`~.adapters.FeatureAdapter` bridges different head shapes during training only;
``model.pt`` holds the student alone. The recipe's ranking and auxiliary terms (:mod:`~.auxiliary`) apply here
too; with crop training the frozen teacher runs on the same crops.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field

import torch
from torch import nn

from mobileiqa.models import create_model
from mobileiqa.models.checkpoint import load_model
from mobileiqa.train.adapters import FeatureAdapter
from mobileiqa.train.auxiliary import TrainingNet
from mobileiqa.train.loop import Logger
from mobileiqa.train.losses import DistillWeights, distill_terms
from mobileiqa.train.recipe import TrainConfig, close_run, extra_terms, open_run, run_loop, to_device, training_extras


@dataclass(frozen=True)
class DistillConfig:
    weights: DistillWeights = field(default_factory=DistillWeights)
    train: TrainConfig = field(default_factory=TrainConfig)
    # start the student from the teacher's weights wherever names and shapes match (same backbone and head
    # sizes); the score head only when both score on the same scale. From-scratch CPU recipe: the student then
    # continues where the teacher stopped instead of starting from noise (docs/TRAINING.md)
    init_from_teacher: bool = True


def init_from_teacher(student: nn.Module, teacher: nn.Module) -> list[str]:
    """Copy into ``student`` every teacher tensor of the same name and shape (the score head only when both
    models score on the same scale); returns the names copied (a warning when none match: the student then
    starts from its own initialisation)."""
    skip_head = getattr(student, "scale", None) != getattr(teacher, "scale", None)
    source = teacher.state_dict()
    copied = {k: v for k, v in student.state_dict().items()
              if k in source and source[k].shape == v.shape and not (skip_head and k.startswith("head."))}
    if not copied:
        warnings.warn("distill_student.init_from_teacher: the student shares no tensor of the same name and shape "
                      "with the teacher, so it starts from its own initialisation (set init_from_teacher: false to "
                      "silence this)", stacklevel=2)
        return []
    student.load_state_dict({k: source[k] for k in copied}, strict=False)
    return sorted(copied)


def distill_student(cfg: DistillConfig, dataset_dir: str | os.PathLike, teacher_path: str | os.PathLike,
                    out_dir: str | os.PathLike, model_name: str, weights: str | None = None,
                    logger: Logger | None = None, resume: bool = False) -> dict:
    ctx = open_run(cfg.train, dataset_dir, out_dir)
    teacher, _ = load_model(teacher_path)
    teacher = to_device(teacher, ctx).eval().requires_grad_(False)
    student = create_model(model_name, pretrained=weights)
    copied = init_from_teacher(student, teacher) if cfg.init_from_teacher else []
    adapter = FeatureAdapter(student.config, teacher.config) if FeatureAdapter.needed(student.config,
                                                                                      teacher.config) else None
    labels, aux = training_extras(ctx, student.config.width)
    trainable = to_device(TrainingNet(student, adapter, aux), ctx)

    def make_step(net):
        def step(batch):
            x, y, idx = batch
            x, y = ctx.batch(x), y.to(ctx.device)
            with torch.no_grad():
                t = teacher.features(x)
            features, logits = net(x)
            terms = distill_terms(features, t, y, cfg.weights, cfg.train.loss)
            extra = extra_terms(cfg.train, features.score, y, logits, labels, idx)
            terms.update(extra)
            terms["loss"] = terms["loss"] + sum(extra.values())
            return terms
        return step

    trainer = run_loop(ctx, trainable, make_step, student, logger, resume)
    meta = {"teacher": str(teacher_path), "distill_weights": vars(cfg.weights), "init_from_teacher": len(copied)}
    return close_run(ctx, trainer, student, model_name, meta, prefix="model.")
