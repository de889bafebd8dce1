"""The export formats table: what ``mobileiqa export`` can write, the files each format produces and the options
it accepts. :func:`resolve` validates a request (formats + ``NAME=VALUE`` options) against it and never
"fixes" a bad argument: an unknown or unavailable format, a missing prerequisite format, an unknown option or
a badly typed value is an error that says what is valid.

================ =============================================== ==============================================
format           files                                           what
================ =============================================== ==============================================
onnx             model.onnx                                      fp32 ONNX, dynamic batch/height/width, metadata
ort              model.ort, model.required_operators.config,     ORT format for onnxruntime-mobile, parity vs
                 mobile_check.txt                                ONNX, operator list, mobile usability report
int8             model.int8.onnx, model.int8.ort                 static QDQ int8, shipped only within the drift
                                                                 bound (export.int8_max_srcc_drop)
coreml, tflite   —                                               not available (out of scope; see README)
================ =============================================== ==============================================

Every file has the output ``score``; a model with explanation heads also ``quality_map`` and ``spread``, in every
format, int8 included (:mod:`mobileiqa.export.metadata`, key ``mobileiqa.outputs``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import yaml

from mobileiqa.preprocess import MIN_SIDE, PHOTO_HEIGHT, PHOTO_WIDTH
from mobileiqa.schema import ConfigError, build


class ExportArgumentError(ValueError):
    """An export request that the formats table rejects; the message says what is valid."""


@dataclass(frozen=True)
class Format:
    name: str
    files: tuple[str, ...]
    description: str
    options: tuple[str, ...] = ()  # ExportConfig fields this format reads
    requires: tuple[str, ...] = ()  # formats that must be requested too
    unavailable: str = ""  # non-empty: why this format cannot be produced


#: Options every request accepts (the latency probe recorded in export.json).
COMMON_OPTIONS = ("latency_width", "latency_height", "latency_threads", "latency_repeats",
                  "latency_profile_repeats")

FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("onnx", ("model.onnx",), "fp32 ONNX with dynamic batch/height/width and embedded metadata",
           ("opset", "parity_atol", "parity_sizes")),
    Format("ort", ("model.ort", "model.required_operators.config", "mobile_check.txt"),
           "ORT format for onnxruntime mobile; parity vs ONNX, operator list, mobile usability report",
           requires=("onnx",)),
    Format("int8", ("model.int8.onnx", "model.int8.ort"),
           "static QDQ int8 calibrated on train images; shipped only when test-split drift is within the bound",
           ("int8_max_srcc_drop", "calibration_images", "calibrate_method", "per_channel", "drift_max_images"),
           requires=("onnx", "ort")),
    Format("coreml", (), "Core ML", unavailable="out of scope for this project (README, Export); use the .ort file"),
    Format("tflite", (), "TensorFlow Lite", unavailable="out of scope for this project (README, Export); "
                                                        "use the .ort file"),
)}


def available_formats() -> list[str]:
    return [n for n, f in FORMATS.items() if not f.unavailable]


def describe() -> str:
    """The table as text (``mobileiqa export --list-formats``)."""
    lines = []
    for f in FORMATS.values():
        state = f"NOT AVAILABLE: {f.unavailable}" if f.unavailable else ", ".join(f.files)
        lines.append(f"{f.name:8} {f.description}\n{'':8} files: {state}")
        if f.options:
            lines.append(f"{'':8} options: {', '.join(f.options)}")
        if f.requires:
            lines.append(f"{'':8} requires: {', '.join(f.requires)}")
    lines.append(f"common options: {', '.join(COMMON_OPTIONS)}")
    return "\n".join(lines)


def check_formats(formats) -> tuple[str, ...]:
    """Validate a list of format names; returns them in table order."""
    if isinstance(formats, str):
        formats = [f for f in formats.split(",") if f.strip()]
    names = [str(f).strip().lower() for f in formats]
    if not names:
        raise ExportArgumentError(f"no export format requested; choose from {available_formats()}")
    for name in names:
        if name not in FORMATS:
            raise ExportArgumentError(f"unknown export format {name!r}; available: {available_formats()} "
                                      "(see `mobileiqa export --list-formats`)")
        if FORMATS[name].unavailable:
            raise ExportArgumentError(f"export format {name!r} is not available: {FORMATS[name].unavailable}")
    for name in names:
        missing = [r for r in FORMATS[name].requires if r not in names]
        if missing:
            raise ExportArgumentError(f"export format {name!r} needs {missing} too (it is built from them); "
                                      f"request e.g. --formats {','.join(dict.fromkeys([*missing, *names]))}")
    return tuple(n for n in FORMATS if n in names)


def parse_size(text: str, where: str = "size") -> tuple[int, int]:
    """``"WxH"`` → ``(width, height)``, both at least the models' minimum side."""
    try:
        w, h = (int(v) for v in str(text).lower().split("x"))
    except ValueError:
        raise ExportArgumentError(f"{where}: {text!r} is not a WxH size such as {PHOTO_WIDTH}x{PHOTO_HEIGHT}") from None
    if min(w, h) < MIN_SIDE:
        raise ExportArgumentError(f"{where}: {text!r} is below the models' {MIN_SIDE} px minimum side")
    return w, h


def _allowed_options(formats: tuple[str, ...]) -> dict[str, str]:
    allowed = {o: "all formats" for o in COMMON_OPTIONS}
    for name in formats:
        allowed.update({o: name for o in FORMATS[name].options})
    return allowed


def _coerce(name: str, raw, field: dataclasses.Field, cls: type):
    value = yaml.safe_load(raw) if isinstance(raw, str) else raw
    if isinstance(value, str) and "," in value and field.type in ("list[str]",):
        value = [v.strip() for v in value.split(",")]
    try:  # one typed path: the same converter params.yaml goes through
        return getattr(build(cls, {name: value}, where="export option"), name)
    except ConfigError as exc:
        raise ExportArgumentError(str(exc)) from None


def resolve(formats, options: dict | None, base):
    """Validate ``formats`` and ``options`` (``{name: value or "text"}``) against the table; returns
    ``(formats in table order, ExportConfig with the options applied)``."""
    chosen = check_formats(formats if formats is not None else base.formats)
    allowed = _allowed_options(chosen)
    fields = {f.name: f for f in dataclasses.fields(base)}
    changes = {}
    for name, raw in (options or {}).items():
        if name not in allowed:
            owner = next((f.name for f in FORMATS.values() if name in f.options), None)
            hint = f" (it belongs to format {owner!r}, which was not requested)" if owner else ""
            raise ExportArgumentError(f"unknown option {name!r} for formats {list(chosen)}{hint}; valid options: "
                                      f"{sorted(allowed)}")
        changes[name] = _coerce(name, raw, fields[name], type(base))
    try:
        cfg = dataclasses.replace(base, formats=list(chosen), **changes)
    except ValueError as exc:
        raise ExportArgumentError(str(exc)) from None
    return chosen, cfg


def parse_options(pairs) -> dict[str, str]:
    """``["name=value", ...]`` (CLI ``--option``) → ``{name: "value"}``; a pair without ``=`` is an error."""
    out = {}
    for pair in pairs or ():
        name, sep, value = str(pair).partition("=")
        if not sep or not name.strip():
            raise ExportArgumentError(f"option {pair!r}: expected NAME=VALUE, e.g. int8_max_srcc_drop=0.01")
        out[name.strip()] = value
    return out
