"""Score head (PAPER.md, Architecture table, "head" row).

``1x1 conv width -> channels, ReLU, AvgPool(pool), 3x3 conv (no padding), ReLU, global average pool,
FC channels -> hidden, ReLU, dropout, FC hidden -> 1`` and, for a bounded student, a final sigmoid.
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F


class ScoreHead(nn.Module):
    def __init__(
        self,
        width: int,
        channels: int = 128,
        pool: int = 4,
        hidden: int = 64,
        dropout: float = 0.1,
        sigmoid: bool = False,
    ) -> None:
        super().__init__()
        self.pool, self.sigmoid = pool, sigmoid
        self.reduce = nn.Conv2d(width, channels, kernel_size=1)
        self.conv = nn.Conv2d(channels, channels, kernel_size=3)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, 1)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, width, G, G)`` → ``(B,)``."""
        x = F.avg_pool2d(F.relu(self.reduce(x)), self.pool)
        x = F.relu(self.conv(x)).mean(dim=(2, 3))
        x = self.fc2(self.drop(F.relu(self.fc1(x)))).squeeze(1)
        return x.sigmoid() if self.sigmoid else x
