"""Reference checkpoints: map the key layout of the paper's code (PAPER.md, "Checkpoint layout") to ours.

The reference saves ``torch.save(state_dict)`` as ``*.pkl``. Its teacher keys start with ``global_vit.`` and
``LGF1..5``, its student keys with ``local_cnn.`` and ``LDA1..5``; MAL, fusion and head names are shared. The
mapping is a pure renaming (no tensor changes), tested in both directions; together with the tensor bookkeeping
in :mod:`mobileiqa.models.mal` the faithful variants reproduce the reference outputs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

import torch
from torch import Tensor

from mobileiqa.models.iqa_net import IQANet
from mobileiqa.models.registry import STUDENT, TEACHER, create_model

FAITHFUL = {TEACHER: "mobileiqa_teacher_mobilevitv2_200", STUDENT: "mobileiqa_student_mobilenetv3_large_100"}
_BACKBONE = {TEACHER: "global_vit", STUDENT: "local_cnn"}
_LDA = {TEACHER: "LGF", STUDENT: "LDA"}

# Literal renamings (reference, ours), applied to the part of a key after its MAL prefix / as a head prefix.
_MAL_PARTS = [
    ("channel_attention.c_", "position_tokens."),  # reference "channel" attention: tokens are positions
    ("feature_attention.c_", "channel_tokens."),  # reference "feature" attention: tokens are channels
    ("attention_module.", "views."),
    (".qConv.", ".query."),
    (".kConv.", ".key."),
    (".vConv.", ".value."),
]
_HEAD = [
    ("cnn.0.", "head.reduce."),
    ("cnn.3.", "head.conv."),
    ("fc_score.0.", "head.fc1."),
    ("fc_score.3.", "head.fc2."),
]


def detect_role(state_dict: Mapping[str, Tensor]) -> str:
    for role, prefix in _BACKBONE.items():
        if any(k.startswith(prefix + ".") for k in state_dict):
            return role
    raise ValueError("not a reference MobileIQA state dict: no key starts with 'global_vit.' (teacher) or "
                     "'local_cnn.' (student)")


def _rename(key: str, role: str, to_ours: bool) -> str:
    """Rename one key in either direction; KeyError when it has no counterpart."""
    backbone, lda = _BACKBONE[role], _LDA[role]
    src_backbone, dst_backbone = (backbone, "backbone") if to_ours else ("backbone", backbone)
    if key.startswith(src_backbone + "."):
        return dst_backbone + key[len(src_backbone):]
    for ref, ours in _HEAD:
        src, dst = (ref, ours) if to_ours else (ours, ref)
        if key.startswith(src):
            return dst + key[len(src):]
    if to_ours:
        m = re.match(rf"^{lda}([1-9])\.cnn([12])\.(.*)$", key)
        if m:
            return f"lda.{int(m.group(1)) - 1}.{'expand' if m.group(2) == '1' else 'reduce'}.{m.group(3)}"
        m = re.match(r"^(?:MALs\.(\d+)|fusion_mal)\.(.*)$", key)
        prefix = None if m is None else (f"opinions.{m.group(1)}." if m.group(1) is not None else "fusion.")
    else:
        m = re.match(r"^lda\.(\d+)\.(expand|reduce)\.(.*)$", key)
        if m:
            return f"{lda}{int(m.group(1)) + 1}.{'cnn1' if m.group(2) == 'expand' else 'cnn2'}.{m.group(3)}"
        m = re.match(r"^(?:opinions\.(\d+)|fusion)\.(.*)$", key)
        prefix = None if m is None else (f"MALs.{m.group(1)}." if m.group(1) is not None else "fusion_mal.")
    if prefix is not None:
        rest = m.group(2)
        for ref, ours in _MAL_PARTS:
            rest = rest.replace(ref, ours) if to_ours else rest.replace(ours, ref)
        if rest != m.group(2):
            return prefix + rest
    side = "the" if to_ours else "the reference"
    raise KeyError(f"key {key!r} has no counterpart in {side} {role} layout")


def _strip_wrappers(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Drop ``module.`` prefixes left by (Distributed)DataParallel."""
    return {k.removeprefix("module."): v for k, v in state_dict.items()}


def from_reference(state_dict: Mapping[str, Tensor], role: str | None = None) -> dict[str, Tensor]:
    """Reference key layout → ours."""
    sd = _strip_wrappers(state_dict)
    role = role or detect_role(sd)
    return {_rename(k, role, to_ours=True): v for k, v in sd.items()}


def to_reference(state_dict: Mapping[str, Tensor], role: str) -> dict[str, Tensor]:
    """Our key layout → the reference's (for comparing against, or feeding, the reference code)."""
    return {_rename(k, role, to_ours=False): v for k, v in state_dict.items()}


def load_reference(path: str | os.PathLike) -> tuple[str, IQANet]:
    """Load a reference ``*.pkl`` state dict into the faithful variant. Returns ``(model_name, model)``."""
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{path}: cannot read as a torch state dict ({exc})") from exc
    if isinstance(raw, Mapping) and "state_dict" in raw and isinstance(raw["state_dict"], Mapping):
        raw = raw["state_dict"]
    if not isinstance(raw, Mapping) or not all(isinstance(v, Tensor) for v in raw.values()):
        raise ValueError(f"{path}: expected a state dict (name -> tensor) saved by the reference code")
    role = detect_role(_strip_wrappers(raw))
    name = FAITHFUL[role]
    model = create_model(name)
    converted = from_reference(raw, role)
    missing, unexpected = model.load_state_dict(converted, strict=False)
    if missing or unexpected:
        raise ValueError(f"{path}: does not fit {name}: {len(missing)} missing keys (first: {sorted(missing)[:3]}), "
                         f"{len(unexpected)} unexpected keys (first: {sorted(unexpected)[:3]})")
    return name, model
