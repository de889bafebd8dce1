"""Parameter and MAC counts of registered models, measured the way PAPER.md reports them.

MACs = total FLOPs / 2 from ``torch.utils.flop_counter.FlopCounterMode``, one unpadded image in eval mode.
The model is built on the ``meta`` device, so counting a 96 M-parameter teacher at 4K costs no memory or time.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from mobileiqa.models.registry import create_model


@dataclass(frozen=True)
class Complexity:
    name: str
    params: int
    macs: int
    height: int
    width: int

    @property
    def params_m(self) -> float:
        return self.params / 1e6

    @property
    def gmacs(self) -> float:
        return self.macs / 1e9


def count_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: torch.nn.Module, height: int, width: int, device: str | torch.device = "meta") -> int:
    x = torch.empty(1, 3, height, width, device=device)
    counter = FlopCounterMode(display=False)
    was_training = model.training
    model.eval()
    try:
        with counter, torch.no_grad():
            model(x)
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2


def complexity(name: str, height: int, width: int, **head_overrides) -> Complexity:
    with torch.device("meta"):
        model = create_model(name, **head_overrides)
    return Complexity(name, count_params(model), count_macs(model, height, width), height, width)
