"""The sizes of the explanation heads (:mod:`mobileiqa.models.explain`), torch-free: the one home of their
defaults, which the training recipe (``distill_student.explain``, read without torch) takes too, and what
checkpoints and exported metadata record."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from mobileiqa.schema import known_fields


@dataclass(frozen=True)
class ExplainConfig:
    """Sizes of the two heads (recorded in checkpoints and exported metadata)."""

    hidden: int = 64  # channels of the map head, width of the spread head's hidden layer
    fine: int = 2  # the map head mixes cells on a fine x finer grid (trained on targets of that grid), then averages
    map_members: int = 3  # independently initialised map heads side by side (grouped convs), each trained on the
    #                       targets, their maps averaged: an ensemble inside one graph
    # the spread head also reads every stage channel's spatial mean, and the correlations between the channels of
    # these stages (texture statistics that tell the distortion type apart; c(c - 1)/2 inputs for c channels; a
    # stage the backbone lacks is skipped)
    stage_means: bool = True
    corr_stages: tuple[int, ...] = (2,)
    spread_dropout: float = 0.5  # dropout on the spread head's standardised inputs while it trains

    def __post_init__(self) -> None:
        for name in ("hidden", "fine", "map_members"):
            if getattr(self, name) < 1:
                raise ValueError(f"ExplainConfig.{name} must be >= 1, got {getattr(self, name)}")
        object.__setattr__(self, "corr_stages", tuple(int(i) for i in self.corr_stages))
        if any(i < 0 for i in self.corr_stages) or len(set(self.corr_stages)) != len(self.corr_stages):
            raise ValueError(f"ExplainConfig.corr_stages must be distinct stage indices >= 0, got {self.corr_stages}")
        if not 0.0 <= self.spread_dropout < 1.0:
            raise ValueError(f"ExplainConfig.spread_dropout must be in [0, 1), got {self.spread_dropout}")

    def to_dict(self) -> dict:
        return {**asdict(self), "corr_stages": list(self.corr_stages)}

    @classmethod
    def from_dict(cls, data: dict) -> ExplainConfig:
        # heads saved before ``fine`` existed mixed cells on the grid itself (and had one map member); before the
        # stage means and channel correlations, the spread head read neither (and had no dropout)
        old = {"fine": 1, "map_members": 1, "stage_means": False, "corr_stages": (), "spread_dropout": 0.0}
        return cls(**{**old, **known_fields(cls, data)})
