"""Typed params.yaml section for model registry (registration, promotion gates); read through mobileiqa.config."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RegisterConfig:
    """The `register` section of params.yaml."""
