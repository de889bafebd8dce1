"""Safe image decoding shared by every reader (datasets, training, predict), and the one path from any image to a
model input (:func:`prepare_image`: decode, resolution policy, the model's normalisation).

Every image becomes 8-bit RGB in display orientation: EXIF rotation applied; greyscale, palette, CMYK and
16-bit images converted; alpha composited on white. Anything that cannot be decoded — zero-byte, truncated or
non-image files, images over the pixel limit — raises :class:`ImageError` naming the file and the reason, so
callers can report it instead of crashing or silently dropping it.

The pixel limit is checked from the header, before anything is decoded: :data:`MAX_PIXELS` for the dataset
readers, ``predict.max_pixels`` (250 MP) for scoring. Pillow's own decompression-bomb guard (a warning at
89.5 MP, an error at twice that) is replaced by it, so a 108 or 200 MP phone photo is a photo, not an error.

:func:`prepare_image` can decode a JPEG at a reduced size (``reduce=True``: libjpeg's DCT scaling by 1/2, 1/4 or
1/8, never below the size the resolution policy resizes to). ``mobileiqa predict`` and the :class:`Predictor`
use it; the dataset build, training and evaluation decode in full.
"""

from __future__ import annotations

import io
import os
import threading
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from mobileiqa.preprocess import IMAGENET, MIN_SIDE, Normalisation, ResolutionPolicy, normalise

#: The dataset readers' pixel limit (4x a 50 MP phone photo); predict's is ``predict.max_pixels``.
MAX_PIXELS = 200_000_000
#: Images with a side below this many pixels are refused (too small to upscale to the models' minimum side).
MIN_IMAGE_SIDE = 8
_ROTATED = (5, 6, 7, 8)  # EXIF orientations that swap width and height
_OPEN_LOCK = threading.Lock()


class ImageError(ValueError):
    """An image that cannot be used; ``path`` and ``reason`` say which and why."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path, self.reason = str(path), reason
        super().__init__(f"{path}: {reason}")


class SmallImageWarning(UserWarning):
    """An image below the models' minimum side was upscaled to it."""


def _check_pixels(path, size: tuple[int, int], max_pixels: int, limit_name: str = "max_pixels") -> None:
    if size[0] * size[1] > max_pixels:
        raise ImageError(path, f"{size[0]}x{size[1]} ({size[0] * size[1] / 1e6:.1f} MP) exceeds the "
                               f"{max_pixels:,}-pixel limit (possible decompression bomb); raise {limit_name} "
                               "if the image is genuine")


def _orientation(img: Image.Image) -> int:
    try:
        return int(img.getexif().get(0x0112, 1))
    except Exception:  # a corrupt EXIF block must not hide the image itself
        return 1


def _exif_size(img: Image.Image) -> tuple[int, int]:
    w, h = img.size
    return (h, w) if _orientation(img) in _ROTATED else (w, h)


def _open(source, where, max_pixels: int, limit_name: str = "max_pixels") -> Image.Image:
    """Open ``source`` (a path or a binary stream) lazily and check its size from the header. Pillow's global
    bomb limit is lifted for the call (under a lock): the check here, with the caller's limit, replaces it."""
    try:
        with _OPEN_LOCK:
            pillow_limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
            try:
                img = Image.open(source)
            finally:
                Image.MAX_IMAGE_PIXELS = pillow_limit
    except UnidentifiedImageError as exc:
        raise ImageError(where, f"not a readable image ({exc.__class__.__name__})") from None
    except OSError as exc:
        raise ImageError(where, f"cannot read image header ({exc})") from None
    try:
        _check_pixels(where, img.size, max_pixels, limit_name)
    except ImageError:
        img.close()
        raise
    return img


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise ImageError(path, "file not found" if not path.exists() else "not a file")
    if path.stat().st_size == 0:
        raise ImageError(path, "empty file (0 bytes)")


def probe_image(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> tuple[int, int]:
    """``(width, height)`` in display orientation, reading only the header."""
    path = Path(path)
    _check_file(path)
    with _open(path, path, max_pixels) as img:
        return _exif_size(img)


def to_rgb(img: Image.Image) -> Image.Image:
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if arr.max() > 255 else 255.0
        img = Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8), mode="L")
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        img = Image.fromarray(np.clip(arr * (255.0 if arr.max() <= 1.0 else 1.0) + 0.5, 0, 255).astype(np.uint8))
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "PA"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    return img.convert("RGB") if img.mode != "RGB" else img


def _decoded(img: Image.Image, where) -> Image.Image:
    """Decode an opened image into RGB, display orientation; decoder errors become :class:`ImageError`."""
    try:
        img.load()
        return to_rgb(ImageOps.exif_transpose(img))
    except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError... on corrupt data
        raise ImageError(where, f"cannot decode image ({exc.__class__.__name__}: {exc})") from None


