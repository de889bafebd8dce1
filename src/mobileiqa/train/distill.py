"""MAL distillation (PAPER.md, Training): the frozen teacher's LDA maps, opinion features and the MOS teach the
student, ``w_lda * MSE(LDA) + w_dof * MSE(DOF) + w_score * MSE(score, MOS)`` (1:1:1), optionally plus the
teacher's score. A :class:`~.adapters.FeatureAdapter` bridges different head shapes during training only;
``model.pt`` holds the student alone. The recipe's ranking and auxiliary terms (:mod:`~.auxiliary`) apply here
too; with crop training the frozen teacher runs on the same crops, re-normalised to its own statistics when they
differ from the student's. With ``head_epochs`` > 0 the student's head first learns alone from cached student
maps and the teacher's cached features (:mod:`~.features_cache`); ``epochs`` then distil end to end. Then, with
``explain.enabled``, the saved student gets its quality-map and spread heads (:mod:`~.explain`), trained on its
frozen features: ``model.pt`` gains their tensors, the score's stay as distilled.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
from torch import nn

from mobileiqa.atomic import write_json
from mobileiqa.models import create_model, get_spec
from mobileiqa.models.checkpoint import load_model
from mobileiqa.models.registry import normalisation_for
from mobileiqa.train.auxiliary import TrainingNet
from mobileiqa.train.explain import train_explain_heads
from mobileiqa.train.feature_adapter import FeatureAdapter
from mobileiqa.train.features_cache import check_cacheable, teacher_features
from mobileiqa.train.loop import Logger, PrefixLogger
from mobileiqa.train.losses import distill_terms
from mobileiqa.train.optim import freeze_blocks
from mobileiqa.train.run import (
    cache_features,
    close_run,
    extra_terms,
    mixup_terms,
    open_run,
    run_head_loop,
    run_loop,
    to_device,
    training_extras,
    with_terms,
)
from mobileiqa.train.settings import DistillConfig


def init_from_teacher(student: nn.Module, teacher: nn.Module, same_backbone: bool) -> list[str]:
    """Copy into ``student`` every teacher tensor of the same name and shape, with two exceptions: backbone
    tensors only when both use the same backbone architecture (``same_backbone``; otherwise names and shapes can
    coincide by accident — a Lite2 teacher and a Lite0 student share 55 stem/block tensors — and copying them would
    overwrite the student's own, e.g. pretrained, backbone), and the score head only when both models score on the
    same scale. Returns the names copied (a warning when none match: the student keeps its own initialisation)."""
    skip_head = getattr(student, "scale", None) != getattr(teacher, "scale", None)
    source = teacher.state_dict()
    copied = {k: v for k, v in student.state_dict().items()
              if k in source and source[k].shape == v.shape and not (skip_head and k.startswith("head."))
              and (same_backbone or not k.startswith("backbone."))}
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
    tc = cfg.train
    ctx = open_run(tc, dataset_dir, out_dir, normalisation_for(model_name, weights))
    teacher, teacher_ckpt = load_model(teacher_path)
    teacher = to_device(teacher, ctx).eval().requires_grad_(False)
    student = create_model(model_name, pretrained=weights)
    same_backbone = get_spec(teacher_ckpt["model"]).backbone == get_spec(model_name).backbone
    copied = init_from_teacher(student, teacher, same_backbone) if cfg.init_from_teacher else []
    adapter = FeatureAdapter(student.config, teacher.config) if FeatureAdapter.needed(student.config,
                                                                                      teacher.config) else None
    labels, aux, annotators, local_map = training_extras(ctx, student.config)
    trainable = TrainingNet(student, adapter, aux, frozen_bn=tc.freeze_bn, annotators=annotators,
                            local_map=local_map)
    a, b = (torch.from_numpy(v).view(1, 3, 1, 1) for v in student.normalisation.affine_to(teacher.normalisation))
    renormalise = student.normalisation != teacher.normalisation  # the teacher sees its own normalisation

    def loss_terms(features, extras, t, y, idx, local=()):
        return with_terms(distill_terms(features, t, y, cfg.weights, tc.loss),
                          extra_terms(tc, features.score, y, extras, labels, idx, local))

    head = None
    if tc.head_epochs:  # the student's head alone, on cached student maps and cached teacher features
        check_cacheable(student, model_name)
        check_cacheable(teacher, teacher_ckpt["model"])
        train_split, val_split = cache_features(ctx, student, "student")
        # the teacher stage's own cache holds these maps when its backbone stayed frozen
        teacher_split, _ = cache_features(ctx, teacher, "teacher", val=False, also=(Path(teacher_path).parent,))
        train_split.teacher = teacher_features(teacher, teacher_split)
        del teacher_split

        def make_head_step(net):
            def step(batch):
                maps, t, y, idx = batch
                maps, y = [m.to(ctx.device) for m in maps], y.to(ctx.device)
                features, extras = net.from_maps(maps)
                terms = loss_terms(features, extras, t.to(ctx.device), y, idx)
                return with_terms(terms, mixup_terms(tc, student, maps, y))
            return step

        head = run_head_loop(ctx, trainable, make_head_step, student, train_split, val_split, logger, resume)

    def make_step(net):
        def step(batch):
            x, y, idx, *local = batch
            x, y = ctx.batch(x), y.to(ctx.device)
            with torch.no_grad():
                t = teacher.features(x * a.to(x) + b.to(x) if renormalise else x)
            features, extras = net(x)
            return loss_terms(features, extras, t, y, idx, local)
        return step

    frozen = freeze_blocks(student.backbone, tc.freeze_blocks)
    trainable = to_device(trainable, ctx)
    trainer = run_loop(ctx, trainable, make_step, student, logger, resume, head)
    meta = {"teacher": str(teacher_path), "distill_weights": vars(cfg.weights), "init_from_teacher": len(copied),
            "weights": str(weights), "frozen_tensors": frozen}
    metrics = close_run(ctx, trainer, student, model_name, meta, prefix="model.")
    if cfg.explain.enabled and ctx.dist.main:  # the heads read the saved student, frozen: its score stays as is
        metrics["explain"] = train_explain_heads(ctx.out_dir / "model.pt", dataset_dir, tc, cfg.explain, ctx.out_dir,
                                                 PrefixLogger(logger, "explain_"), resume)
        write_json(ctx.out_dir / "metrics.json", metrics)
    return metrics
