"""The two attention primitives of the Multi-view Attention Learning block (PAPER.md, "One MAL block").

* :class:`ViewSelfAttention` — SAGAN-style self-attention over the positions of one view, with a learnable
  residual gate that starts at 0 (so the block is the identity at initialisation).
* :class:`TokenAttention` — linear q/k/v, scaled softmax, dropout and residual over a ``(B, tokens, dim)``
  sequence, with the reference's exact output bookkeeping (see :meth:`TokenAttention.forward`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class ViewSelfAttention(nn.Module):
    """Self-attention over the ``H*W`` positions of a ``(B, C, H, W)`` map; queries/keys are ``C // qk_ratio`` wide."""

    def __init__(self, channels: int, qk_ratio: int = 8) -> None:
        super().__init__()
        if channels // qk_ratio < 1:
            raise ValueError(f"ViewSelfAttention: channels={channels} is too small for qk_ratio={qk_ratio}")
        inner = channels // qk_ratio
        self.query = nn.Conv2d(channels, inner, kernel_size=1)
        self.key = nn.Conv2d(channels, inner, kernel_size=1)
        self.value = nn.Conv2d(channels, channels, kernel_size=1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        q = self.query(x).reshape(b, -1, h * w).transpose(1, 2)  # (B, HW, C')
        k = self.key(x).reshape(b, -1, h * w)  # (B, C', HW)
        attn = torch.softmax(torch.bmm(q, k), dim=-1)  # (B, HW, HW)
        v = self.value(x).reshape(b, c, h * w)  # (B, C, HW)
        out = torch.bmm(v, attn.transpose(1, 2)).reshape(b, c, h, w)
        return self.gamma * out + x


class TokenAttention(nn.Module):
    """Single-head attention over ``(B, tokens, dim)`` with a residual connection.

    ``rank=None`` gives the paper's full ``dim x dim`` projections. A ``rank`` r makes the queries and keys
    r-wide and factorises the value projection as ``dim -> r -> dim`` (a lighter variant's knob).
    """

    def __init__(self, dim: int, rank: int | None = None, dropout: float = 0.1) -> None:
        super().__init__()
        qk_dim = dim if rank is None else rank
        self.q = nn.Linear(dim, qk_dim)
        self.k = nn.Linear(dim, qk_dim)
        self.v = nn.Linear(dim, dim) if rank is None else nn.Sequential(nn.Linear(dim, rank), nn.Linear(rank, dim))
        self.scale = dim**-0.5 if rank is None else rank**-0.5
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        b, t, d = x.shape
        attn = torch.softmax(self.q(x) @ self.k(x).transpose(1, 2) * self.scale, dim=-1)
        # The reference transposes (attn @ v) to (B, dim, tokens) and then *reshapes* it back to
        # (B, tokens, dim). It is a fixed permutation of the output; kept so reference weights reproduce.
        out = (attn @ self.v(x)).transpose(1, 2).reshape(b, t, d)
        return x + self.drop(out)
