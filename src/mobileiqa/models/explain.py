"""Explanation heads: a per-region quality map and the predicted spread of the annotators' opinions.

Both read the network's features *after* the score has been computed from them and never feed back: the map
head sees the fused MAL grid ``(B, C, G, G)``, the spread head the fused grid pooled and the disagreement of the
opinion MALs (their standard deviation over opinions, pooled). They are trained on detached features after the
model itself (:mod:`mobileiqa.train.explain`), so attaching them changes no weight and no output of the score.

- ``quality_map (B, G, G)``: local quality on the normalised MOS scale [0, 1] (higher is better), row 0 = top of
  the image; trained on full-reference error maps put on the MOS scale (:mod:`mobileiqa.data.local_targets`).
- ``spread (B,)``: the predicted standard deviation of the simulated annotators' scores (``mos_std``, the same
  normalised units). It estimates how much raters would *disagree* about the image — it is not a confidence
  interval of the model's own error.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
from torch import Tensor, nn
from torch.nn import functional as F


@dataclass(frozen=True)
class ExplainConfig:
    """Sizes of the two heads (recorded in checkpoints and exported metadata)."""

    hidden: int = 64  # channels of the map head, width of the spread head's hidden layer

    def __post_init__(self) -> None:
        if self.hidden < 1:
            raise ValueError(f"ExplainConfig.hidden must be >= 1, got {self.hidden}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ExplainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise KeyError(f"unknown ExplainConfig key(s) {unknown}; valid keys: {sorted(known)}")
        return cls(**data)


@dataclass
class Explanation:
    """What :meth:`mobileiqa.models.IQANet.explain` returns, batch first."""

    score: Tensor  # (B,) the model's score, identical to ``forward``
    quality_map: Tensor  # (B, G, G) in [0, 1], higher is better
    spread: Tensor  # (B,) >= 0, normalised MOS units


class ExplainHeads(nn.Module):
    def __init__(self, width: int, config: ExplainConfig = ExplainConfig()) -> None:
        super().__init__()
        self.config, h = config, config.hidden
        self.map_in = nn.Conv2d(width, h, kernel_size=1)
        self.map_mix = nn.Conv2d(h, h, kernel_size=3, padding=1)
        self.map_out = nn.Conv2d(h, 1, kernel_size=1)
        self.spread_fc1 = nn.Linear(2 * width, h)
        self.spread_fc2 = nn.Linear(h, 1)

    def quality_map(self, fused: Tensor) -> Tensor:
        """``fused (B, C, G, G)`` → ``(B, G, G)`` in [0, 1]."""
        x = F.gelu(self.map_in(fused))
        x = F.gelu(self.map_mix(x)) + x
        return self.map_out(x).squeeze(1).sigmoid()

    @staticmethod
    def spread_inputs(fused: Tensor, opinions: Tensor) -> Tensor:
        """What the spread head reads, ``(B, 2C)``: the fused grid pooled and the opinion MALs' disagreement (their
        standard deviation over opinions, pooled; zeros with a single opinion)."""
        pooled = fused.mean(dim=(2, 3))
        if opinions.shape[1] < 2:
            return torch.cat([pooled, torch.zeros_like(pooled)], dim=1)
        return torch.cat([pooled, opinions.std(dim=1, unbiased=False).mean(dim=(2, 3))], dim=1)

    def spread_from(self, inputs: Tensor) -> Tensor:
        """``(B, 2C)`` from :meth:`spread_inputs` → ``(B,)`` >= 0."""
        return F.softplus(self.spread_fc2(F.gelu(self.spread_fc1(inputs)))).squeeze(1)

    def spread(self, fused: Tensor, opinions: Tensor) -> Tensor:
        """``fused (B, C, G, G)`` and ``opinions (B, M, C, G, G)`` → ``(B,)`` >= 0."""
        return self.spread_from(self.spread_inputs(fused, opinions))
