"""One config path: ``params.yaml`` (+ optional overlay files and ``key=value`` overrides) → frozen dataclasses.

Unknown keys and wrongly typed values fail with the file and dotted key at fault. Each pipeline stage reads
its own section; the CLI, DVC stages and Kubeflow components all go through :func:`load_params`.

Profiles (e.g. ``params/tiny.yaml``, ``params/paper.yaml``) are overlays: partial YAML files deep-merged over
``params.yaml`` in the order given.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mobileiqa.data.prepare import DataConfig
from mobileiqa.data.validate import GateOptions
from mobileiqa.eval.settings import AblationConfig, EvaluateConfig
from mobileiqa.export.settings import ExportConfig
from mobileiqa.models.registry import (
    DEFAULT_STUDENT,
    DEFAULT_STUDENT_WEIGHTS,
    DEFAULT_TEACHER,
    DEFAULT_TEACHER_WEIGHTS,
)
from mobileiqa.tracking.mlflow_logger import TrackingConfig
from mobileiqa.tracking.settings import RegisterConfig
from mobileiqa.train.distill import DistillConfig
from mobileiqa.train.recipe import TrainConfig


@dataclass(frozen=True)
class ModelsConfig:
    """Which registered variants the pipeline trains, and where their backbone weights come from."""

    teacher: str = DEFAULT_TEACHER
    student: str = DEFAULT_STUDENT
    # backbone weights: null (random init), "package:<source>" (offline ImageNet weights from an installed
    # package, e.g. package:efficientnet-lite0), a local timm .safetensors/.pth file, or "hub"
    teacher_weights: str | None = DEFAULT_TEACHER_WEIGHTS
    student_weights: str | None = DEFAULT_STUDENT_WEIGHTS
    # weights of the other models the benchmarks train (ablation variants, generalisation), by registered name;
    # a model not listed starts from random weights
    variant_weights: dict = field(
        default_factory=lambda: {"mobileiqa_student_efficientnet_lite1": "package:efficientnet-lite1"})

    def weights_for(self, model: str) -> str | None:
        """The configured backbone weights of registered model ``model``."""
        if model == self.teacher:
            return self.teacher_weights
        if model == self.student:
            return self.student_weights
        return self.variant_weights.get(model)


@dataclass(frozen=True)
class SummaryConfig:
    """Resolution (H x W) at which the model summary stage reports GMACs."""

    height: int = 1231
    width: int = 1907


@dataclass(frozen=True)
class Params:
    data: DataConfig = field(default_factory=DataConfig)
    validate: GateOptions = field(default_factory=GateOptions)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    train_teacher: TrainConfig = field(default_factory=TrainConfig)
    distill_student: DistillConfig = field(default_factory=DistillConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    register: RegisterConfig = field(default_factory=RegisterConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    summary: SummaryConfig = field(default_factory=SummaryConfig)
    ablation: AblationConfig = field(default_factory=AblationConfig)


class ConfigError(ValueError):
    """A params file or override is wrong; the message names the file and the dotted key."""


def _convert(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        return build(tp, value, where)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _convert(arg, value, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{where}: {value!r} fits none of {args}")
    if tp is dict or origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        (item,) = typing.get_args(tp)[:1]
        items = [_convert(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if tp is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if tp in (int, str, bool) and type(value) is tp:
        return value
    raise ConfigError(f"{where}: expected {getattr(tp, '__name__', tp)}, got {value!r}")


def build(cls: type, data: dict, where: str = "params") -> Any:
    """Build dataclass ``cls`` from ``data`` strictly (unknown keys and wrong types are errors)."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; valid keys: {sorted(names)}")
    values = {k: _convert(hints[k], v, f"{where}.{k}") for k, v in data.items()}
    try:
        return cls(**values)
    except (ValueError, TypeError) as exc:  # a dataclass's own checks (e.g. TrainConfig.optimizer)
        raise ConfigError(f"{where}: {exc}") from None


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"params file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of sections")
    return data


def _override(data: dict, assignment: str) -> dict:
    key, sep, raw = assignment.partition("=")
    if not sep or not key:
        raise ConfigError(f"override {assignment!r}: expected section.key=value")
    node: dict = {}
    parts = key.split(".")
    cur = node
    for part in parts[:-1]:
        cur = cur.setdefault(part, {})
    cur[parts[-1]] = yaml.safe_load(raw)
    return _merge(data, node)


def load_params(path: str | os.PathLike = "params.yaml", overlays=(), overrides=()) -> Params:
    """Read ``path``, deep-merge each overlay file, apply ``section.key=value`` overrides, validate."""
    path = Path(path)
    return build(Params, _merged(_read_yaml(path), overlays, overrides), where=str(path))


def _merged(data: dict, overlays=(), overrides=()) -> dict:
    """``data`` with each overlay file deep-merged and each ``section.key=value`` override applied, in order."""
    for overlay in overlays:
        data = _merge(data, _read_yaml(Path(overlay)))
    for assignment in overrides:
        data = _override(data, assignment)
    return data


def apply_profile(path: str | os.PathLike, overlays, overrides=()) -> list[str]:
    """Deep-merge ``overlays`` (and ``key=value`` overrides) into the params file ``path`` in place, keeping its
    comments and order, and return the dotted keys whose values changed. The result is validated first and
    written atomically, so a bad overlay leaves ``path`` untouched.

    This is how a profile reaches DVC: stages read ``params.yaml`` only (granular ``params:`` deps), so
    ``mobileiqa profile apply params/tiny.yaml && dvc exp run`` reruns exactly what the profile changes (revert
    with ``git checkout params.yaml``); ``--overlay`` on the CLI and the Kubeflow ``overlay_yaml`` parameter apply
    the same merge to a copy in memory."""
    import copy
    import io

    from ruamel.yaml import YAML

    from mobileiqa.atomic import write_text

    path = Path(path)
    before = _read_yaml(path)
    merged = _merged(before, overlays, overrides)
    build(Params, merged, where=f"{path} + {', '.join(map(str, overlays)) or 'overrides'}")
    old, new = _flat(before), _flat(merged)
    changed = sorted(k for k in old.keys() | new.keys() if old.get(k, ...) != new.get(k, ...))

    rt = YAML()
    rt.preserve_quotes = True
    rt.width = 4096
    doc = rt.load(path.read_text())

    def update(node, new: dict) -> None:
        for key, value in new.items():
            if isinstance(value, dict) and isinstance(node.get(key), dict):
                update(node[key], value)
            elif node.get(key, ...) != value:
                node[key] = copy.deepcopy(value)  # no YAML aliases between sections that shared an anchor

    update(doc, merged)
    buf = io.StringIO()
    rt.dump(doc, buf)
    write_text(path, buf.getvalue())
    return changed


def _flat(data: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and value:
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def as_flat_dict(params: Any, prefix: str = "") -> dict[str, Any]:
    """Flatten a config dataclass to ``{"section.key": value}`` (for tracking)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(params):
        value = getattr(params, f.name)
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            out.update(as_flat_dict(value, key + "."))
        else:
            out[key] = value
    return out
