"""Teacher training (PAPER.md, Training): supervised regression of the normalised MOS; the best epoch is chosen
on the validation split. Writes ``model.pt`` (the best epoch, mobileiqa checkpoint format), ``metrics.json`` and
``checkpoints/`` (``last.pt`` for ``--resume``, ``best.pt``).

Training-only extras (:mod:`~.auxiliary`): a head reading each simulated annotator's score from the opinion maps
(on in the default recipe) and, off by default, a within-photo ranking loss, a distortion type/level head and a
local quality map head on the dataset's local targets; ``model.pt`` holds the bare model. With ``head_epochs`` > 0
the head first trains alone on cached frozen-backbone features (:mod:`~.features_cache`), then ``epochs``
fine-tune the whole model.
"""

from __future__ import annotations

import os

from mobileiqa.models import create_model
from mobileiqa.models.registry import normalisation_for
from mobileiqa.train.auxiliary import TrainingNet
from mobileiqa.train.features_cache import check_cacheable
from mobileiqa.train.loop import Logger
from mobileiqa.train.losses import score_loss
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
from mobileiqa.train.settings import TrainConfig


def train_teacher(cfg: TrainConfig, dataset_dir: str | os.PathLike, out_dir: str | os.PathLike, model_name: str,
                  weights: str | None = None, logger: Logger | None = None, resume: bool = False) -> dict:
    ctx = open_run(cfg, dataset_dir, out_dir, normalisation_for(model_name, weights))
    model = create_model(model_name, pretrained=weights)
    labels, aux, annotators, local_map = training_extras(ctx, model.config)
    trainable = TrainingNet(model, aux=aux, frozen_bn=cfg.freeze_bn, annotators=annotators, local_map=local_map)

    def loss_terms(features, extras, y, idx, local=()):
        terms = {"loss_score": score_loss(features.score, y, cfg.loss)}
        terms.update(extra_terms(cfg, features.score, y, extras, labels, idx, local))
        terms["loss"] = sum(terms.values())
        return terms

    head = None
    if cfg.head_epochs:  # the head alone, on cached frozen-backbone features
        check_cacheable(model, model_name)
        train_split, val_split = cache_features(ctx, model, "teacher")

        def make_head_step(net):
            def step(batch):
                maps, y, idx = batch
                maps, y = [m.to(ctx.device) for m in maps], y.to(ctx.device)
                terms = loss_terms(*net.from_maps(maps), y, idx)
                return with_terms(terms, mixup_terms(cfg, model, maps, y))
            return step

        head = run_head_loop(ctx, trainable, make_head_step, model, train_split, val_split, logger, resume)

    def make_step(net):
        def step(batch):
            x, y, idx, *local = batch
            return loss_terms(*net(ctx.batch(x)), y.to(ctx.device), idx, local)
        return step

    frozen = freeze_blocks(model.backbone, cfg.freeze_blocks)
    trainable = to_device(trainable, ctx)
    trainer = run_loop(ctx, trainable, make_step, model, logger, resume, head)
    return close_run(ctx, trainer, model, model_name, {"weights": str(weights), "frozen_tensors": frozen},
                     prefix="model.")
