"""Models with explanation heads for the export, predict and serving tests: the tiny student with heads attached,
their map head's last layer scaled so that maps vary across an image (freshly initialised heads give a near-flat
map)."""

from __future__ import annotations

import torch

from mobileiqa.models.explain import ExplainConfig
from tests.conftest import TINY_STUDENT
from tests.modelgen import spread_model

HIDDEN = 8
# the tiny backbone's second stage: correlations exported too; two map members: grouped convs exported too
HEADS = ExplainConfig(hidden=HIDDEN, map_members=2, corr_stages=(1,))


def explained_model(name: str = TINY_STUDENT, seed: int = 0) -> torch.nn.Module:
    """``name`` (scores spread across images: :func:`tests.modelgen.spread_model`) with explanation heads of
    ``hidden=8`` whose spread reads the channel correlations of the second stage; the map's output layer scaled by
    20, so that the map spreads over [0, 1]."""
    model = spread_model(name, seed=seed)
    torch.manual_seed(seed + 1)
    model.attach_explain_heads(HEADS)
    with torch.no_grad():
        model.explain_heads.map_out.weight.mul_(20.0)
    return model.eval()
