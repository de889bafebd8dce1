"""Explanation heads: a per-region quality map and the predicted spread of the annotators' opinions.

Both read the network's features *after* the score has been computed from them and never feed back:

- the map head sees every LDA grid, the fused MAL grid and every backbone stage map average-pooled to the same
  grid, ``(B, (S + 1) C + sum(stage channels), G, G)`` (the LDA grids keep the local detail of every stage, the
  fused grid what the score is made of, the pooled stage maps what the LDA blocks compress away);
- the spread head sees the fused grid pooled, the disagreement of the opinion MALs (their standard deviation over
  opinions, pooled), the spatial standard deviation and mean of every backbone stage channel and the correlations
  between the channels of a few stages (``config.corr_stages``): texture, noise and colour statistics that tell the
  distortion type apart, which the score-trained head features hardly keep (the annotators' disagreement is mostly
  a property of the type).

The map head mixes each cell with its 3x3 neighbours and with the image's mean features (a blur costs a textured
cell, noise a flat one: the local error depends on what the distortion is as much as on the cell). It does so on a
grid ``fine`` times finer than the features' (each cell's features repeated, so the 3x3 mixing learns where inside
a cell its neighbours' influence lands), is trained on targets of that finer grid too, and averages back to the
grid: the quality map keeps the model's grid. ``map_members`` such heads, initialised apart and each trained on the
targets, run side by side as grouped convolutions and their maps are averaged (an ensemble in one graph).

Each head standardises its input with per-channel statistics fixed from the training features (buffers, so they
travel with the weights). They are trained on detached features after the model itself
(:mod:`mobileiqa.train.explain`), so attaching them changes no weight and no output of the score.

- ``quality_map (B, G, G)``: local quality on the normalised MOS scale [0, 1] (higher is better), row 0 = top of
  the image; trained on full-reference error maps put on the MOS scale (:mod:`mobileiqa.data.local_targets`).
- ``spread (B,)``: the predicted standard deviation of the simulated annotators' scores (``mos_std``, the same
  normalised units). It estimates how much raters would *disagree* about the image — it is not a confidence
  interval of the model's own error.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from mobileiqa.explain_spec import ExplainConfig


@dataclass
class Explanation:
    """What :meth:`mobileiqa.models.IQANet.explain` returns, batch first."""

    score: Tensor  # (B,) the model's score, identical to ``forward``
    quality_map: Tensor  # (B, G, G) in [0, 1], higher is better
    spread: Tensor  # (B,) >= 0, normalised MOS units


# a stage map this narrow (or narrower) gets its mean square from the diagonal of its channels' Gram matrix, one
# GEMM, instead of ReduceL2: ONNX Runtime reduces a wide map's channels with ReduceL2 about 3x slower than it
# multiplies (16 channels at 954x616, a Lite0 stage 0 at 1907x1231: 4 ms against 12 ms on one thread); the Gram's
# cost grows with the channels squared, so wider stages keep ReduceL2
GRAM_CHANNELS = 16


def _diagonal(square: Tensor) -> Tensor:
    """``(B, C, C)`` → ``(B, C)``: the diagonal, as constant flat indices (no diagonal op in an exported graph)."""
    c = square.shape[-1]
    return square.flatten(1).index_select(1, torch.arange(c, device=square.device) * (c + 1))


def _gram(flat: Tensor) -> Tensor:
    """``(B, C, N)`` → ``(B, C, C)``: the channels' mean products over the ``N`` positions (one MatMul)."""
    return flat @ flat.transpose(1, 2) / flat.shape[-1]


def spatial_moments(x: Tensor) -> tuple[Tensor, Tensor]:
    """``(B, C, H, W)`` → the mean and the population standard deviation of each channel over space, ``(B, C)``
    each, from the mean and the mean square: ONNX ReduceMean and ReduceL2, or for a map of at most
    :data:`GRAM_CHANNELS` channels the Gram matrix's diagonal (``Tensor.std`` exports as five ops with two map-sized
    temporaries: at 1907x1231 that was most of the heads' latency)."""
    mean = x.mean(dim=(2, 3))
    if x.shape[1] <= GRAM_CHANNELS:
        square = _diagonal(_gram(x.flatten(2)))
    else:
        square = torch.linalg.vector_norm(x, dim=(2, 3)).square() / (x.shape[-2] * x.shape[-1])
    return mean, (square - mean.square()).clamp_min(0).sqrt()


