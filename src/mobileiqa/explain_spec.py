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

    def __post_init__(self) -> None:
        for name in ("hidden", "fine"):
            if getattr(self, name) < 1:
                raise ValueError(f"ExplainConfig.{name} must be >= 1, got {getattr(self, name)}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ExplainConfig:
        # heads saved before ``fine`` existed mixed cells on the grid itself
        return cls(**{"fine": 1, **known_fields(cls, data)})
