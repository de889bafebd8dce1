"""Training-only extras of the from-scratch CPU recipe (docs/TRAINING.md), never part of an exported model:

* :class:`AuxHead` — distortion type and level classification from the pooled fused MAL map. The default
  dataset's MOS is almost a function of (type, level) (a per-(type, level) mean MOS reaches val SRCC 0.94), so
  this auxiliary task gives the randomly initialised backbone a dense, well-posed signal.
* :class:`AnnotatorHead` — each simulated annotator's own score (the manifest's ``annotator_*`` columns) from the
  pooled opinion MAL maps: the MOS is their mean, and each annotator (a full-reference measure) weighs structure,
  gradients and colour its own way.
* :class:`LocalMapHead` — the local quality map (the dataset's local targets: full-reference error maps of the
  simulated annotators, pooled to the grid) from the fused map, one 1x1 convolution: dense "where and how much"
  supervision of the trained features (the explanation heads read the same targets, but on frozen features).
* :func:`rank_loss` — a within-photo pairwise ranking loss: images of the same reference photo, ordered by MOS
  (SRCC is a rank metric, and content varies less within a photo than across photos).
* :class:`TrainingNet` — the trained model plus its training-only adapter and auxiliary heads; ``forward``
  returns both, so DistributedDataParallel sees every trained parameter inside one forward.
* :class:`BatchLabels` — per-row codes (photo, distortion type, level) and annotator scores the step functions
  look up by index.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from mobileiqa.data.manifest import ANNOTATOR_PREFIX, MIX_PREFIX, annotator_columns
from mobileiqa.models.iqa_net import IQAFeatures


class BatchLabels:
    """Integer codes of a split's rows: ``photo`` (content_id), ``type`` (dist_type; the default dataset's
    mixtures ``mix:a+b`` share one class, ``mixture``), ``level`` (dist_level); with ``need_annotators`` also
    ``annotators``, the ``(N, A)`` scores of the simulated annotators ``annotator_names`` (``None`` where the
    manifest has no ``annotator_*`` column: real MOS datasets publish the mean of human ratings, no annotator's own
    score)."""

    def __init__(self, frame: pd.DataFrame, need_distortions: bool = False, source: str = "the manifest",
                 need_annotators: bool = False) -> None:
        self.photo = torch.tensor(pd.factorize(frame["content_id"].astype(str))[0].astype(np.int64))
        types = frame["dist_type"].fillna("").astype(str) if "dist_type" in frame else pd.Series([""] * len(frame))
        types = types.where(~types.str.startswith(MIX_PREFIX), "mixture")  # every mixture is one class
        levels = frame["dist_level"].fillna(0).astype(int) if "dist_level" in frame else pd.Series([0] * len(frame))
        if need_distortions and ((types == "").any() or (levels < 1).any()):
            raise ValueError(f"{source}: aux_weight > 0 needs dist_type and dist_level (1..5) on every training row "
                             "(synthetic data such as the default dataset); set aux_weight: 0 for this dataset")
        self.type_names = sorted(set(types))
        self.type = torch.tensor(types.map({t: i for i, t in enumerate(self.type_names)}).to_numpy(np.int64))
        self.level = torch.tensor(np.clip(levels.to_numpy(np.int64) - 1, 0, None))
        self.num_levels = int(self.level.max()) + 1 if len(self.level) else 1
        columns = annotator_columns(frame)
        self.annotator_names = [c[len(ANNOTATOR_PREFIX):] for c in columns]
        self.annotators = None
        if need_annotators and columns:
            scores = frame[columns]
            gaps = [c for c in columns if scores[c].isna().any()]
            if gaps:
                raise ValueError(f"{source}: annotator_weight > 0 needs a score of every simulated annotator on "
                                 f"every training row, found scores missing in {gaps}; rebuild the dataset or set "
                                 "annotator_weight: 0")
            self.annotators = torch.tensor(scores.to_numpy(np.float32))


class AuxHead(nn.Module):
    """Linear distortion-type and -level logits from the globally pooled fused map ``(B, C, G, G)``."""

    def __init__(self, width: int, num_types: int, num_levels: int) -> None:
        super().__init__()
        self.num_types = num_types
        self.fc = nn.Linear(width, num_types + num_levels)

    def forward(self, fused: Tensor) -> tuple[Tensor, Tensor]:
        logits = self.fc(fused.mean(dim=(2, 3)))
        return logits[:, :self.num_types], logits[:, self.num_types:]


class AnnotatorHead(nn.Module):
    """Each of ``annotators`` simulated annotators' scores, read linearly from the globally pooled opinion maps
    ``(B, M, C, G, G)`` of the ``opinions`` opinion MALs."""

    def __init__(self, width: int, opinions: int, annotators: int) -> None:
        super().__init__()
        self.fc = nn.Linear(width * opinions, annotators)

    def forward(self, opinions: Tensor) -> Tensor:
        return self.fc(opinions.mean(dim=(3, 4)).flatten(1))


def annotator_loss(pred: Tensor, labels: BatchLabels, idx: Tensor) -> Tensor:
    """Mean squared error of the predicted scores against every annotator's score of the rows ``idx``."""
    return F.mse_loss(pred, labels.annotators[idx.cpu()].to(pred))


