"""Score images with a trained or exported model: ``Predictor.from_path(path)(images) -> scores``.

Backends are chosen from the file: ``.pt`` (a mobileiqa checkpoint, PyTorch), ``.onnx`` (fp32 or int8) and
``.ort`` (onnxruntime); ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION`` loads the ONNX file of an MLflow
registry version (e.g. the ``@champion``). Preprocessing is the one shared path: decode (EXIF orientation
applied, 8-bit RGB), the model's :class:`~mobileiqa.preprocess.ResolutionPolicy` (from the checkpoint's training
metadata or the exported file's metadata; the default policy when a checkpoint has none), and the model's own
normalisation (:class:`~mobileiqa.preprocess.Normalisation`, from the checkpoint or the file's metadata; ImageNet's
when an older file has none).
No random crops: scores are deterministic, on the model's declared :class:`~mobileiqa.models.scale.QualityScale`
(``predictor.scale``; bounded scores are clipped to the bounds to absorb float rounding).

For many files, :func:`iter_files` expands files, folders (recursively) and globs lazily and
:meth:`Predictor.score_files` streams results, so memory stays bounded on folders of 10,000+ images; a file
that cannot be decoded yields an error result instead of stopping the batch.
"""

from __future__ import annotations

import glob
import io
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from mobileiqa.data.images import ImageError, load_image
from mobileiqa.models.scale import QualityScale
from mobileiqa.preprocess import IMAGENET, Normalisation, ResolutionPolicy, normalise

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".ppm", ".pgm")
MODEL_SUFFIXES = (".pt", ".onnx", ".ort")
MIN_SIDE = 64


# ------------------------------------------------------------------------------------------------ images
def _decode_bytes(data: bytes, where: str) -> Image.Image:
    from mobileiqa.data.images import to_rgb

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            return to_rgb(ImageOps.exif_transpose(img))
    except Exception as exc:
        raise ImageError(where, f"cannot decode image bytes ({exc.__class__.__name__}: {exc})") from None


def load_rgb(image, where: str = "image") -> Image.Image:
    """Any accepted input (path, encoded bytes, PIL image, ``HxWx3 uint8`` array) → RGB PIL image, display
    orientation."""
    if isinstance(image, str | os.PathLike):
        return load_image(image)
    if isinstance(image, bytes | bytearray | memoryview):
        return _decode_bytes(bytes(image), where)
    if isinstance(image, Image.Image):
        from mobileiqa.data.images import to_rgb

        return to_rgb(ImageOps.exif_transpose(image))
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ImageError(where, f"arrays must be HxWx3 uint8 RGB, got shape {image.shape} dtype {image.dtype}")
        return Image.fromarray(image, mode="RGB")
    raise ImageError(where, f"unsupported image type {type(image).__name__}; pass a path, encoded bytes, "
                            "a PIL image or an HxWx3 uint8 array")


def prepare_image(image, policy: ResolutionPolicy, where: str | None = None,
                  norm: Normalisation = IMAGENET) -> np.ndarray:
    """``(3, H, W) float32`` model input for one image (decode, resolution policy, the model's normalisation)."""
    where = where or (str(image) if isinstance(image, str | os.PathLike) else "image")
    img = policy.apply(load_rgb(image, where))
    if min(img.size) < MIN_SIDE:
        raise ImageError(where, f"{img.size[0]}x{img.size[1]} after resizing is below the models' {MIN_SIDE} px "
                                "minimum side")
    return normalise(np.asarray(img), norm)


# ---------------------------------------------------------------------------------------------- backends
class _TorchBackend:
    name = "torch"

    def __init__(self, model) -> None:
        self.model = model.eval()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            return self.model(torch.from_numpy(x)).numpy()


class _OrtBackend:
    def __init__(self, path: Path, threads: int | None) -> None:
        from mobileiqa.export.onnx import session

        self.name = "ort" if path.suffix == ".ort" else "onnx"
        self.session = session(path, threads=threads or 0)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        from mobileiqa.export.onnx import run

        return run(self.session, x)


