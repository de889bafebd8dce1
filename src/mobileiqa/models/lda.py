"""Local Distortion Aware (LDA) block: one per backbone stage (PAPER.md, Architecture table).

``1x1 conv C_in -> hidden, GELU, adaptive average pool to G x G, 1x1 conv hidden -> width``. With
``pool_first=True`` the map is pooled to the grid *before* the expansion: far cheaper on high-resolution
stride-2 maps (the faithful order expands a full-resolution map to 512 channels first), at the cost of a
slightly different function (GELU does not commute with pooling).
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F


class LDA(nn.Module):
    def __init__(self, in_channels: int, hidden: int, width: int, grid: int, pool_first: bool = False) -> None:
        super().__init__()
        self.grid, self.pool_first = grid, pool_first
        self.expand = nn.Conv2d(in_channels, hidden, kernel_size=1)
        self.reduce = nn.Conv2d(hidden, width, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        if self.pool_first:
            x = F.adaptive_avg_pool2d(x, self.grid)
            return self.reduce(F.gelu(self.expand(x)))
        return self.reduce(F.adaptive_avg_pool2d(F.gelu(self.expand(x)), self.grid))
