"""Training the explanation heads (:mod:`mobileiqa.models.explain`) of a finished model: the quality map on the
dataset's local targets (:mod:`mobileiqa.data.local_targets`, cropped and flipped with each training view) and
the opinion spread on ``mos_std`` (a ranking loss trains its order; its scale is fitted on the training views after).

The model is frozen (eval mode, no gradient) and the heads read its detached features, so every other weight and
the score stay bit-identical; only ``explain_heads.*`` tensors are added to ``model.pt``. Since the frozen model is
deterministic, its features are computed once: ``explain.views`` randomly flipped views of every training image
(whole images by default, as the heads see them at inference, or ``explain.crop`` windows; targets cut and flipped
alike), cached in ``checkpoints/explain/views.pt`` (the map head's inputs in half precision); the heads then train
``explain.epochs`` one-cycle epochs over the cache (checkpointed there too: resumable). Validation uses
whole val images, also computed once: the mean per-image Spearman between predicted and target maps
(``val_map_srcc``) and the SRCC of the spread against ``mos_std`` (``val_spread_srcc``); the best epoch has the
highest mean of the two.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.stats import spearmanr
from torch import Tensor
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from mobileiqa.data.local_targets import LocalTargets
from mobileiqa.data.manifest import PreparedDataset, read_manifest
from mobileiqa.eval.metrics.spatial import map_spearman
from mobileiqa.models.checkpoint import atomic_torch_save, load_model, save_model
from mobileiqa.models.explain import ExplainHeads, coarse_map
from mobileiqa.models.iqa_net import IQANet
from mobileiqa.preprocess import normalise
from mobileiqa.train.batches import split_images
from mobileiqa.train.data import ManifestImages, SizeBatchSampler, view_target
from mobileiqa.train.loop import Logger, LoopConfig, Trainer, caching_threads, select_device
from mobileiqa.train.losses import map_loss, spread_loss
from mobileiqa.train.optim import build_optimizer, build_scheduler, memory_format
from mobileiqa.train.settings import ExplainTrainConfig, TrainConfig

CHECKPOINTS = "explain"


class ExplainImages(Dataset):
    """``images``' views with their targets: ``(image, map (G, G), has_map, std, index)``; ``has_map`` is 0 (and the
    map zeros) for rows without a local target, ``std`` NaN without ``mos_std``."""

    def __init__(self, images: ManifestImages, targets: LocalTargets | None, grid: int) -> None:
        self.images, self.targets, self.grid = images, targets, grid
        frame = images.frame
        self.ids = frame["image_id"].astype(str).tolist()
        std = frame["mos_std"] if "mos_std" in frame else pd.Series(np.nan, index=frame.index)
        self.std = torch.tensor(pd.to_numeric(std, errors="coerce").to_numpy(np.float32))

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, item):
        arr, v = self.images.view(item)
        x = torch.from_numpy(normalise(arr, self.images.normalisation))
        target, has = view_target(self.targets, self.ids[v.index], v, self.grid)
        return x, target, has, self.std[v.index], v.index


def collate_explain(batch):
    x, maps, has, std, idx = zip(*batch, strict=True)
    return torch.stack(x), torch.stack(maps), torch.tensor(has), torch.stack(std), torch.tensor(idx)


def explain_terms(member_maps: Tensor, spread_order: Tensor, target_map: Tensor, has_map: Tensor, std: Tensor,
                  cfg: ExplainTrainConfig, std_variance: float, fine: int) -> dict[str, Tensor]:
    """The weighted map and spread terms of a batch (a term is left out when the batch has no target for it). The
    map term compares each member's map ``(B, M, kG, kG)`` on its ``fine`` times finer grid (the heads'
    ``config.fine``; :meth:`ExplainHeads.member_maps_from`) with the target of that grid, and their means on the
    model's grid (what the head outputs), averaged over the members (each is trained on the targets on its own, not
    only their mean); the spread term ranks the spread head's order score (:meth:`ExplainHeads.spread_order`)."""
    terms = {}
    if cfg.map_weight and bool(has_map.any()):
        pred, target = member_maps[has_map], target_map[has_map]  # (B', M, kG, kG) against (B', kG, kG)
        loss = map_loss(pred, target, cfg.map_ranks)
        if fine > 1:
            coarse = coarse_map(pred.flatten(0, 1), fine).unflatten(0, pred.shape[:2])
            loss = loss + map_loss(coarse, coarse_map(target, fine), cfg.map_ranks)
        terms["loss_map"] = cfg.map_weight * loss
    known = torch.isfinite(std)
    if cfg.spread_weight and bool(known.any()):
        terms["loss_spread"] = cfg.spread_weight * spread_loss(spread_order[known], std[known], std_variance)
    terms["loss"] = sum(terms.values()) if terms else member_maps.sum() * 0.0
    return terms