@dataclass(frozen=True)
class Result:
    """One scored input: ``score`` or, when it could not be scored, ``error``."""

    source: str
    score: float | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class Predictor:
    """A model plus its preprocessing; call it on a list of images to get one score per image."""

    def __init__(self, backend, policy: ResolutionPolicy, scale: QualityScale, metadata: dict, source: str,
                 normalisation: Normalisation = IMAGENET) -> None:
        self.backend, self.policy, self.scale, self.metadata, self.source = backend, policy, scale, metadata, source
        self.normalisation = normalisation

    @property
    def backend_name(self) -> str:
        return self.backend.name

    def __repr__(self) -> str:
        return (f"Predictor({self.metadata.get('model')!r}, backend={self.backend_name}, "
                f"scale={self.scale.describe()}, source={self.source!r})")

    # -------------------------------------------------------------------------------------- loading
    @classmethod
    def from_path(cls, path: str | os.PathLike, threads: int | None = None) -> Predictor:
        """Load a ``.pt`` checkpoint, an ``.onnx`` / ``.ort`` file, or an MLflow ``models:/NAME@ALIAS`` /
        ``models:/NAME/VERSION`` URI. ``threads`` sets onnxruntime's intra-op threads (default: its own)."""
        text = os.fspath(path)
        if text.startswith("models:/"):
            return cls.from_registry(text, threads=threads)
        path = Path(text)
        if path.suffix not in MODEL_SUFFIXES:
            raise ValueError(f"{path}: unsupported model file; expected one of {MODEL_SUFFIXES} or a "
                             "models:/NAME@ALIAS registry URI")
        if not path.is_file():
            raise FileNotFoundError(f"model file not found: {path}")
        if path.suffix == ".pt":
            from mobileiqa.models.checkpoint import load_model

            model, ckpt = load_model(path)
            meta = ckpt.get("meta") or {}
            policy = ResolutionPolicy(**meta["resolution"]) if isinstance(meta.get("resolution"), dict) \
                else ResolutionPolicy()
            info = {"model": ckpt["model"], "resize": policy.to_dict(), "scale": model.scale.to_dict(),
                    "normalisation": model.normalisation.to_dict(), "dataset_sha256": meta.get("dataset_sha256"),
                    "git_commit": meta.get("git_commit")}
            return cls(_TorchBackend(model), policy, model.scale, info, str(path), model.normalisation)
        from mobileiqa.export.metadata import read_metadata

        meta = read_metadata(path)
        return cls(_OrtBackend(path, threads), meta.policy, meta.scale, meta.to_dict() | {"model": meta.model},
                   str(path), meta.normalisation)

    @classmethod
    def from_registry(cls, uri: str, threads: int | None = None, dst: str | os.PathLike | None = None) -> Predictor:
        """Download a registry version's artifacts (``mlflow.artifacts``) and load its fp32 ONNX file."""
        import mlflow.artifacts

        # without ``dst`` the download lives in a temporary folder that is removed once the session holds the model
        with tempfile.TemporaryDirectory(prefix="mobileiqa-model-") as tmp:
            try:
                local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(dst or tmp)))
            except Exception as exc:
                raise ValueError(f"cannot download {uri} from the MLflow registry ({exc.__class__.__name__}: "
                                 f"{exc}); check MLFLOW_TRACKING_URI and the model name/alias") from None
            return cls.from_path(pick_model_file(local, uri), threads=threads)

    # -------------------------------------------------------------------------------------- scoring
    def _finish(self, scores: np.ndarray) -> np.ndarray:
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        if self.scale.bounded:
            scores = np.clip(scores, self.scale.minimum, self.scale.maximum)
        return scores

    def __call__(self, images: Iterable) -> np.ndarray:
        """Scores of ``images`` (paths, encoded bytes, PIL images or HxWx3 uint8 arrays), in order. Raises
        :class:`~mobileiqa.data.images.ImageError` naming the first image that cannot be used."""
        if isinstance(images, str | bytes | os.PathLike | Image.Image) or (
                isinstance(images, np.ndarray) and images.ndim == 3):
            images = [images]
        inputs = [prepare_image(img, self.policy, where=str(img) if isinstance(img, str | os.PathLike)
                                else f"image {i}", norm=self.normalisation) for i, img in enumerate(images)]
        out = np.empty(len(inputs), dtype=np.float64)
        by_shape: dict[tuple, list[int]] = {}
        for i, x in enumerate(inputs):
            by_shape.setdefault(x.shape, []).append(i)
        for idx in by_shape.values():  # equal-size images share one batch
            out[idx] = self._finish(self.backend(np.stack([inputs[i] for i in idx])))
        return out

    def score_files(self, files: Iterable[Path | str | tuple[str, str]]) -> Iterator[Result]:
        """Stream :class:`Result` s, one file at a time; an unreadable file (or an ``(arg, reason)`` pair from
        :func:`iter_files`) yields an error result and the stream goes on."""
        for item in files:
            if isinstance(item, tuple):
                yield Result(item[0], error=item[1])
                continue
            try:
                x = prepare_image(item, self.policy, norm=self.normalisation)
            except ImageError as exc:
                yield Result(str(item), error=exc.reason)
                continue
            yield Result(str(item), score=float(self._finish(self.backend(x[None]))[0]))


