"""Multi-view Attention Learning (MAL): one block per "annotator opinion", and the fusion block.

Implements PAPER.md "One MAL block" with the reference's tensor bookkeeping: a per-view self-attention, the
views concatenated in (view, channel) order, then two token attentions in parallel — one whose tokens are the
channels (features ``V*H*W``, after regrouping the ``V*C`` axis as if it were ``(C, V)``) and one whose tokens
are the positions (features ``V*C``) — averaged, then averaged over the views.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from mobileiqa.models.attention import TokenAttention, ViewSelfAttention


class MAL(nn.Module):
    """Fuse ``num_views`` maps of shape ``(B, C, G, G)`` into one ``(B, C, G, G)`` map."""

    def __init__(
        self,
        channels: int,
        num_views: int,
        grid: int,
        *,
        qk_ratio: int = 8,
        rank: int | None = None,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.channels, self.num_views, self.grid = channels, num_views, grid
        self.views = nn.ModuleList(ViewSelfAttention(channels, qk_ratio) for _ in range(num_views))
        # tokens = channels, each described by its values at every (view, position)
        self.channel_tokens = TokenAttention(num_views * grid * grid, rank, dropout)
        # tokens = positions, each described by every (view, channel)
        self.position_tokens = TokenAttention(num_views * channels, rank, dropout)

    def forward(self, views: Tensor) -> Tensor:
        """``views``: ``(B, V, C, G, G)`` → ``(B, C, G, G)``."""
        b, v, c, h, w = views.shape
        if v != self.num_views or c != self.channels:
            expected = f"(B, {self.num_views}, {self.channels}, G, G)"
            raise ValueError(f"MAL expects {expected} views, got {tuple(views.shape)}")
        x = torch.stack([attend(views[:, i]) for i, attend in enumerate(self.views)], dim=1)
        seq = x.reshape(b, v * c, h * w)  # (view, channel) order
        by_channel = self.channel_tokens(seq.reshape(b, c, v * h * w)).reshape(b, v * c, h * w)
        by_position = self.position_tokens(seq.transpose(1, 2)).transpose(1, 2)
        fused = (by_channel + by_position) / 2
        return fused.reshape(b, v, c, h * w).mean(dim=1).reshape(b, c, h, w)
