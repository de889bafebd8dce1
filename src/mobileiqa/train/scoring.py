"""Validation of a training run: a model's scores on every image of a split (whole images, eval mode) and their
metrics against MOS."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from mobileiqa.eval.metrics import accuracy
from mobileiqa.train.data import ManifestImages, SizeBatchSampler, collate


@torch.no_grad()
def predict(model: nn.Module, images: ManifestImages, batch_size: int, device: torch.device) -> np.ndarray:
    """Scores for every row of ``images`` in row order (eval mode, no flips)."""
    model.eval()
    sampler = SizeBatchSampler(images.sizes(), batch_size, shuffle=False)
    loader = DataLoader(images, batch_sampler=sampler, collate_fn=collate, generator=torch.Generator())
    out = np.empty(len(images), np.float64)
    for x, _, idx, *_ in loader:  # (training images may also return local targets)
        y = model(x.to(device))
        out[idx.numpy()] = y.float().cpu().numpy()
    return out


def split_metrics(pred: np.ndarray, mos: np.ndarray, prefix: str) -> dict[str, float]:
    m = accuracy(pred, mos)
    return {f"{prefix}_{k}": float(getattr(m, k)) for k in ("srcc", "plcc", "krcc", "rmse")}
