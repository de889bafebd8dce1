"""Metadata embedded in exported files (ONNX ``metadata_props``, carried into ``.ort`` files by the converter).

Every value is a JSON string under a ``mobileiqa.``-prefixed key, so any ONNX/ORT runtime (a phone included) can
read what it needs to score images the same way training and evaluation did:

===================== ===================================================================================
key                   value (JSON)
===================== ===================================================================================
mobileiqa.model       ``{"name", "version", "head"}`` — registered name, version (first 16 hex of the
                      checkpoint's sha256, or ``random-init``), head config
mobileiqa.preprocess  ``{"color": "RGB", "layout": "NCHW", "input_range": [0, 1], "mean", "std", "resize":
                      ResolutionPolicy dict, "resample": "bicubic", "exif_transpose": true, "min_side": 64}``;
                      ``mean``/``std`` are the model's :class:`~mobileiqa.preprocess.Normalisation` (read back
                      on load; a file without them means ImageNet's)
mobileiqa.scale       :class:`~mobileiqa.scale.QualityScale` dict: ``minimum``, ``maximum`` (null =
                      unbounded), ``higher_is_better``
mobileiqa.git_commit  ``{"export": commit of the exporting code, "train": commit recorded in the checkpoint}``
mobileiqa.dataset     ``{"manifest_sha256", "source"}`` — the manifest the model was trained on
                      (``source``: ``checkpoint`` or, for a checkpoint without it, ``export-dataset``)
mobileiqa.format      ``{"version": 1, "producer": "mobileiqa <version>"}``
mobileiqa.outputs     only in files of a model with explanation heads (:class:`ExplainOutputs`): the graph's
                      outputs beside ``score`` — ``quality_map`` ``(B, G, G)`` and ``spread`` ``(B,)`` — with
                      their shapes, ranges, grid orientation and meaning, and the heads' config. Absent = the
                      file has the one output ``score`` (every file exported before the heads existed).
===================== ===================================================================================

Every file has the input ``image`` ``(B, 3, H, W)`` and the output ``score`` ``(B,)`` on ``mobileiqa.scale``.
A file with ``mobileiqa.outputs`` also has ``quality_map``: local quality on the normalised MOS scale [0, 1]
(higher is better), a ``G x G`` grid over the whole input image (row 0 = top, column 0 = left); and ``spread``:
the predicted standard deviation of the annotators' opinion scores in normalised MOS units, i.e. how much raters
would *disagree* about the image — not a confidence interval of the model's error.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from mobileiqa import __version__
from mobileiqa.export.runtime import OUTPUT as SCORE
from mobileiqa.export.runtime import QUALITY_MAP, SPREAD
from mobileiqa.preprocess import IMAGENET, MIN_SIDE, Normalisation, ResolutionPolicy
from mobileiqa.scale import QualityScale

PREFIX = "mobileiqa."
FORMAT_VERSION = 1
SPREAD_MEANING = ("predicted standard deviation of the annotators' opinion scores (normalised MOS units): how much "
                  "raters would disagree about the image; not a confidence interval of the model's error")
MAP_MEANING = "local quality on the normalised MOS scale [0, 1], higher is better"
MAP_LAYOUT = ("G x G grid over the whole input image, row-major: row 0 = top, column 0 = left; cells are even "
              "adaptive-pooling bins of the image (not square on a non-square image)")


@dataclass(frozen=True)
class ExplainOutputs:
    """The explanation heads' outputs an exported file carries: the map's grid size and the heads' config."""

    grid: int
    heads: dict  # ExplainConfig dict

    def __post_init__(self) -> None:
        if int(self.grid) < 1:
            raise ValueError(f"ExplainOutputs.grid must be >= 1, got {self.grid}")

    def to_dict(self) -> dict:
        """The ``mobileiqa.outputs`` value."""
        return {
            SCORE: {"shape": ["batch"], "meaning": "image quality on mobileiqa.scale"},
            QUALITY_MAP: {"shape": ["batch", self.grid, self.grid], "minimum": 0.0, "maximum": 1.0,
                          "higher_is_better": True, "meaning": MAP_MEANING, "layout": MAP_LAYOUT},
            SPREAD: {"shape": ["batch"], "minimum": 0.0, "maximum": None, "units": "normalised MOS",
                     "meaning": SPREAD_MEANING},
            "explain_heads": dict(self.heads),
        }

    @classmethod
    def from_dict(cls, data: dict, where: str = "model") -> ExplainOutputs:
        try:
            shape = data[QUALITY_MAP]["shape"]
            if SPREAD not in data or len(shape) != 3 or shape[1] != shape[2]:
                raise ValueError(f"expected {QUALITY_MAP} (batch, G, G) and {SPREAD}")
            return cls(grid=int(shape[1]), heads=dict(data.get("explain_heads") or {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{where}: metadata key {PREFIX}outputs is malformed ({exc}); re-export the "
                             "file") from None

    @property
    def names(self) -> tuple[str, ...]:
        return (QUALITY_MAP, SPREAD)


@dataclass(frozen=True)
class ExportMetadata:
    """What an exported file says about itself (decoded)."""

    model: str
    version: str
    scale: QualityScale
    policy: ResolutionPolicy
    git_commit: dict
    dataset: dict
    head: dict | None = None
    normalisation: Normalisation = IMAGENET
    explain: ExplainOutputs | None = None  # the explanation heads' outputs (None: the file has only ``score``)

    @property
    def outputs(self) -> tuple[str, ...]:
        """The graph's output names: ``score``, then ``quality_map`` and ``spread`` with explanation heads."""
        return (SCORE,) if self.explain is None else (SCORE, *self.explain.names)

    def to_props(self) -> dict[str, str]:
        """``{key: JSON string}`` for ONNX ``metadata_props``."""
        preprocess = {"color": "RGB", "layout": "NCHW", "input_range": [0.0, 1.0], **self.normalisation.to_dict(),
                      "resize": self.policy.to_dict(), "resample": "bicubic", "exif_transpose": True,
                      "min_side": MIN_SIDE}
        values = {"model": {"name": self.model, "version": self.version, "head": self.head},
                  "preprocess": preprocess, "scale": self.scale.to_dict(), "git_commit": self.git_commit,
                  "dataset": self.dataset,
                  "format": {"version": FORMAT_VERSION, "producer": f"mobileiqa {__version__}"}}
        if self.explain is not None:
            values["outputs"] = self.explain.to_dict()
        return {PREFIX + k: json.dumps(v, sort_keys=True) for k, v in values.items()}

    def to_dict(self) -> dict:
        return {k.removeprefix(PREFIX): json.loads(v) for k, v in self.to_props().items()}

    @classmethod
    def from_props(cls, props: dict[str, str], where: str = "model") -> ExportMetadata:
        """Decode ``metadata_props``; errors name the file and the missing/broken key."""
        data = {}
        for key in ("model", "preprocess", "scale", "git_commit", "dataset"):
            raw = props.get(PREFIX + key)
            if raw is None:
                raise ValueError(f"{where}: metadata key {PREFIX + key!r} is missing; this file was not exported by "
                                 "`mobileiqa export` (re-export it)")
            try:
                data[key] = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{where}: metadata key {PREFIX + key!r} is not valid JSON ({exc})") from None
        fmt = json.loads(props.get(PREFIX + "format", "{}") or "{}")
        if int(fmt.get("version", FORMAT_VERSION)) > FORMAT_VERSION:
            raise ValueError(f"{where}: metadata format {fmt['version']} is newer than this mobileiqa "
                             f"({FORMAT_VERSION}); upgrade mobileiqa")
        explain = None
        if PREFIX + "outputs" in props:
            try:
                explain = ExplainOutputs.from_dict(json.loads(props[PREFIX + "outputs"]), where)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{where}: metadata key {PREFIX}outputs is not valid JSON ({exc})") from None
        pre = data["preprocess"]
        try:
            norm = Normalisation.from_dict({"mean": pre["mean"], "std": pre["std"]} if "mean" in pre else None)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{where}: metadata key {PREFIX}preprocess has an invalid mean/std ({exc})") from None
        return cls(model=data["model"]["name"], version=str(data["model"].get("version", "")),
                   scale=QualityScale.from_dict(data["scale"]), policy=ResolutionPolicy(**pre["resize"]),
                   git_commit=data["git_commit"], dataset=data["dataset"], head=data["model"].get("head"),
                   normalisation=norm, explain=explain)


def embed(model_proto, meta: ExportMetadata) -> None:
    """Write ``meta`` into an ``onnx.ModelProto`` (replacing earlier mobileiqa keys), in place."""
    keep = [(p.key, p.value) for p in model_proto.metadata_props if not p.key.startswith(PREFIX)]
    del model_proto.metadata_props[:]
    for key, value in [*keep, *meta.to_props().items()]:
        prop = model_proto.metadata_props.add()
        prop.key, prop.value = key, value
    model_proto.producer_name, model_proto.producer_version = "mobileiqa", __version__
    heads = "" if meta.explain is None else f"; explanation outputs {QUALITY_MAP}, {SPREAD} (see {PREFIX}outputs)"
    model_proto.doc_string = (f"{meta.model} ({meta.version}): no-reference image quality, "
                              f"score {meta.scale.describe()}{heads}")


def read_props(path: str | os.PathLike) -> dict[str, str]:
    """Custom metadata of an ``.onnx`` or ``.ort`` file (through onnxruntime, which reads both)."""
    import onnxruntime as ort

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    return dict(session.get_modelmeta().custom_metadata_map)


def read_metadata(path: str | os.PathLike) -> ExportMetadata:
    return ExportMetadata.from_props(read_props(path), where=str(path))
