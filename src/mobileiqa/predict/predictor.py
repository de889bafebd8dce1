"""The :class:`Predictor`: a model (checkpoint, ONNX/ORT file or registry version) plus its preprocessing, called
on images for one score each; :class:`Result` is one scored (or failed) input of a stream.

A model with explanation heads (a checkpoint that has them, a file whose metadata declares ``mobileiqa.outputs``)
also gives, per image, ``quality_map``: local quality on the normalised MOS scale [0, 1] (higher is better) on a
``G x G`` grid over the whole image, row 0 = top; and ``spread``: the predicted standard deviation of the
annotators' opinion scores (normalised MOS units), i.e. how much raters would disagree — not a confidence interval
of the model's error. :meth:`Predictor.explain` returns them for a batch; :meth:`Predictor.score_files` puts them
in every :class:`Result`. ``predictor.explains`` says whether the model has them."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from mobileiqa.data.images import ImageError, prepare_image
from mobileiqa.export.metadata import ExplainOutputs, read_metadata
from mobileiqa.export.runtime import OUTPUT, QUALITY_MAP, SPREAD
from mobileiqa.predict.backends import MODEL_SUFFIXES, OrtBackend, TorchBackend, pick_model_file
from mobileiqa.preprocess import IMAGENET, Normalisation, ResolutionPolicy
from mobileiqa.scale import QualityScale

#: Images above this many pixels are refused from the header, before decoding (200 MP = 16320x12240 = 199.8 MP).
MAX_PIXELS = 250_000_000


@dataclass(frozen=True)
class Result:
    """One input of a stream: ``score`` or, when it could not be scored, ``error``; ``warning`` says what was
    done to score it (a small image upscaled). With explanation heads: ``spread`` and ``quality_map`` (``G`` rows
    of ``G`` values, row 0 = top); ``map_file``: the heat-map figure drawn for it (``predict --maps``)."""

    source: str
    score: float | None = None
    error: str | None = None
    warning: str | None = None
    spread: float | None = None
    quality_map: list[list[float]] | None = None
    map_file: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def status(self) -> str:
        return "ok" if self.ok else "error"


@dataclass(frozen=True)
class Explanations:
    """:meth:`Predictor.explain` of ``N`` images: ``score (N,)``, ``quality_map (N, G, G)`` in [0, 1] (higher is
    better, row 0 = top), ``spread (N,)`` >= 0 (annotators' disagreement, normalised MOS units)."""

    score: np.ndarray
    quality_map: np.ndarray
    spread: np.ndarray


def no_heads_message(source: str) -> str:
    """What to say when explanations are asked of a model without explanation heads."""
    return (f"{source}: this model has no explanation heads, so it gives no quality map or spread; the model needs "
            "them: retrain with distill_student.explain.enabled (and export it again)")


class Predictor:
    """A model plus its preprocessing; call it on a list of images to get one score per image."""

    def __init__(self, backend, policy: ResolutionPolicy, scale: QualityScale, metadata: dict, source: str,
                 normalisation: Normalisation = IMAGENET, max_pixels: int = MAX_PIXELS,
                 reduced_decode: bool = True, explain: ExplainOutputs | None = None) -> None:
        self.backend, self.policy, self.scale, self.metadata, self.source = backend, policy, scale, metadata, source
        self.normalisation, self.max_pixels, self.reduced_decode = normalisation, max_pixels, reduced_decode
        if (explain is not None) != bool(getattr(backend, "explains", False)):
            raise ValueError(f"{source}: the model's outputs and its declared explanation outputs disagree (outputs "
                             f"quality_map/spread {'present' if explain is None else 'missing'}); re-export it")
        self.explain_outputs = explain

    @property
    def explains(self) -> bool:
        """Whether the model has explanation heads (a quality map and a spread per image)."""
        return self.explain_outputs is not None

    @property
    def backend_name(self) -> str:
        return self.backend.name

    def __repr__(self) -> str:
        return (f"Predictor({self.metadata.get('model')!r}, backend={self.backend_name}, "
                f"scale={self.scale.describe()}, source={self.source!r})")

    # -------------------------------------------------------------------------------------- loading
    @classmethod
    def from_path(cls, path: str | os.PathLike, threads: int | None = None, max_pixels: int = MAX_PIXELS,
                  reduced_decode: bool = True) -> Predictor:
        """Load a ``.pt`` checkpoint, an ``.onnx`` / ``.ort`` file, or an MLflow ``models:/NAME@ALIAS`` /
        ``models:/NAME/VERSION`` URI. ``threads`` sets onnxruntime's intra-op threads (default: its own);
        images above ``max_pixels`` are refused before decoding; ``reduced_decode`` lets a JPEG decode at 1/2, 1/4
        or 1/8 size when the resolution policy downsamples it anyway (evaluation turns it off: a full decode)."""
        if max_pixels < 64:
            raise ValueError(f"max_pixels must be a positive pixel count, got {max_pixels}")
        options = {"max_pixels": max_pixels, "reduced_decode": reduced_decode}
        text = os.fspath(path)
        if text.startswith("models:/"):
            return cls.from_registry(text, threads=threads, **options)
        path = Path(text)
        if path.suffix not in MODEL_SUFFIXES:
            raise ValueError(f"{path}: unsupported model file; expected one of {MODEL_SUFFIXES} or a "
                             "models:/NAME@ALIAS registry URI")
        if not path.is_file():
            raise FileNotFoundError(f"model file not found: {path}")
        if path.suffix == ".pt":
            from mobileiqa.models.checkpoint import load_model  # lazy: torch only for .pt checkpoints

            model, ckpt = load_model(path)
            meta = ckpt.get("meta") or {}
            policy = ResolutionPolicy(**meta["resolution"]) if isinstance(meta.get("resolution"), dict) \
                else ResolutionPolicy()
            explain = None if model.explain_heads is None else ExplainOutputs(
                grid=model.config.grid, heads=model.explain_heads.config.to_dict())
            info = {"model": ckpt["model"], "resize": policy.to_dict(), "scale": model.scale.to_dict(),
                    "normalisation": model.normalisation.to_dict(), "dataset_sha256": meta.get("dataset_sha256"),
                    "git_commit": meta.get("git_commit")}
            if explain is not None:
                info["outputs"] = explain.to_dict()
            return cls(TorchBackend(model), policy, model.scale, info, str(path), model.normalisation,
                       explain=explain, **options)
        meta = read_metadata(path)
        return cls(OrtBackend(path, threads), meta.policy, meta.scale, meta.to_dict() | {"model": meta.model},
                   str(path), meta.normalisation, explain=meta.explain, **options)

    @classmethod
    def from_registry(cls, uri: str, threads: int | None = None, dst: str | os.PathLike | None = None,
                      **options) -> Predictor:
        """Download a registry version's artifacts (``mlflow.artifacts``) and load its fp32 ONNX file."""
        import mlflow.artifacts  # mlflow only for registry URIs

        # without ``dst`` the download lives in a temporary folder that is removed once the session holds the model
        with tempfile.TemporaryDirectory(prefix="mobileiqa-model-") as tmp:
            try:
                local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(dst or tmp)))
            except Exception as exc:
                raise ValueError(f"cannot download {uri} from the MLflow registry ({exc.__class__.__name__}: "
                                 f"{exc}); check MLFLOW_TRACKING_URI and the model name/alias") from None
            return cls.from_path(pick_model_file(local, uri), threads=threads, **options)

    # -------------------------------------------------------------------------------------- scoring
    def prepare(self, image, where: str | None = None, warn=None) -> np.ndarray:
        """``(3, H, W) float32`` model input of one image (:func:`~mobileiqa.data.images.prepare_image` with this
        model's policy, normalisation, pixel limit and decoding)."""
        return prepare_image(image, self.policy, where, norm=self.normalisation, max_pixels=self.max_pixels,
                             reduce=self.reduced_decode, warn=warn, limit_name="max_pixels (--max-pixels)")

    def _finish(self, scores: np.ndarray) -> np.ndarray:
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        if self.scale.bounded:
            scores = np.clip(scores, self.scale.minimum, self.scale.maximum)
        return scores

    def _finish_outputs(self, outputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Scores as :meth:`_finish`; the map clipped to [0, 1] and the spread to >= 0 (float rounding, int8)."""
        g = self.explain_outputs.grid
        return {OUTPUT: self._finish(outputs[OUTPUT]),
                QUALITY_MAP: np.clip(np.asarray(outputs[QUALITY_MAP], np.float64).reshape(-1, g, g), 0.0, 1.0),
                SPREAD: np.maximum(np.asarray(outputs[SPREAD], np.float64).reshape(-1), 0.0)}

    def _inputs(self, images: Iterable) -> list[np.ndarray]:
        if isinstance(images, str | bytes | os.PathLike | Image.Image) or (
                isinstance(images, np.ndarray) and images.ndim == 3):
            images = [images]
        return [self.prepare(img, str(img) if isinstance(img, str | os.PathLike) else f"image {i}")
                for i, img in enumerate(images)]

    @staticmethod
    def _batches(inputs: list[np.ndarray]) -> Iterator[list[int]]:
        """Indices of equal-size inputs, which share one batch."""
        by_shape: dict[tuple, list[int]] = {}
        for i, x in enumerate(inputs):
            by_shape.setdefault(x.shape, []).append(i)
        yield from by_shape.values()

    def __call__(self, images: Iterable) -> np.ndarray:
        """Scores of ``images`` (paths, encoded bytes, PIL images or HxWx3 uint8 arrays), in order. Raises
        :class:`~mobileiqa.data.images.ImageError` naming the first image that cannot be used."""
        inputs = self._inputs(images)
        out = np.empty(len(inputs), dtype=np.float64)
        for idx in self._batches(inputs):
            out[idx] = self._finish(self.backend(np.stack([inputs[i] for i in idx])))
        return out

    def explain(self, images: Iterable) -> Explanations:
        """Scores, quality maps and spreads of ``images`` (as :meth:`__call__` takes them), in order. A model
        without explanation heads is a ``ValueError`` that says how to get them."""
        if not self.explains:
            raise ValueError(no_heads_message(self.source))
        inputs = self._inputs(images)
        g = self.explain_outputs.grid
        out = Explanations(np.empty(len(inputs)), np.empty((len(inputs), g, g)), np.empty(len(inputs)))
        for idx in self._batches(inputs):
            got = self._finish_outputs(self.backend.outputs(np.stack([inputs[i] for i in idx])))
            out.score[idx], out.quality_map[idx], out.spread[idx] = got[OUTPUT], got[QUALITY_MAP], got[SPREAD]
        return out

    def score_files(self, files: Iterable[Path | str | tuple[str, str]]) -> Iterator[Result]:
        """Stream :class:`Result` s, one file at a time; an unreadable file (or an ``(arg, reason)`` pair from
        :func:`iter_files`) yields an error result and the stream goes on."""
        for item in files:
            if isinstance(item, tuple):
                yield Result(item[0], error=item[1])
                continue
            notes: list[str] = []
            try:
                x = self.prepare(item, warn=notes.append)
            except ImageError as exc:
                yield Result(str(item), error=exc.reason)
                continue
            warning = "; ".join(n.removeprefix(f"{item}: ") for n in notes) or None
            if not self.explains:
                yield Result(str(item), score=float(self._finish(self.backend(x[None]))[0]), warning=warning)
                continue
            got = self._finish_outputs(self.backend.outputs(x[None]))
            yield Result(str(item), score=float(got[OUTPUT][0]), warning=warning, spread=float(got[SPREAD][0]),
                         quality_map=got[QUALITY_MAP][0].tolist())
