"""Teacher training (PAPER.md, Training): supervised regression of the normalised MOS; the best epoch is chosen
on the validation split. Writes ``model.pt`` (the best epoch, mobileiqa checkpoint format), ``metrics.json`` and
``checkpoints/`` (``last.pt`` for ``--resume``, ``best.pt``).

The from-scratch CPU recipe adds, during training only, a within-photo ranking loss and a distortion type/level
head (:mod:`~.auxiliary`); ``model.pt`` holds the bare model.
"""

from __future__ import annotations

import os

from mobileiqa.models import create_model
from mobileiqa.train.auxiliary import TrainingNet
from mobileiqa.train.loop import Logger
from mobileiqa.train.losses import score_loss
from mobileiqa.train.recipe import TrainConfig, close_run, extra_terms, open_run, run_loop, to_device, training_extras


def train_teacher(cfg: TrainConfig, dataset_dir: str | os.PathLike, out_dir: str | os.PathLike, model_name: str,
                  weights: str | None = None, logger: Logger | None = None, resume: bool = False) -> dict:
    ctx = open_run(cfg, dataset_dir, out_dir)
    model = create_model(model_name, pretrained=weights)
    labels, aux = training_extras(ctx, model.config.width)
    trainable = to_device(TrainingNet(model, aux=aux), ctx)

    def make_step(net):
        def step(batch):
            x, y, idx = batch
            y = y.to(ctx.device)
            features, logits = net(ctx.batch(x))
            terms = {"loss_score": score_loss(features.score, y, cfg.loss)}
            terms.update(extra_terms(cfg, features.score, y, logits, labels, idx))
            terms["loss"] = sum(terms.values())
            return terms
        return step

    trainer = run_loop(ctx, trainable, make_step, model, logger, resume)
    return close_run(ctx, trainer, model, model_name, prefix="model.")
