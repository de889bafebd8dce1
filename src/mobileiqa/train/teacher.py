"""Teacher training (PAPER.md, Training): supervised regression of the normalised MOS; the best epoch is chosen
on the validation split. Writes ``model.pt`` (the best epoch, mobileiqa checkpoint format), ``metrics.json`` and
``checkpoints/`` (``last.pt`` for ``--resume``, ``best.pt``).
"""

from __future__ import annotations

import os

from mobileiqa.models import create_model
from mobileiqa.train.loop import Logger
from mobileiqa.train.losses import score_loss
from mobileiqa.train.recipe import TrainConfig, close_run, open_run, run_loop, to_device


def train_teacher(cfg: TrainConfig, dataset_dir: str | os.PathLike, out_dir: str | os.PathLike, model_name: str,
                  weights: str | None = None, logger: Logger | None = None, resume: bool = False) -> dict:
    ctx = open_run(cfg, dataset_dir, out_dir)
    model = to_device(create_model(model_name, pretrained=weights), ctx)

    def make_step(net):
        def step(batch):
            x, y, _ = batch
            return {"loss": score_loss(net(x.to(ctx.device)), y.to(ctx.device), cfg.loss)}
        return step

    trainer = run_loop(ctx, model, make_step, model, logger, resume)
    return close_run(ctx, trainer, model, model_name)
