"""Which files ``mobileiqa predict`` scores, expanded lazily from its arguments:

* a **file** (or a symlink to one) is always scored, whatever its name or suffix;
* a **folder** is walked recursively in sorted order: files with an image suffix (:data:`IMAGE_SUFFIXES`), symlinks
  to files included; hidden files and folders (names starting with ``.``) skipped; symlinked folders are not
  entered (no loops);
* a **glob** (quoted, ``**`` recursive) is expanded the same way.

An argument that gives nothing to score — a missing file, a dangling symlink, a symlink loop, a folder (even one
named ``x.jpg``) holding no image file, a pattern that matches none — becomes an ``(argument, reason)`` pair, so
the caller reports it, exits non-zero and goes on with the other arguments.

:func:`encode_images` turns files into the items of a REST scoring request (base64 strings).
"""

from __future__ import annotations

import base64
import errno
import glob
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".ppm", ".pgm")


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def _broken_link(path: Path) -> str | None:
    """Why the symlink ``path`` leads to no file (loop or dangling), or ``None`` when it does (or is no symlink)."""
    if not path.is_symlink():
        return None
    try:
        path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symlink loop"
        return f"dangling symlink (its target {os.readlink(path)!r} does not exist)"
    return None


def _walk(folder: Path) -> Iterator[Path | tuple[str, str]]:
    """The images under ``folder`` (sorted, recursive, hidden names skipped); broken symlinks as errors."""
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            path = Path(root) / name
            if name.startswith(".") or not _is_image(path):
                continue
            reason = _broken_link(path)
            yield (str(path), reason) if reason else path


def _folder(folder: Path) -> Iterator[Path | tuple[str, str]]:
    found = False
    for item in _walk(folder):
        found = True
        yield item
    if not found:
        kind = f"a folder named like an image ({folder.suffix})" if _is_image(folder) else "a folder"
        yield str(folder), f"{kind} holding no image file ({', '.join(IMAGE_SUFFIXES)}; hidden files skipped)"


def iter_files(args: Iterable[str | os.PathLike]) -> Iterator[Path | tuple[str, str]]:
    """Expand files, folders and globs lazily (see the module docstring); an argument that gives nothing to score
    yields ``(argument, reason)``."""
    for arg in args:
        text = os.fspath(arg)
        path = Path(text)
        if path.is_dir():
            yield from _folder(path)
        elif path.is_file():
            yield path
        elif reason := _broken_link(path):
            yield text, reason
        elif path.exists():
            yield text, "not a regular file or folder"
        elif glob.has_magic(text):
            matched = False
            for hit in sorted(glob.iglob(text, recursive=True)):
                hit_path = Path(hit)
                if hit_path.is_dir():
                    for item in _walk(hit_path):
                        matched = True
                        yield item
                elif hit_path.is_file() and _is_image(hit_path):
                    matched = True
                    yield hit_path
            if not matched:
                yield text, "the pattern matches no image file"
        else:
            yield text, "no such file or folder"


def encode_images(paths: Iterable[str | os.PathLike]) -> list[str]:
    """Base64 strings of the files' bytes: the items of a scoring request to the served model."""
    return [base64.b64encode(Path(p).read_bytes()).decode("ascii") for p in paths]