def head_param_groups(heads: ExplainHeads, cfg: ExplainTrainConfig) -> list[dict]:
    """The heads' optimiser groups: the map head at the recipe's weight decay, the spread head at
    ``cfg.spread_weight_decay`` (its inputs number in the thousands for ~2,000 training images: it overfits)."""
    groups = {True: [], False: []}
    for name, p in heads.named_parameters():
        groups[name.startswith("spread_")].append(p)
    return [{"params": groups[False]}, {"params": groups[True], "weight_decay": cfg.spread_weight_decay}]


def _frozen_digest(model: IQANet) -> str:
    """A digest of every tensor of ``model`` but its explanation heads (what the cached features depend on)."""
    h = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        if not name.startswith("explain_heads."):
            h.update(name.encode())
            h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


class _Batches:
    """Shuffled batches of cached rows (``inputs`` of the heads and their targets), in the order of a
    :class:`SizeBatchSampler` (seeded per epoch, resumable mid-epoch)."""

    def __init__(self, cache: dict, sampler: SizeBatchSampler) -> None:
        self.cache, self.sampler = cache, sampler

    def __iter__(self):
        for items in self.sampler:
            index = torch.tensor([int(i[0]) for i in items])
            yield tuple(self.cache[k][index] for k in ("map_in", "spread_in", "map", "has_map", "std"))

    def __len__(self) -> int:
        return len(self.sampler)


@torch.no_grad()
def _cache(model: IQANet, data: ExplainImages, sampler, device, layout, desc: str) -> dict:
    """The heads' inputs (the map head's in half precision) and targets of every view ``sampler`` yields, in its
    order."""
    model.eval()
    loader = DataLoader(data, batch_sampler=sampler, collate_fn=collate_explain, generator=torch.Generator())
    parts = {k: [] for k in ("map_in", "spread_in", "map", "has_map", "std", "index")}
    heads = model.explain_heads
    for x, targets, has, std, idx in tqdm(loader, desc=desc, unit="batch", leave=False):
        stages = model.stage_maps(x.to(device).contiguous(memory_format=layout))
        grids = model.grid_maps(stages)
        f = model.head_features(grids)
        parts["map_in"].append(heads.map_inputs(f.lda, f.fused, grids).half().cpu())
        parts["spread_in"].append(heads.spread_inputs(f.fused, f.opinions, stages).float().cpu())
        for k, v in (("map", targets), ("has_map", has), ("std", std), ("index", idx)):
            parts[k].append(v)
    return {k: torch.cat(v) for k, v in parts.items()}


def _train_views(model: IQANet, data: ExplainImages, recipe: TrainConfig, cfg: ExplainTrainConfig, device, layout,
                 folder: Path, key: dict) -> dict:
    """``cfg.views`` randomly flipped views (whole images or crops) of every training image, cached in ``folder``
    under ``key`` (everything they depend on) so a resumed run reads them back."""
    path = folder / "views.pt"
    if path.is_file():
        cached = torch.load(path, map_location="cpu", weights_only=True)
        if cached.get("key") == key:
            return cached["views"]
    views = []
    for v in range(cfg.views):
        # size-grouped batches, one randomly flipped view of each image (its crop window drawn with it)
        sampler = SizeBatchSampler(data.images.sizes(), recipe.batch_size, shuffle=True, flips=recipe.flips,
                                   seed=cfg.seed + v)
        sampler.set_epoch(0)
        views.append(_cache(model, data, sampler, device, layout, f"explain: features of view {v + 1}/{cfg.views}"))
    out = {k: torch.cat([v[k] for v in views]) for k in views[0]}
    folder.mkdir(parents=True, exist_ok=True)
    atomic_torch_save({"key": key, "views": out}, path)
    return out


@torch.no_grad()
def _val_metrics(model: IQANet, val: dict, device) -> dict[str, float]:
    heads = model.explain_heads.eval()
    metrics = {}
    if bool(val["has_map"].any()):
        preds = torch.cat([heads.map_from(f.to(device).float()).cpu()
                           for f in val["map_in"][val["has_map"]].split(64)])
        mean = map_spearman(preds.numpy(), val["map"][val["has_map"]].numpy())["mean"]  # None: every map flat
        metrics["val_map_srcc"] = float("nan") if mean is None else float(mean)
    known = torch.isfinite(val["std"])
    if int(known.sum()) > 2:
        spread = heads.spread_from(val["spread_in"][known].to(device)).cpu().numpy()
        metrics["val_spread_srcc"] = float(spearmanr(spread, val["std"][known].numpy()).statistic)
    scores = [v for v in metrics.values() if math.isfinite(v)]
    metrics["val_explain"] = float(np.mean(scores)) if scores else float("nan")
    return metrics


