"""mobileiqa model checkpoints: one self-describing file per model, loadable with ``weights_only=True``.

A checkpoint holds the registered name, the full :class:`HeadConfig`, the quality scale, the input
normalisation (checkpoints written before it was recorded load with ImageNet's), the explanation heads' config
(``None`` without them), free-form metadata (strings and numbers only) and the state dict. Writes are atomic
(temp file + rename).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch

from mobileiqa.atomic import atomic_path
from mobileiqa.models.backbone import create_backbone
from mobileiqa.models.explain import ExplainConfig
from mobileiqa.models.iqa_net import HeadConfig, IQANet
from mobileiqa.models.registry import get_spec
from mobileiqa.preprocess import Normalisation
from mobileiqa.scale import QualityScale

FORMAT = "mobileiqa-checkpoint"
VERSION = 1
HEADS = "explain_heads."  # state-dict prefix of the explanation heads


def _heads_fit(heads, state: dict) -> bool:
    """Whether the stored explanation-head tensors of ``state`` have exactly the names and shapes of ``heads``."""
    stored = {k[len(HEADS):]: tuple(v.shape) for k, v in state.items() if k.startswith(HEADS)}
    return stored == {k: tuple(v.shape) for k, v in heads.state_dict().items()}


def atomic_torch_save(obj, path: str | os.PathLike) -> Path:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return Path(path)


def save_model(model: IQANet, name: str, path: str | os.PathLike, meta: dict | None = None) -> Path:
    get_spec(name)  # fail early on an unregistered name
    return atomic_torch_save(
        {
            "format": FORMAT,
            "version": VERSION,
            "model": name,
            "head": model.config.to_dict(),
            "scale": model.scale.to_dict(),
            "normalisation": model.normalisation.to_dict(),
            "meta": dict(meta or {}),
            "explain": None if model.explain_heads is None else model.explain_heads.config.to_dict(),
            "state_dict": model.state_dict(),
        },
        path,
    )


def load_model(path: str | os.PathLike, map_location="cpu") -> tuple[IQANet, dict]:
    """Rebuild the model from a checkpoint (random-init backbone, then the stored weights). Returns
    ``(model in eval mode, checkpoint dict without the state dict)``."""
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"checkpoint not found: {path}") from None
    except Exception as exc:
        raise ValueError(f"{path}: not a readable torch checkpoint ({exc})") from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ValueError(f"{path}: not a mobileiqa checkpoint (no format={FORMAT!r}); "
                         "for a reference *.pkl use `mobileiqa convert-reference` first")
    if ckpt.get("version", 0) > VERSION:
        raise ValueError(f"{path}: checkpoint version {ckpt['version']} is newer than this mobileiqa ({VERSION})")
    spec = get_spec(ckpt["model"])
    model = IQANet(create_backbone(spec.backbone), HeadConfig.from_dict(ckpt["head"]),
                   Normalisation.from_dict(ckpt.get("normalisation")))
    state = ckpt.pop("state_dict")
    if ckpt.get("explain") is not None:
        heads = model.attach_explain_heads(ExplainConfig.from_dict(ckpt["explain"]))
        heads.upgrade_state(state, HEADS)
        if not _heads_fit(heads, state):
            warnings.warn(f"{path}: its explanation heads read an earlier layout of inputs; loading the model without "
                          "them (the score is unaffected). Train them anew: rerun the distill_student stage, or "
                          "`python benchmarks/explain_heads.py --model` on this file", stacklevel=2)
            model.explain_heads, ckpt["explain"] = None, None
            state = {k: v for k, v in state.items() if not k.startswith(HEADS)}
    model.load_state_dict(state)
    if model.scale != QualityScale.from_dict(ckpt["scale"]):
        raise ValueError(f"{path}: stored scale {ckpt['scale']} disagrees with the head config")
    return model.eval(), ckpt
