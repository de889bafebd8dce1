"""Explanation heads: a per-region quality map and the predicted spread of the annotators' opinions.

Both read the network's features *after* the score has been computed from them and never feed back: the map
head sees every LDA grid and the fused MAL grid, ``(B, (S + 1) C, G, G)`` (the LDA grids keep the local detail of
every backbone stage; the fused grid what the score is made of), the spread head the fused grid pooled and the
disagreement of the opinion MALs (their standard deviation over opinions, pooled). Each head standardises its input
with per-channel statistics fixed from the training features (buffers, so they travel with the weights). They
are trained on detached features after the model itself (:mod:`mobileiqa.train.explain`), so attaching them
changes no weight and no output of the score.

- ``quality_map (B, G, G)``: local quality on the normalised MOS scale [0, 1] (higher is better), row 0 = top of
  the image; trained on full-reference error maps put on the MOS scale (:mod:`mobileiqa.data.local_targets`).
- ``spread (B,)``: the predicted standard deviation of the simulated annotators' scores (``mos_std``, the same
  normalised units). It estimates how much raters would *disagree* about the image — it is not a confidence
  interval of the model's own error.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from mobileiqa.schema import known_fields


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
        return cls(**known_fields(cls, data))


@dataclass
class Explanation:
    """What :meth:`mobileiqa.models.IQANet.explain` returns, batch first."""

    score: Tensor  # (B,) the model's score, identical to ``forward``
    quality_map: Tensor  # (B, G, G) in [0, 1], higher is better
    spread: Tensor  # (B,) >= 0, normalised MOS units


class ExplainHeads(nn.Module):
    def __init__(self, width: int, stages: int, config: ExplainConfig | None = None) -> None:
        super().__init__()
        self.config = config or ExplainConfig()
        self.width, self.stages, h = width, stages, self.config.hidden
        c = width * (stages + 1)
        self.register_buffer("map_mean", torch.zeros(1, c, 1, 1))
        self.register_buffer("map_std", torch.ones(1, c, 1, 1))
        self.register_buffer("spread_mean", torch.zeros(1, 2 * width))
        self.register_buffer("spread_std", torch.ones(1, 2 * width))
        self.map_in = nn.Conv2d(c, h, kernel_size=1)
        self.map_mix = nn.Conv2d(h, h, kernel_size=3, padding=1)
        self.map_out = nn.Conv2d(h, 1, kernel_size=1)
        self.spread_fc1 = nn.Linear(2 * width, h)
        self.spread_fc2 = nn.Linear(h, 1)

    @staticmethod
    def map_inputs(lda: Tensor, fused: Tensor) -> Tensor:
        """What the map head reads, ``(B, (S + 1) C, G, G)``: every LDA grid ``lda (B, S, C, G, G)`` and the fused
        grid ``(B, C, G, G)``."""
        return torch.cat([lda.flatten(1, 2), fused], dim=1)

    def map_from(self, inputs: Tensor) -> Tensor:
        """``(B, (S + 1) C, G, G)`` from :meth:`map_inputs` → ``(B, G, G)`` in [0, 1]."""
        x = F.gelu(self.map_in((inputs - self.map_mean) / self.map_std))
        x = F.gelu(self.map_mix(x)) + x
        return self.map_out(x).squeeze(1).sigmoid()

    def quality_map(self, lda: Tensor, fused: Tensor) -> Tensor:
        """``lda (B, S, C, G, G)`` and ``fused (B, C, G, G)`` → ``(B, G, G)`` in [0, 1]."""
        return self.map_from(self.map_inputs(lda, fused))

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
        x = (inputs - self.spread_mean) / self.spread_std
        return F.softplus(self.spread_fc2(F.gelu(self.spread_fc1(x)))).squeeze(1)

    def spread(self, fused: Tensor, opinions: Tensor) -> Tensor:
        """``fused (B, C, G, G)`` and ``opinions (B, M, C, G, G)`` → ``(B,)`` >= 0."""
        return self.spread_from(self.spread_inputs(fused, opinions))

    @torch.no_grad()
    def fit_input_stats(self, map_inputs: Tensor | None, spread_inputs: Tensor | None) -> None:
        """Fix the input standardisation from training features: per-channel mean and std over every image (and
        cell) of ``map_inputs (N, (S + 1) C, G, G)`` and ``spread_inputs (N, 2C)`` (``None`` keeps the identity)."""
        if map_inputs is not None:
            self.map_mean.copy_(map_inputs.mean(dim=(0, 2, 3), keepdim=True))
            self.map_std.copy_(map_inputs.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6))
        if spread_inputs is not None:
            self.spread_mean.copy_(spread_inputs.mean(dim=0, keepdim=True))
            self.spread_std.copy_(spread_inputs.std(dim=0, keepdim=True).clamp_min(1e-6))