def train_explain_heads(model_path: str | os.PathLike, dataset_dir: str | os.PathLike, recipe: TrainConfig,
                        cfg: ExplainTrainConfig, out_dir: str | os.PathLike, logger: Logger | None = None,
                        resume: bool = False) -> dict:
    """Attach and train the explanation heads of the model in ``model_path`` (rewritten in place, atomically, with
    the heads); checkpoints under ``out_dir/checkpoints/explain``. Returns the metrics (best epoch, val map and
    spread correlations, seconds, which heads had targets)."""
    t0 = time.perf_counter()
    model_path, out_dir = Path(model_path), Path(out_dir)
    model, ckpt = load_model(model_path)
    device = select_device(recipe.device, recipe.threads)
    dataset = PreparedDataset.load(dataset_dir)
    frame = read_manifest(dataset.manifest)
    targets = LocalTargets.load(dataset.root)
    torch.manual_seed(cfg.seed)  # the heads' initialisation; nothing else draws from it
    heads = model.attach_explain_heads(cfg.heads())
    model.requires_grad_(False).eval()
    heads.requires_grad_(True)
    layout = memory_format(recipe)
    model = model.to(device).to(memory_format=layout)

    images = split_images(dataset, frame, "train", recipe.resolution, cfg.crop, recipe.cache_images,
                          norm=model.normalisation)
    target_grid = model.config.grid * heads.config.fine  # the map head's fine grid
    train = ExplainImages(images, targets, target_grid)
    val = ExplainImages(split_images(dataset, frame, "val", recipe.resolution, norm=model.normalisation), targets,
                        target_grid)
    has_std = bool(torch.isfinite(train.std).any())
    if targets is None and not has_std:
        raise ValueError(f"{dataset.root}: no local targets and no mos_std column, so the explanation heads have "
                         "nothing to learn from; set distill_student.explain.enabled: false")
    std_variance = float(np.nanvar(train.std.numpy())) if has_std else 1.0
    folder = out_dir / "checkpoints" / CHECKPOINTS
    key = {"inputs": heads.describe(heads.config), "model": _frozen_digest(model),
           "dataset": dataset.manifest_sha256, "views": cfg.views,
           "seed": cfg.seed, "crop": cfg.crop, "flips": recipe.flips, "resolution": recipe.resolution.to_dict(),
           "targets": None if targets is None else targets.digest, "target_grid": target_grid}
    with caching_threads(recipe.cache_threads):
        views = _train_views(model, train, recipe, cfg, device, layout, folder, key)
        val_inputs = _cache(model, val, SizeBatchSampler(val.images.sizes(),
                                                         recipe.eval_batch_size or recipe.batch_size, shuffle=False),
                            device, layout, "explain: val features")
    val_inputs["map"] = coarse_map(val_inputs["map"], heads.config.fine)  # validated on the model's grid
    head_recipe = dataclasses.replace(recipe, batch_size=cfg.batch_size, seed=cfg.seed, epochs=cfg.epochs,
                                      lr=cfg.lr, scheduler="onecycle")
    sampler = SizeBatchSampler([(1, 1)] * len(views["map_in"]), cfg.batch_size, shuffle=True, seed=cfg.seed)
    optimizer = build_optimizer(head_param_groups(heads, cfg), head_recipe, lr=cfg.lr)
    scheduler = build_scheduler(optimizer, head_recipe, len(sampler))

    heads.fit_input_stats(views["map_in"] if targets is not None else None, views["spread_in"] if has_std else None)

    def step(batch):
        map_in, spread_in, maps, has, std = (t.to(device) for t in batch)
        return explain_terms(heads.member_maps_from(map_in.float()), heads.spread_order(spread_in), maps, has, std,
                             cfg, std_variance, heads.config.fine)

    loop = LoopConfig(epochs=cfg.epochs, checkpoint_every_steps=0, select_metric="val_explain", step_scheduler=True)
    trainer = Trainer(heads, optimizer, scheduler, _Batches(views, sampler), sampler, step,
                      lambda: _val_metrics(model, val_inputs, device), loop, folder, logger)
    if resume:
        trainer.resume()
    trainer.fit()
    heads.load_state_dict(torch.load(trainer.best_path, map_location="cpu", weights_only=True)["model"])
    heads.eval()  # no dropout from here on: the spread's scale is fitted on what inference computes
    best = trainer.history[trainer.state.best_epoch]
    if has_std:  # the ranking loss trained the order: put it on mos_std's scale (monotone, the order is kept)
        known = torch.isfinite(views["std"])
        with torch.no_grad():
            order = torch.cat([heads.spread_order(x.to(device)).cpu() for x in views["spread_in"][known].split(256)])
        heads.fit_spread_scale(order, views["std"][known])
    trained = [name for name, ok in (("quality_map", targets is not None), ("spread", has_std)) if ok]
    metrics = {"best_epoch": trainer.state.best_epoch, "trained": trained, "views": len(views["map_in"]),
               **{k: v for k, v in best.items() if k.startswith("val_")},
               "spread_scale": {"gain": float(heads.spread_gain), "bias": float(heads.spread_bias)},
               "seconds": round(time.perf_counter() - t0, 1), "history": trainer.history}
    meta = {**ckpt.get("meta", {}), "explain_trained": ",".join(trained),
            **{f"explain_{k}": round(v, 4) for k, v in best.items() if k.startswith("val_")}}
    save_model(model.cpu().to(memory_format=torch.contiguous_format), ckpt["model"], model_path, meta=meta)
    return metrics
