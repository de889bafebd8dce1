"""Which files ``mobileiqa predict`` scores: files, folders (recursive, image suffixes only, sorted) and globs,
expanded lazily; an argument that matches nothing becomes an ``(argument, reason)`` pair."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".ppm", ".pgm")


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
