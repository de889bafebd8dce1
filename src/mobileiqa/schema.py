"""Strict construction of frozen dataclasses from plain data (parsed YAML, ``--set`` values, options).

:func:`build` is the one typed path every config value goes through: unknown keys and values of the wrong type
raise :class:`ConfigError` naming the dotted key at fault, and a dataclass's own ``__post_init__`` checks are
reported the same way. It imports nothing from the project.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any


class ConfigError(ValueError):
    """A params file or override is wrong; the message names the file and the dotted key."""


def known_fields(cls: type, data: dict) -> dict:
    """``data`` checked to name only fields of the dataclass ``cls`` (a stored config read back): ``KeyError``
    naming the unknown keys and the valid ones."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise KeyError(f"unknown {cls.__name__} key(s) {unknown}; valid keys: {sorted(known)}")
    return dict(data)


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
