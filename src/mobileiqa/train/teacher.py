"""Teacher training (PAPER.md, Training): supervised regression of the normalised MOS; the best epoch is chosen
on the validation split. Writes ``model.pt`` (the best epoch, mobileiqa checkpoint format), ``metrics.json`` and
``checkpoints/`` (``last.pt`` for ``--resume``, ``best.pt``).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from mobileiqa.data.prepare import PreparedDataset
from mobileiqa.models import create_model
from mobileiqa.models.checkpoint import save_model
from mobileiqa.train import distributed
from mobileiqa.train.loop import Logger, LoopConfig, Trainer, select_device
from mobileiqa.train.losses import score_loss
from mobileiqa.train.recipe import (
    TrainConfig,
    autocast_for,
    build_optimizer,
    build_scheduler,
    git_commit,
    predict,
    split_images,
    split_metrics,
    train_loader,
    write_metrics,
)


def setup_torch(cfg: TrainConfig) -> torch.device:
    torch.manual_seed(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    return select_device(cfg.device)


def best_state(trainer: Trainer, prefix: str = "") -> dict:
    """The best epoch's weights (only the keys under ``prefix``, with it removed)."""
    state = torch.load(trainer.best_path, map_location="cpu", weights_only=True)["model"]
    return {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}


def finish(trainer: Trainer, model, name: str, out_dir: Path, dataset: PreparedDataset, cfg: TrainConfig,
           extra_meta: dict | None = None, prefix: str = "") -> dict:
    """Reload the best epoch into ``model``, save it as ``model.pt`` and write ``metrics.json``."""
    model.load_state_dict(best_state(trainer, prefix))
    meta = {"dataset_sha256": dataset.manifest_sha256, "git_commit": git_commit(),
            "best_epoch": trainer.state.best_epoch, "resolution": cfg.resolution.to_dict(), **(extra_meta or {})}
    save_model(model.cpu(), name, out_dir / "model.pt", meta=meta)
    best_row = trainer.history[trainer.state.best_epoch]
    metrics = {"best_epoch": trainer.state.best_epoch,
               **{k: v for k, v in best_row.items() if k.startswith("val_")}, "history": trainer.history}
    write_metrics(out_dir / "metrics.json", metrics)
    return metrics


def train_teacher(cfg: TrainConfig, dataset_dir: str | os.PathLike, out_dir: str | os.PathLike, model_name: str,
                  weights: str | None = None, logger: Logger | None = None, resume: bool = False) -> dict:
    out_dir = Path(out_dir)
    device = setup_torch(cfg)
    d = distributed.init(device)
    device = distributed.device_for(d, device)
    dataset = PreparedDataset.load(dataset_dir)
    train_images = split_images(dataset, "train", cfg.resolution)
    val_images = split_images(dataset, "val", cfg.resolution)
    model = create_model(model_name, pretrained=weights).to(device)
    if device.type == "cuda" and cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    net = distributed.wrap(model, d, device)
    optimizer = build_optimizer(model.parameters(), cfg)
    scheduler = build_scheduler(optimizer, cfg)
    loader, sampler = train_loader(train_images, cfg, d.rank, d.world_size)

    def step(batch):
        x, y, _ = batch
        return {"loss": score_loss(net(x.to(device)), y.to(device), cfg.loss)}

    def evaluate():
        return split_metrics(predict(model, val_images, cfg.batch_size, device), val_images.mos.numpy(), "val")

    loop = LoopConfig(epochs=cfg.epochs, accumulate=cfg.accumulate, max_grad_norm=cfg.max_grad_norm or None,
                      checkpoint_every_steps=cfg.checkpoint_every_steps)
    trainer = Trainer(net, optimizer, scheduler, loader, sampler, step, evaluate, loop, out_dir / "checkpoints",
                      logger if d.main else None, autocast_for(device, cfg))
    if resume:
        trainer.resume()
    trainer.fit()
    metrics = finish(trainer, model, model_name, out_dir, dataset, cfg) if d.main else {}
    distributed.barrier()
    return metrics
