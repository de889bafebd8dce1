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
===================== ===================================================================================
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from mobileiqa import __version__
from mobileiqa.preprocess import IMAGENET, MIN_SIDE, Normalisation, ResolutionPolicy
from mobileiqa.scale import QualityScale

PREFIX = "mobileiqa."
FORMAT_VERSION = 1


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

    def to_props(self) -> dict[str, str]:
        """``{key: JSON string}`` for ONNX ``metadata_props``."""
        preprocess = {"color": "RGB", "layout": "NCHW", "input_range": [0.0, 1.0], **self.normalisation.to_dict(),
                      "resize": self.policy.to_dict(), "resample": "bicubic", "exif_transpose": True,
                      "min_side": MIN_SIDE}
        values = {"model": {"name": self.model, "version": self.version, "head": self.head},
                  "preprocess": preprocess, "scale": self.scale.to_dict(), "git_commit": self.git_commit,
                  "dataset": self.dataset,
                  "format": {"version": FORMAT_VERSION, "producer": f"mobileiqa {__version__}"}}
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
        pre = data["preprocess"]
        try:
            norm = Normalisation.from_dict({"mean": pre["mean"], "std": pre["std"]} if "mean" in pre else None)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{where}: metadata key {PREFIX}preprocess has an invalid mean/std ({exc})") from None
        return cls(model=data["model"]["name"], version=str(data["model"].get("version", "")),
                   scale=QualityScale.from_dict(data["scale"]), policy=ResolutionPolicy(**pre["resize"]),
                   git_commit=data["git_commit"], dataset=data["dataset"], head=data["model"].get("head"),
                   normalisation=norm)


def embed(model_proto, meta: ExportMetadata) -> None:
    """Write ``meta`` into an ``onnx.ModelProto`` (replacing earlier mobileiqa keys), in place."""
    keep = [(p.key, p.value) for p in model_proto.metadata_props if not p.key.startswith(PREFIX)]
    del model_proto.metadata_props[:]
    for key, value in [*keep, *meta.to_props().items()]:
        prop = model_proto.metadata_props.add()
        prop.key, prop.value = key, value
    model_proto.producer_name, model_proto.producer_version = "mobileiqa", __version__
    model_proto.doc_string = (f"{meta.model} ({meta.version}): no-reference image quality, "
                              f"score {meta.scale.describe()}")


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