@dataclass
class AuxOutputs:
    """A training step's auxiliary outputs: distortion type and level ``logits``, the ``annotators``' scores and
    the ``local_map`` (each ``None`` when its head is off)."""

    logits: tuple[Tensor, Tensor] | None = None
    annotators: Tensor | None = None
    local_map: Tensor | None = None


class LocalMapHead(nn.Module):
    """The ``(B, G, G)`` local quality map from the fused map ``(B, C, G, G)``: one 1x1 convolution."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(width, 1, 1)

    def forward(self, fused: Tensor) -> Tensor:
        return self.conv(fused).squeeze(1)


def local_map_loss(pred: Tensor, target: Tensor, has: Tensor) -> Tensor:
    """Mean squared error of the predicted ``(B, G, G)`` maps against the rows' local targets, over the rows that
    have one (``has``); 0 for a batch without any."""
    has = has.to(pred.device, torch.bool)
    if not bool(has.any()):
        return pred.sum() * 0.0
    return F.mse_loss(pred[has], target.to(pred)[has])


def aux_loss(logits: tuple[Tensor, Tensor], labels: BatchLabels, idx: Tensor) -> Tensor:
    types, levels = logits
    idx = idx.cpu()
    return (F.cross_entropy(types, labels.type[idx].to(types.device))
            + F.cross_entropy(levels, labels.level[idx].to(levels.device)))


class TrainingNet(nn.Module):
    """``model`` (an IQANet) plus a training-only distillation ``adapter``, ``aux``, ``annotators`` and
    ``local_map`` heads; ``forward`` returns ``(features, AuxOutputs)`` with the adapter applied to the LDA/opinion
    features (``fused`` and ``score`` are the model's own; the heads read the model's own maps); :meth:`from_maps`
    does the same from (cached) backbone stage maps. ``frozen_bn`` keeps the backbone's BatchNorm layers in eval
    mode while training (their statistics stay)."""

    def __init__(self, model: nn.Module, adapter: nn.Module | None = None, aux: AuxHead | None = None,
                 frozen_bn: bool = False, annotators: AnnotatorHead | None = None,
                 local_map: LocalMapHead | None = None) -> None:
        super().__init__()
        self.model, self.adapter, self.aux, self.frozen_bn = model, adapter, aux, frozen_bn
        self.annotators, self.local_map = annotators, local_map

    def train(self, mode: bool = True) -> TrainingNet:
        super().train(mode)
        if mode and self.frozen_bn:
            for m in self.model.backbone.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        return self

    def _outputs(self, f: IQAFeatures) -> tuple[IQAFeatures, AuxOutputs]:
        extras = AuxOutputs(self.aux(f.fused) if self.aux is not None else None,
                            self.annotators(f.opinions) if self.annotators is not None else None,
                            self.local_map(f.fused) if self.local_map is not None else None)
        return (self.adapter(f) if self.adapter is not None else f), extras

    def forward(self, x: Tensor) -> tuple[IQAFeatures, AuxOutputs]:
        return self._outputs(self.model.features(x))

    def from_maps(self, maps: list[Tensor]) -> tuple[IQAFeatures, AuxOutputs]:
        return self._outputs(self.model.head_features(maps))
