"""Typed params.yaml section for evaluation (metrics, baselines, plots); read through mobileiqa.config."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EvaluateConfig:
    """The `evaluate` section of params.yaml."""
