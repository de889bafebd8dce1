"""Typed score semantics: the range and direction of a model's quality score.

Every registered model declares its :class:`QualityScale`, and the scale travels with the model into
checkpoints, exported metadata and the registry, so callers never special-case a model by its name.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class QualityScale:
    """What a score means: its bounds (``None`` = unbounded) and its direction."""

    minimum: float | None
    maximum: float | None
    higher_is_better: bool = True

    def __post_init__(self) -> None:
        if self.minimum is not None and self.maximum is not None and self.minimum >= self.maximum:
            raise ValueError(f"QualityScale: minimum {self.minimum} must be below maximum {self.maximum}")

    @property
    def bounded(self) -> bool:
        return self.minimum is not None and self.maximum is not None

    def contains(self, value: float) -> bool:
        """True when ``value`` is a finite number inside the declared range."""
        if not math.isfinite(value):
            return False
        lo = -math.inf if self.minimum is None else self.minimum
        hi = math.inf if self.maximum is None else self.maximum
        return lo <= value <= hi

    def describe(self) -> str:
        lo = "-inf" if self.minimum is None else f"{self.minimum:g}"
        hi = "+inf" if self.maximum is None else f"{self.maximum:g}"
        return f"[{lo}, {hi}], {'higher' if self.higher_is_better else 'lower'} is better"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> QualityScale:
        return cls(**data)


#: Normalised MOS in [0, 1] (the student's sigmoid output).
UNIT = QualityScale(0.0, 1.0, higher_is_better=True)
#: Unbounded regression of normalised MOS (the teacher has no output activation).
UNBOUNDED = QualityScale(None, None, higher_is_better=True)
