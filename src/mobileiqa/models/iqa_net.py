"""The MobileIQA network: backbone → one LDA per stage → opinion MALs → fusion MAL → score head.

Teacher and student share this class (PAPER.md, Architecture); only the backbone and :class:`HeadConfig`
differ. ``forward`` returns scores ``(B,)``; :meth:`IQANet.features` returns everything distillation needs;
:meth:`IQANet.explain` adds the optional explanation heads' quality map and opinion spread
(:mod:`mobileiqa.models.explain`), which read the features and never change the score.
``IQANet.normalisation`` is the input normalisation its backbone weights expect (it is not applied inside the
module: callers normalise with it, and checkpoints and exported files record it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from mobileiqa.models.explain import ExplainConfig, ExplainHeads, Explanation
from mobileiqa.models.head import ScoreHead
from mobileiqa.models.lda import LDA
from mobileiqa.models.mal import MAL
from mobileiqa.preprocess import IMAGENET, MIN_SIDE, Normalisation
from mobileiqa.scale import UNBOUNDED, UNIT, QualityScale
from mobileiqa.schema import known_fields


@dataclass(frozen=True)
class HeadConfig:
    """Every size of the IQA head. Defaults are the paper's (teacher head; the student sets pool=2, sigmoid)."""

    grid: int = 22  # LDA pools every stage to grid x grid
    width: int = 256  # channels of LDA maps and MAL features
    lda_hidden: int = 512  # LDA expansion width
    lda_pool_first: bool = False  # pool before expanding (cheap on HR inputs; not the paper's order)
    num_opinions: int = 3  # parallel opinion MALs ("annotators")
    qk_ratio: int = 8  # per-view self-attention: queries/keys are width // qk_ratio wide
    attn_rank: int | None = None  # token-attention projections: None = full (paper), r = low rank
    attn_dropout: float = 0.1
    head_channels: int = 128
    head_pool: int = 4  # teacher 4 (22 -> 5), student 2 (22 -> 11)
    head_hidden: int = 64
    dropout: float = 0.1
    sigmoid: bool = False  # bounded [0, 1] output (the student)

    def __post_init__(self) -> None:
        for name in ("grid", "width", "lda_hidden", "num_opinions", "qk_ratio", "head_channels", "head_pool",
                     "head_hidden"):
            if getattr(self, name) < 1:
                raise ValueError(f"HeadConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.grid // self.head_pool < 3:
            raise ValueError(
                f"HeadConfig: grid {self.grid} // head_pool {self.head_pool} = {self.grid // self.head_pool} is below "
                "3, the size the head's unpadded 3x3 conv needs; raise grid or lower head_pool"
            )
        if self.attn_rank is not None and self.attn_rank < 1:
            raise ValueError(f"HeadConfig.attn_rank must be None or >= 1, got {self.attn_rank}")

    @property
    def scale(self) -> QualityScale:
        return UNIT if self.sigmoid else UNBOUNDED

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> HeadConfig:
        return cls(**known_fields(cls, data))

    def distill_compatible(self, other: HeadConfig) -> bool:
        """Same LDA/opinion feature shapes, so features can be matched without adapters."""
        return (self.grid, self.width, self.num_opinions) == (other.grid, other.width, other.num_opinions)


@dataclass
class IQAFeatures:
    """Distillation features, batch first: ``lda (B, S, C, G, G)``, ``opinions (B, M, C, G, G)``,
    ``fused (B, C, G, G)``, ``score (B,)``."""

    lda: Tensor
    opinions: Tensor
    fused: Tensor
    score: Tensor

    def to(self, device) -> IQAFeatures:
        return IQAFeatures(self.lda.to(device), self.opinions.to(device), self.fused.to(device),
                           self.score.to(device))


class IQANet(nn.Module):
    def __init__(self, backbone: nn.Module, head: HeadConfig = HeadConfig(),
                 normalisation: Normalisation = IMAGENET) -> None:
        super().__init__()
        self.config, self.normalisation = head, normalisation
        self.backbone = backbone
        channels = list(backbone.feature_info.channels())
        self.lda = nn.ModuleList(
            LDA(c, head.lda_hidden, head.width, head.grid, head.lda_pool_first) for c in channels
        )
        mal = dict(qk_ratio=head.qk_ratio, rank=head.attn_rank, dropout=head.attn_dropout)
        self.opinions = nn.ModuleList(
            MAL(head.width, len(channels), head.grid, **mal) for _ in range(head.num_opinions)
        )
        self.fusion = MAL(head.width, head.num_opinions, head.grid, **mal)
        self.head = ScoreHead(head.width, head.head_channels, head.head_pool, head.head_hidden, head.dropout,
                              head.sigmoid)
        self.explain_heads: ExplainHeads | None = None  # attach_explain_heads() adds them

    def attach_explain_heads(self, config: ExplainConfig | None = None) -> ExplainHeads:
        """Add (or replace) the quality-map and spread heads; the rest of the model is untouched. Their
        initialisation draws from torch's global generator: seed it first for a reproducible init."""
        self.explain_heads = ExplainHeads(self.config.width, self.backbone.feature_info.channels(), self.config.grid,
                                          config or ExplainConfig())
        return self.explain_heads

    @property
    def scale(self) -> QualityScale:
        return self.config.scale

    def stage_maps(self, x: Tensor) -> list[Tensor]:
        """The backbone's stage maps of an image batch ``(B, 3, H, W)`` (checked)."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected an image batch (B, 3, H, W), got shape {tuple(x.shape)}")
        if min(x.shape[-2:]) < MIN_SIDE:
            raise ValueError(f"input {x.shape[-1]}x{x.shape[-2]} (WxH) is too small: both sides must be >= {MIN_SIDE}")
        return list(self.backbone(x))

    def features(self, x: Tensor) -> IQAFeatures:
        return self.head_features(self.stage_maps(x))

    def head_features(self, maps: Sequence[Tensor]) -> IQAFeatures:
        """Everything after the backbone, from its stage maps. With a pool-first LDA the maps may already be
        average-pooled to the grid (pooling them again is the identity): how a frozen backbone's cached maps train
        the head exactly (:mod:`mobileiqa.train.features_cache`)."""
        lda = torch.stack([block(f) for block, f in zip(self.lda, maps, strict=True)], dim=1)
        opinions = torch.stack([mal(lda) for mal in self.opinions], dim=1)
        fused = self.fusion(opinions)
        return IQAFeatures(lda=lda, opinions=opinions, fused=fused, score=self.head(fused))

    def explain(self, x: Tensor) -> Explanation:
        """The score with the explanation heads' quality map ``(B, G, G)`` and spread ``(B,)``."""
        if self.explain_heads is None:
            raise ValueError("this model has no explanation heads (attach_explain_heads, then train them with "
                             "mobileiqa.train.explain)")
        maps = self.stage_maps(x)
        grids = self.grid_maps(maps)
        return self.explanation(self.head_features(grids), grids, maps)

    def grid_maps(self, maps: Sequence[Tensor]) -> list[Tensor]:
        """With a pool-first LDA and explanation heads: every stage map average-pooled to the grid, once — the LDA
        blocks pool the grid again (the identity, so the score is unchanged) and the map head reads the same grids,
        so no full-resolution map is pooled twice (in an exported graph the pooling of the full-resolution maps was
        most of the heads' cost). Otherwise the maps as they are."""
        if not self.config.lda_pool_first or self.explain_heads is None:
            return list(maps)
        return [self.explain_heads.pool(m, self.config.grid) for m in maps]

    def explanation(self, f: IQAFeatures, grids: Sequence[Tensor], maps: Sequence[Tensor]) -> Explanation:
        """The explanation heads applied to features ``f``, the stage maps pooled to the grid (``grids``, from
        :meth:`grid_maps`; full-resolution maps do too) and the backbone's full-resolution stage ``maps``, all
        read detached: the heads never change them."""
        fused, opinions, lda = f.fused.detach(), f.opinions.detach(), f.lda.detach()
        grids, maps = [g.detach() for g in grids], [m.detach() for m in maps]
        return Explanation(score=f.score, quality_map=self.explain_heads.quality_map(lda, fused, grids),
                           spread=self.explain_heads.spread(fused, opinions, maps))

    def forward(self, x: Tensor) -> Tensor:
        return self.features(x).score