def load_image(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode ``path`` fully into an 8-bit RGB image in display orientation."""
    path = Path(path)
    _check_file(path)
    with _open(path, path, max_pixels) as img:
        return _decoded(img, path)


def load_rgb_array(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """``(H, W, 3) uint8`` array of :func:`load_image`."""
    return np.asarray(load_image(path, max_pixels))


def _fit(size: tuple[int, int], policy: ResolutionPolicy, where, warn: Callable[[str], None] | None
         ) -> tuple[int, int]:
    """The size an image of display ``size`` becomes: the resolution policy, then, when a side falls below the
    models' minimum, a bicubic upscale to it (announced through ``warn``); sides under 8 px are refused."""
    if min(size) < MIN_IMAGE_SIDE:
        raise ImageError(where, f"{size[0]}x{size[1]} is too small to score (sides must be at least "
                                f"{MIN_IMAGE_SIDE} px)")
    target = policy.target_size(*size)
    if min(target) < MIN_SIDE:  # scaled from the image itself, so that the aspect ratio is kept
        factor = MIN_SIDE / min(size)
        target = (max(MIN_SIDE, round(size[0] * factor)), max(MIN_SIDE, round(size[1] * factor)))
        message = (f"{where}: {size[0]}x{size[1]} is below the models' {MIN_SIDE} px minimum side; upscaled "
                   f"(bicubic) to {target[0]}x{target[1]}")
        if warn is None:
            warnings.warn(message, SmallImageWarning, stacklevel=4)
        else:
            warn(message)
    return target


def _draft(img: Image.Image, target: tuple[int, int]) -> None:
    """Ask libjpeg for the smallest DCT-scaled decode (1/2, 1/4, 1/8) still at least ``target`` (display WxH)."""
    if img.format != "JPEG" or not hasattr(img, "draft"):
        return
    stored = (target[1], target[0]) if _orientation(img) in _ROTATED else target
    if stored[0] * 2 <= img.size[0] and stored[1] * 2 <= img.size[1]:
        img.draft(None, stored)


def load_rgb(image, where: str = "image", max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Any accepted input (path, encoded bytes, PIL image, ``HxWx3 uint8`` array) → RGB PIL image, display
    orientation."""
    return _load(image, where, max_pixels)


def _load(image, where, max_pixels: int, fit=None, limit_name: str = "max_pixels") -> Image.Image:
    """:func:`load_rgb`; with ``fit`` (display size → target size) a path or bytes input is drafted to it."""
    if isinstance(image, str | os.PathLike):
        path = Path(image)
        _check_file(path)
        source = path
    elif isinstance(image, bytes | bytearray | memoryview):
        if len(image) == 0:
            raise ImageError(where, "empty image bytes")
        source = io.BytesIO(bytes(image))
    elif isinstance(image, Image.Image):
        _check_pixels(where, image.size, max_pixels, limit_name)
        return to_rgb(ImageOps.exif_transpose(image))
    elif isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ImageError(where, f"arrays must be HxWx3 uint8 RGB, got shape {image.shape} dtype {image.dtype}")
        return Image.fromarray(image, mode="RGB")
    else:
        raise ImageError(where, f"unsupported image type {type(image).__name__}; pass a path, encoded bytes, "
                                "a PIL image or an HxWx3 uint8 array")
    with _open(source, where, max_pixels, limit_name) as img:
        if fit is not None:
            _draft(img, fit(_exif_size(img)))
        return _decoded(img, where)


def prepare_image(image, policy: ResolutionPolicy, where: str | None = None, norm: Normalisation = IMAGENET,
                  max_pixels: int = MAX_PIXELS, reduce: bool = False, warn: Callable[[str], None] | None = None,
                  limit_name: str = "max_pixels") -> np.ndarray:
    """``(3, H, W) float32`` model input for one image: decode, the resolution policy (computed on the full
    display size), an upscale of images below the models' minimum side (reported through ``warn``, else a
    :class:`SmallImageWarning`), the model's normalisation. ``reduce`` lets a JPEG decode at a reduced size when
    the policy downsamples it anyway. ``limit_name`` is what a refusal over ``max_pixels`` tells the user to
    raise."""
    where = where or (str(image) if isinstance(image, str | os.PathLike) else "image")
    targets: list[tuple[int, int]] = []

    def fit(size: tuple[int, int]) -> tuple[int, int]:
        targets.append(_fit(size, policy, where, warn))
        return targets[-1]

    img = _load(image, where, max_pixels, fit if reduce else None, limit_name)
    target = targets[-1] if targets else _fit(img.size, policy, where, warn)
    if img.size != target:
        img = img.resize(target, Image.Resampling.BICUBIC)
    return normalise(np.asarray(img), norm)
