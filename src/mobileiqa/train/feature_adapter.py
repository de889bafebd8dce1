"""Training-only adapters that map a student's distillation features onto the teacher's shapes.

Used when the student's head differs from the teacher's (lite variants: another grid, width or number of
opinions): a 1x1 projection for the width, bilinear interpolation for the grid, and a learned mix over the
opinion axis. They live in the distillation module, never in the exported student.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn
from torch.nn import functional as F

from mobileiqa.models.iqa_net import HeadConfig, IQAFeatures


class FeatureAdapter(nn.Module):
    def __init__(self, student: HeadConfig, teacher: HeadConfig) -> None:
        super().__init__()
        self.grid = teacher.grid
        self.width = (nn.Conv2d(student.width, teacher.width, 1) if student.width != teacher.width
                      else nn.Identity())
        self.opinions = (nn.Linear(student.num_opinions, teacher.num_opinions, bias=False)
                         if student.num_opinions != teacher.num_opinions else None)

    def _maps(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, N, C, G, G)`` → ``(B, N, C_t, G_t, G_t)``."""
        b, n = x.shape[:2]
        x = x.flatten(0, 1)
        if x.shape[-1] != self.grid:
            x = F.interpolate(x, size=(self.grid, self.grid), mode="bilinear", align_corners=False)
        x = self.width(x)
        return x.unflatten(0, (b, n))

    def forward(self, f: IQAFeatures) -> IQAFeatures:
        opinions = self._maps(f.opinions)
        if self.opinions is not None:
            opinions = self.opinions(opinions.movedim(1, -1)).movedim(-1, 1)
        return replace(f, lda=self._maps(f.lda), opinions=opinions)

    @staticmethod
    def needed(student: HeadConfig, teacher: HeadConfig) -> bool:
        return not student.distill_compatible(teacher)