def pick_model_file(folder: Path, where: str = "") -> Path:
    """The fp32 ``.onnx`` file of a downloaded registry version (``model.onnx`` preferred; else any non-int8
    ``.onnx``; else ``.ort``)."""
    if folder.is_file():
        return folder
    found = sorted(p for p in folder.rglob("*") if p.suffix in (".onnx", ".ort") and p.is_file())
    for rank in (lambda p: p.name == "model.onnx", lambda p: p.suffix == ".onnx" and ".int8" not in p.name,
                 lambda p: p.suffix == ".ort" and ".int8" not in p.name, lambda p: True):
        hits = [p for p in found if rank(p)]
        if hits:
            return hits[0]
    raise FileNotFoundError(f"{where or folder}: the downloaded artifacts ({folder}) hold no .onnx/.ort file")


# -------------------------------------------------------------------------------------- file expansion
def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def _walk(folder: Path) -> Iterator[Path]:
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        for name in sorted(names):
            path = Path(root) / name
            if _is_image(path):
                yield path


def iter_files(args: Iterable[str | os.PathLike]) -> Iterator[Path | tuple[str, str]]:
    """Expand files, folders (recursive, image suffixes only, sorted) and globs lazily. An argument that
    matches nothing yields ``(arg, reason)``. Explicitly named files are yielded whatever their suffix."""
    for arg in args:
        text = os.fspath(arg)
        path = Path(text)
        if path.is_dir():
            yield from _walk(path)
        elif path.is_file():
            yield path
        elif glob.has_magic(text):
            matched = False
            for hit in sorted(glob.iglob(text, recursive=True)):
                hit_path = Path(hit)
                if hit_path.is_dir():
                    matched = True
                    yield from _walk(hit_path)
                elif hit_path.is_file() and _is_image(hit_path):
                    matched = True
                    yield hit_path
            if not matched:
                yield text, "the pattern matches no image file"
        else:
            yield text, "no such file or folder"


# ---------------------------------------------------------------------------------------------- output
OUTPUT_FORMATS = ("csv", "json")


def output_format(out: str | os.PathLike | None, fmt: str | None) -> str:
    """``fmt`` if given, else from ``out``'s suffix (``.csv`` / ``.json``), else csv; a conflict is an error."""
    suffix = Path(out).suffix.lower().lstrip(".") if out else ""
    if fmt is not None:
        if fmt not in OUTPUT_FORMATS:
            raise ValueError(f"--format must be one of {OUTPUT_FORMATS}, got {fmt!r}")
        if suffix in OUTPUT_FORMATS and suffix != fmt:
            raise ValueError(f"--format {fmt} disagrees with the output file suffix {out!r}")
        return fmt
    if out and suffix not in OUTPUT_FORMATS:
        raise ValueError(f"cannot tell the output format from {out!r}: use a .csv/.json suffix or --format")
    return suffix or "csv"


class _Writer:
    """Streams rows as CSV or a JSON list to an open text stream."""

    def __init__(self, stream, fmt: str) -> None:
        import csv

        self.stream, self.fmt, self.rows = stream, fmt, 0
        if fmt == "csv":
            self.csv = csv.writer(stream, lineterminator="\n")
            self.csv.writerow(["path", "score"])
        else:
            stream.write("[")

    def write(self, result: Result) -> None:
        import json

        if self.fmt == "csv":
            self.csv.writerow([result.source, f"{result.score:.6f}"])
        else:
            self.stream.write(("," if self.rows else "") + "\n  " + json.dumps(
                {"path": result.source, "score": round(result.score, 6)}))
        self.rows += 1

    def close(self) -> None:
        if self.fmt == "json":
            self.stream.write("\n]\n" if self.rows else "]\n")


def write_scores(results: Iterable[Result], out: str | os.PathLike | None, fmt: str, on_error=None,
                 progress: bool = True) -> tuple[int, list[Result]]:
    """Write the good results to ``out`` (atomically, only once every input was processed) or stdout; return
    ``(scored count, failed results)``. ``on_error(result)`` is called as each failure happens."""
    import sys
    from contextlib import ExitStack

    from tqdm.auto import tqdm

    from mobileiqa.atomic import atomic_path

    failures: list[Result] = []
    with ExitStack() as stack:
        if out is None:
            stream = sys.stdout
        else:
            tmp = stack.enter_context(atomic_path(out))
            stream = stack.enter_context(open(tmp, "w", newline=""))
        writer = _Writer(stream, fmt)
        bar = stack.enter_context(tqdm(desc="predict", unit="img", disable=not progress, file=sys.stderr))
        for result in results:
            bar.update(1)
            if result.ok:
                writer.write(result)
            else:
                failures.append(result)
                if on_error is not None:
                    on_error(result)
        writer.close()
    return writer.rows, failures
