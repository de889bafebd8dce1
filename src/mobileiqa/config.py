"""One config path: ``params.yaml`` (+ optional overlay files and ``key=value`` overrides) → frozen dataclasses.

Unknown keys and wrongly typed values fail with the file and dotted key at fault. Each pipeline stage reads
its own section; the CLI, DVC stages and Kubeflow components all go through :func:`load_params`.

Profiles (e.g. ``params/tiny.yaml``, ``params/paper.yaml``) are overlays: partial YAML files deep-merged over
``params.yaml`` in the order given.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML

from mobileiqa.atomic import write_text
from mobileiqa.data.settings import DataConfig, ValidateConfig
from mobileiqa.eval.settings import AblationConfig, EvaluateConfig
from mobileiqa.export.settings import ExportConfig
from mobileiqa.preprocess import PHOTO_HEIGHT, PHOTO_WIDTH
from mobileiqa.schema import ConfigError, build
from mobileiqa.tracking.settings import RegisterConfig, TrackingConfig
from mobileiqa.train.settings import DistillConfig, TrainConfig

__all__ = ["ConfigError", "ModelsConfig", "Params", "SummaryConfig", "apply_profile", "as_flat_dict", "build",
           "load_params", "write_defaults"]


@dataclass(frozen=True)
class ModelsConfig:
    """Which registered variants the pipeline trains, and where their backbone weights come from."""

    teacher: str = "mobileiqa_teacher_efficientnet_lite2"
    student: str = "mobileiqa_student_efficientnet_lite0"  # chosen by the ablation (docs/ABLATION.md)
    # backbone weights: null (random init), "package:<source>" (offline ImageNet weights from an installed
    # package, e.g. package:efficientnet-lite0), a local timm .safetensors/.pth file, or "hub"
    teacher_weights: str | None = "package:efficientnet-lite2"
    student_weights: str | None = "package:efficientnet-lite0"
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

    height: int = PHOTO_HEIGHT
    width: int = PHOTO_WIDTH


@dataclass(frozen=True)
class Params:
    data: DataConfig = field(default_factory=DataConfig)
    validate: ValidateConfig = field(default_factory=ValidateConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    train_teacher: TrainConfig = field(default_factory=TrainConfig)
    distill_student: DistillConfig = field(default_factory=DistillConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    register: RegisterConfig = field(default_factory=RegisterConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    summary: SummaryConfig = field(default_factory=SummaryConfig)
    ablation: AblationConfig = field(default_factory=AblationConfig)


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
    """Read ``path``, deep-merge each overlay file, apply ``section.key=value`` overrides, validate. An override's
    unknown key is named as the ``--set`` it came from, with the nearest valid key; a bad value it set is blamed
    on that ``--set``, not on the file."""
    path = Path(path)
    for assignment in overrides:
        check_override_key(assignment)
    try:
        return build(Params, _merged(_read_yaml(path), overlays, overrides), where=str(path))
    except ConfigError as exc:
        raise _blame_override(exc, str(path), overrides) from None


def _known_keys() -> set[str]:
    """Every dotted key of the typed config, sections and leaves (``data``, ``data.build``, ``data.build.seed``)."""
    keys: set[str] = set()
    for leaf in _flat(_as_data(Params())):
        parts = leaf.split(".")
        keys.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return keys


def _open_mappings() -> set[str]:
    """Dotted keys of mapping-typed fields, whose sub-keys are free (e.g. ``models.variant_weights``)."""
    out: set[str] = set()

    def walk(node: Any, prefix: str) -> None:
        for f in dataclasses.fields(node):
            value = getattr(node, f.name)
            if dataclasses.is_dataclass(value):
                walk(value, f"{prefix}{f.name}.")
            elif isinstance(value, dict):
                out.add(f"{prefix}{f.name}")

    walk(Params(), "")
    return out


def check_override_key(assignment: str) -> None:
    """``section.key=value`` must name a key the typed config has; the error suggests the nearest one."""
    key, sep, _ = assignment.partition("=")
    if not sep or not key:
        raise ConfigError(f"override {assignment!r}: expected section.key=value")
    known = _known_keys()
    if key in known or any(key.startswith(m + ".") for m in _open_mappings()):
        return
    close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else " (`mobileiqa profile defaults` writes every key)"
    section = key.split(".")[0]
    where = (f"section {section!r} has no key {key.removeprefix(section + '.')!r}" if section in known
             else f"there is no section {section!r}")
    raise ConfigError(f"--set {assignment}: unknown key: {where}{hint}")


def _blame_override(exc: ConfigError, where: str, overrides) -> ConfigError:
    """A validation error about a value an override set names the ``--set`` (``params.yaml.a.b: ...`` →
    ``--set a.b=v: ...``); a section-level error mentions the overrides of that section."""
    message = str(exc)
    for assignment in overrides:
        key = assignment.partition("=")[0]
        if message.startswith(f"{where}.{key}:"):
            return ConfigError(f"--set {assignment}:{message.removeprefix(f'{where}.{key}:')}")
    for assignment in overrides:
        section = assignment.partition("=")[0].rpartition(".")[0]
        if section and message.startswith(f"{where}.{section}:"):
            return ConfigError(f"{message} (set by --set {assignment})")
    return exc


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
    path = Path(path)
    for assignment in overrides:
        check_override_key(assignment)
    before = _read_yaml(path)
    merged = _merged(before, overlays, overrides)
    build(Params, merged, where=f"{path} + {', '.join(map(str, overlays)) or 'overrides'}")
    return _rewrite(path, before, merged)


def write_defaults(path: str | os.PathLike = "params.yaml") -> list[str]:
    """Write the typed config's defaults (:class:`Params` ``()``) into the params file ``path`` in place, keeping its
    comments and order; returns the dotted keys whose values changed.

    Every tunable's default has one home, its dataclass field; ``params.yaml`` is the full default profile written
    from them (``mobileiqa profile defaults``), and a test fails while the committed file differs. Change a default
    in the dataclass, run this, commit both."""
    path = Path(path)
    return _rewrite(path, _read_yaml(path), _as_data(Params()))


def _as_data(value: Any) -> Any:
    """A config dataclass as the plain data params.yaml holds (mappings, lists, scalars)."""
    if dataclasses.is_dataclass(value):
        return {f.name: _as_data(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: _as_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_as_data(v) for v in value]
    return value


def _rewrite(path: Path, before: dict, merged: dict) -> list[str]:
    """Write ``merged`` over the params file ``path`` (holding ``before``), changing only the values that differ
    so that comments, order and formatting stay; returns the dotted keys that changed."""
    old, new = _flat(before), _flat(merged)
    changed = sorted(k for k in old.keys() | new.keys() if old.get(k, ...) != new.get(k, ...))
    rt = YAML()
    rt.preserve_quotes = True
    rt.width = 4096
    rt.indent(mapping=2, sequence=4, offset=2)  # the committed files' layout: "  - item" under a key
    rt.representer.add_representer(type(None), lambda r, _: r.represent_scalar("tag:yaml.org,2002:null", "null"))
    doc = rt.load(path.read_text())

    def update(node, new: dict) -> None:
        for key, value in new.items():
            if isinstance(value, dict) and isinstance(node.get(key), dict):
                update(node[key], value)
            elif node.get(key, ...) != value:
                node[key] = copy.deepcopy(value)  # no YAML aliases between sections that shared an anchor

    update(doc, merged)
    if changed:
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