def spatial_std(x: Tensor) -> Tensor:
    """``(B, C, H, W)`` → ``(B, C)``: the population standard deviation of each channel over space."""
    return spatial_moments(x)[1]


def upper_pairs(channels: int) -> Tensor:
    """The flat indices ``i * C + j`` (``i < j``) of a ``C x C`` matrix's strict upper triangle, row by row."""
    i, j = torch.triu_indices(channels, channels, offset=1)
    return i * channels + j


def correlated_moments(x: Tensor, pairs: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``(B, C, H, W)`` → its spatial mean and population standard deviation ``(B, C)`` and ``(B, len(pairs))``:
    the Pearson correlation over space of every pair of channels (flat indices ``pairs`` of the ``C x C`` matrix,
    :func:`upper_pairs`); 0 where a channel is constant. One ``(C, HW) x (HW, C)`` MatMul of the centred map gives
    the covariances and, on its diagonal, the variances: no ReduceL2, no diagonal or triangle op in an exported
    graph."""
    mean = x.mean(dim=(2, 3))
    covariance = _gram((x - mean[:, :, None, None]).flatten(2))
    std = _diagonal(covariance).clamp_min(0).sqrt()
    scale = (std[:, :, None] * std[:, None, :]).clamp_min(1e-12)
    return mean, std, (covariance / scale).flatten(1).index_select(1, pairs)


def coarse_map(fine_map: Tensor, k: int) -> Tensor:
    """``(B, kH, kW)`` → ``(B, H, W)``: the mean of each ``k x k`` block of cells (``k = 1``: the map itself)."""
    return fine_map if k == 1 else F.avg_pool2d(fine_map[:, None], k)[:, 0]


class ExplainHeads(nn.Module):
    """The two heads of a network whose LDA and MAL features are ``width`` wide on a ``grid`` x ``grid`` grid, over
    backbone stages of ``stage_channels`` channels (one LDA grid per stage)."""

    INPUTS = "map: lda+fused+stages pooled; spread: fused pooled+opinion std+stage std"  # (see ``describe``)
    TRAINING = "map: global context, Pearson loss; spread: rank-trained order, fitted scale"

    def __init__(self, width: int, stage_channels: Sequence[int], grid: int,
                 config: ExplainConfig | None = None) -> None:
        super().__init__()
        self.config = config or ExplainConfig()
        self.width, self.stage_channels, self.grid = width, tuple(int(c) for c in stage_channels), int(grid)
        h = self.config.hidden
        # how stage maps are pooled to the grid: ``(x, grid) -> (B, C, grid, grid)``; the ONNX export swaps in a
        # shape-built equivalent (mobileiqa.export.onnx.adaptive_avg_pool), as it does for the LDA blocks
        self.pool = F.adaptive_avg_pool2d
        c = width * (len(self.stage_channels) + 1) + sum(self.stage_channels)
        # the stages of config.corr_stages this backbone has (a 2-stage test backbone has no stage 2: none); a
        # stage asked for explicitly (not the default) that the backbone lacks is said
        self.corr_stages = tuple(i for i in self.config.corr_stages if i < len(self.stage_channels))
        missing = sorted(set(self.config.corr_stages) - set(self.corr_stages))
        if missing and self.config.corr_stages != ExplainConfig().corr_stages:
            warnings.warn(f"explain corr_stages {list(self.config.corr_stages)}: the backbone has "
                          f"{len(self.stage_channels)} stages (0-{len(self.stage_channels) - 1}), so stage(s) "
                          f"{missing} are skipped; set distill_student.explain.corr_stages to stages it has",
                          stacklevel=2)
        for i in self.corr_stages:  # constant flat indices of each correlation matrix's upper triangle
            self.register_buffer(f"pairs_{i}", upper_pairs(self.stage_channels[i]), persistent=False)
        s = (2 * width + sum(self.stage_channels) * (2 if self.config.stage_means else 1)
             + sum(len(getattr(self, f"pairs_{i}")) for i in self.corr_stages))
        self.register_buffer("map_mean", torch.zeros(1, c, 1, 1))
        self.register_buffer("map_std", torch.ones(1, c, 1, 1))
        self.register_buffer("spread_mean", torch.zeros(1, s))
        self.register_buffer("spread_std", torch.ones(1, s))
        # spread = softplus(gain * order + bias): the order is trained by ranking, gain and bias fitted afterwards
        self.register_buffer("spread_gain", torch.ones(1))
        self.register_buffer("spread_bias", torch.zeros(1))
        # ``config.map_members`` map heads side by side: one input conv wide enough for all, then each member's
        # channels mixed, given context and read out on their own (grouped convs); their maps are averaged
        k = self.config.map_members
        self.map_in = nn.Conv2d(c, k * h, kernel_size=1)
        self.map_mix = nn.Conv2d(k * h, k * h, kernel_size=3, padding=1, groups=k)
        # the whole image's mean features, added to every cell (a 1x1 conv on the pooled grid: grouped per member)
        self.map_context = nn.Conv2d(k * h, k * h, kernel_size=1, groups=k)
        self.map_out = nn.Conv2d(k * h, k, kernel_size=1, groups=k)
        self.spread_drop = nn.Dropout(self.config.spread_dropout)
        self.spread_fc1 = nn.Linear(s, h)
        self.spread_fc2 = nn.Linear(h, 1)

    @staticmethod
    def upgrade_state(state: dict, prefix: str = "") -> dict:
        """Bring the head tensors (under ``prefix``) of a state dict saved by an earlier layout to today's, in place:
        a one-member map head's context was an ``nn.Linear`` (a 2-D weight), now a 1x1 conv (the same numbers)."""
        key = prefix + "map_context.weight"
        if key in state and state[key].dim() == 2:
            state[key] = state[key][:, :, None, None]
        return state

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        self.upgrade_state(state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @classmethod
    def describe(cls, config: ExplainConfig) -> str:
        """What heads of ``config`` read, in words (the feature caches' key; with :attr:`TRAINING`, the benchmark
        rows'): :attr:`INPUTS` and the spread's extra statistics."""
        extra = ["stage mean"] if config.stage_means else []
        extra += [f"channel corr of stage {i}" for i in config.corr_stages]
        return "+".join([cls.INPUTS, *extra])

    def map_inputs(self, lda: Tensor, fused: Tensor, maps: Sequence[Tensor]) -> Tensor:
        """What the map head reads, ``(B, (S + 1) C + sum(stage channels), G, G)``: every LDA grid
        ``lda (B, S, C, G, G)``, the fused grid ``(B, C, G, G)`` and every backbone stage map of ``maps``
        average-pooled to the grid (maps already pooled to it, :meth:`IQANet.grid_maps`, pass through unchanged)."""
        pooled = (self.pool(m, self.grid) for m in maps)
        return torch.cat([lda.flatten(1, 2), fused, *pooled], dim=1)

    def member_maps_from(self, inputs: Tensor) -> Tensor:
        """``(B, c, G, G)`` from :meth:`map_inputs` → ``(B, M, kG, kG)`` in [0, 1]: the map of each of the
        ``M = config.map_members`` members on the ``k = config.fine`` times finer grid (what each member's loss
        trains on the fine target)."""
        x = F.gelu(self.map_in((inputs - self.map_mean) / self.map_std))
        if self.config.fine > 1:  # after the 1x1 conv and GELU, which commute with repeating cells: k^2 x cheaper
            x = F.interpolate(x, scale_factor=self.config.fine, mode="nearest")
        context = self.map_context(x.mean(dim=(2, 3), keepdim=True))  # what the image is: a cell's error
        x = F.gelu(self.map_mix(x) + context) + x  # depends on the distortion as much as on the cell's content
        return self.map_out(x).sigmoid()

    def fine_map_from(self, inputs: Tensor) -> Tensor:
        """``(B, c, G, G)`` from :meth:`map_inputs` → ``(B, kG, kG)`` in [0, 1] on the ``k = config.fine`` times
        finer grid: the mean of the members' maps."""
        return self.member_maps_from(inputs).mean(dim=1)

    def map_from(self, inputs: Tensor) -> Tensor:
        """``(B, c, G, G)`` from :meth:`map_inputs` → ``(B, G, G)`` in [0, 1]."""
        return coarse_map(self.fine_map_from(inputs), self.config.fine)

    def quality_map(self, lda: Tensor, fused: Tensor, maps: Sequence[Tensor]) -> Tensor:
        """``lda (B, S, C, G, G)``, ``fused (B, C, G, G)`` and the backbone's stage ``maps`` → ``(B, G, G)`` in
        [0, 1]."""
        return self.map_from(self.map_inputs(lda, fused, maps))

    def spread_inputs(self, fused: Tensor, opinions: Tensor, maps: Sequence[Tensor]) -> Tensor:
        """What the spread head reads, ``(B, s)``: the fused grid pooled, the opinion MALs' disagreement (their
        standard deviation over opinions, pooled; zeros with a single opinion), the spatial standard deviation of
        every channel of every backbone stage map, then (``config.stage_means``) their spatial means, then the
        channel correlations of each stage of ``config.corr_stages`` that the backbone has."""
        pooled = fused.mean(dim=(2, 3))
        if opinions.shape[1] < 2:
            disagreement = torch.zeros_like(pooled)
        else:
            disagreement = opinions.std(dim=1, unbiased=False).mean(dim=(2, 3))
        correlated = {i: correlated_moments(maps[i], getattr(self, f"pairs_{i}")) for i in self.corr_stages}
        moments = [correlated[i][:2] if i in correlated else spatial_moments(m) for i, m in enumerate(maps)]
        parts = [pooled, disagreement, *(std for _, std in moments)]
        if self.config.stage_means:
            parts += [mean for mean, _ in moments]
        parts += [correlated[i][2] for i in self.corr_stages]
        return torch.cat(parts, dim=1)

    def spread_order(self, inputs: Tensor) -> Tensor:
        """``(B, s)`` from :meth:`spread_inputs` → ``(B,)``: the spread head's unitless order score (higher = more
        disagreement; what its ranking loss trains)."""
        x = self.spread_drop((inputs - self.spread_mean) / self.spread_std)
        return self.spread_fc2(F.gelu(self.spread_fc1(x))).squeeze(1)

    def spread_from(self, inputs: Tensor) -> Tensor:
        """``(B, s)`` from :meth:`spread_inputs` → ``(B,)`` >= 0: the order score put on the scale of ``mos_std``
        (a monotone map, so the order is kept)."""
        return F.softplus(self.spread_gain * self.spread_order(inputs) + self.spread_bias)

    @torch.no_grad()
    def fit_spread_scale(self, order: Tensor, target: Tensor) -> None:
        """Fit the gain and bias that put the order scores ``order (N,)`` on the scale of the targets ``target (N,)``
        (> 0): least squares of ``softplus⁻¹(target)`` on the order, the gain kept positive (the order is kept)."""
        z, y = order.double(), target.double().clamp_min(1e-6)
        y = torch.log(torch.expm1(y))  # softplus⁻¹
        zc = z - z.mean()
        gain = float((zc * (y - y.mean())).sum() / zc.pow(2).sum().clamp_min(1e-12))
        gain = max(gain, 1e-6)
        self.spread_gain.fill_(gain)
        self.spread_bias.fill_(float(y.mean() - gain * z.mean()))

    def spread(self, fused: Tensor, opinions: Tensor, maps: Sequence[Tensor]) -> Tensor:
        """``fused (B, C, G, G)``, ``opinions (B, M, C, G, G)`` and the backbone's stage ``maps`` → ``(B,)`` >= 0."""
        return self.spread_from(self.spread_inputs(fused, opinions, maps))

    @torch.no_grad()
    def fit_input_stats(self, map_inputs: Tensor | None, spread_inputs: Tensor | None) -> None:
        """Fix the input standardisation from training features: per-channel mean and std over every image (and
        cell) of ``map_inputs`` (from :meth:`map_inputs`) and ``spread_inputs`` (from :meth:`spread_inputs`);
        ``None`` keeps the identity. Either may be half precision (a compact feature cache)."""
        if map_inputs is not None:
            x = map_inputs.transpose(0, 1).flatten(1)  # (c, N G G), one channel per row, in float32 row by row
            mean = torch.stack([row.float().mean() for row in x])
            std = torch.stack([row.float().std() for row in x])
            self.map_mean.copy_(mean.view(1, -1, 1, 1))
            self.map_std.copy_(std.clamp_min(1e-6).view(1, -1, 1, 1))
        if spread_inputs is not None:
            self.spread_mean.copy_(spread_inputs.float().mean(dim=0, keepdim=True))
            self.spread_std.copy_(spread_inputs.float().std(dim=0, keepdim=True).clamp_min(1e-6))
