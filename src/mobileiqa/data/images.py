"""Safe image decoding shared by every reader (datasets, training, predict), and the one path from any image to a
model input (:func:`prepare_image`: decode, resolution policy, the model's normalisation).

Every image becomes 8-bit RGB in display orientation: EXIF rotation applied; greyscale, palette, CMYK and
16-bit images converted; alpha composited on white. Anything that cannot be decoded — zero-byte, truncated or
non-image files, decompression bombs — raises :class:`ImageError` naming the file and the reason, so callers
can report it instead of crashing or silently dropping it.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from mobileiqa.preprocess import IMAGENET, MIN_SIDE, Normalisation, ResolutionPolicy, normalise

#: Refuse images above this many pixels (decompression-bomb guard); 4x a 50 MP phone photo.
MAX_PIXELS = 200_000_000


class ImageError(ValueError):
    """An image that cannot be used; ``path`` and ``reason`` say which and why."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path, self.reason = str(path), reason
        super().__init__(f"{path}: {reason}")


def _check_pixels(path, size: tuple[int, int], max_pixels: int) -> None:
    if size[0] * size[1] > max_pixels:
        raise ImageError(path, f"{size[0]}x{size[1]} exceeds the {max_pixels:,}-pixel limit "
                               "(possible decompression bomb); raise max_pixels if the image is genuine")


def _exif_size(img: Image.Image) -> tuple[int, int]:
    try:
        orientation = img.getexif().get(0x0112, 1)
    except Exception:  # a corrupt EXIF block must not hide the image itself
        orientation = 1
    w, h = img.size
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def probe_image(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> tuple[int, int]:
    """``(width, height)`` in display orientation, reading only the header."""
    path = Path(path)
    if not path.is_file():
        raise ImageError(path, "file not found")
    if path.stat().st_size == 0:
        raise ImageError(path, "empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                _check_pixels(path, img.size, max_pixels)
                return _exif_size(img)
    except ImageError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(path, f"not a readable image ({exc.__class__.__name__})") from None
    except OSError as exc:
        raise ImageError(path, f"cannot read image header ({exc})") from None


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


def load_image(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode ``path`` fully into an 8-bit RGB image in display orientation."""
    probe_image(path, max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                img.load()
                img = ImageOps.exif_transpose(img)
                return to_rgb(img)
    except ImageError:
        raise
    except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError... on corrupt data
        raise ImageError(path, f"cannot decode image ({exc.__class__.__name__}: {exc})") from None


def load_rgb_array(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """``(H, W, 3) uint8`` array of :func:`load_image`."""
    return np.asarray(load_image(path, max_pixels))


def _decode_bytes(data: bytes, where: str) -> Image.Image:
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
