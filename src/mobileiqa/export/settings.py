"""Typed params.yaml section for mobile export (formats, int8 drift bound); read through mobileiqa.config."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExportConfig:
    """The `export` section of params.yaml."""
