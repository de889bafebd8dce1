"""Models for tests whose scores spread across images (a freshly initialised head scores every image alike)."""

from __future__ import annotations

import torch

from mobileiqa.models import create_model


def spread_model(name: str, pretrained: str | None = None, seed: int = 0) -> torch.nn.Module:
    """``name`` in eval mode, seeded, with ``pretrained`` backbone weights if given and the score head's two
    layers scaled by 8 so that scores differ between images."""
    torch.manual_seed(seed)
    model = create_model(name, pretrained=pretrained).eval()
    with torch.no_grad():
        model.head.fc1.weight.mul_(8.0)
        model.head.fc2.weight.mul_(8.0)
    return model
