"""BRISQUE (Mittal, Moorthy and Bovik, "No-Reference Image Quality Assessment in the Spatial Domain", 2012)
through OpenCV-contrib's quality module, with the SVR model trained on LIVE.

The model files (``brisque_model_live.yml``, ``brisque_range_live.yml``) are not in the OpenCV wheels; they
come from Debian's ``opencv-data`` package at a pinned version, fetched with ``apt-get download`` into the
same ``.deb`` cache as the photo sources (:func:`mobileiqa.data.photos.debian.download_packages`), unpacked with
``dpkg-deb -x`` and checked by SHA-256. :func:`ensure_brisque_models` does this once per cache folder.

Input handling: RGB uint8 -> OpenCV grey (``0.299 R + 0.587 G + 0.114 B``, rounded to uint8); no resize (the
second scale is OpenCV's internal half-size resize). Scores are roughly 0..100, lower is better; they differ
from pyiqa's BRISQUE, which uses other model files.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from mobileiqa.atomic import atomic_path, file_digest
from mobileiqa.data.photos.debian import deb_filename, download_packages
from mobileiqa.data.photos.records import PhotoSourceError
from mobileiqa.eval.baselines.matlab import check_rgb_uint8

#: Debian bookworm's ``opencv-data`` (``apt-cache madison opencv-data``) and the SHA-256 of its ``.deb``.
OPENCV_DATA = ("opencv-data", "4.6.0+dfsg-12")
OPENCV_DATA_SHA256 = "0bcbc3f366eb0df45b350ba9974e499e1c4ed491f9ed1865c953097bcad60cd9"
#: The model files inside the package and their SHA-256.
MODEL_MEMBERS = {
    "brisque_model_live.yml": ("usr/share/opencv4/quality/brisque_model_live.yml",
                               "4c44c7eec9e5139830c0bb0e4a044c9cd351ba5bbc9e3798beca3243e2782ff4"),
    "brisque_range_live.yml": ("usr/share/opencv4/quality/brisque_range_live.yml",
                               "a18427f4f7ad087524bd0d63389649a3899b51ca6d44a4d5f8d8171f1f914a9c"),
}
DEFAULT_CACHE = Path(".cache/debs")
APT_LISTS = Path("/var/lib/apt/lists")


class BrisqueModelError(RuntimeError):
    """The BRISQUE model files could not be fetched or verified; the message names the file and what to do."""


def _models_dir(cache_dir: Path) -> Path:
    name, version = OPENCV_DATA
    return cache_dir / f"{name}_{version.replace(':', '%3a')}_brisque"


def _verified(path: Path, sha256: str) -> bool:
    return path.is_file() and file_digest(path, "sha256") == sha256


def _apt_lists_empty(lists: Path | None = None) -> bool:
    lists = APT_LISTS if lists is None else lists
    return not any(p.name.endswith(("_Packages", "_Packages.lz4", "_Packages.gz", "_Packages.xz"))
                   for p in (lists.iterdir() if lists.is_dir() else ()))


def _download_deb(cache_dir: Path) -> Path:
    name, version = OPENCV_DATA
    if not (cache_dir / deb_filename(name, version)).is_file() and _apt_lists_empty():
        raise BrisqueModelError(
            f"{name}={version}: apt's package lists ({APT_LISTS}) are empty, so `apt-get download` cannot find "
            "the BRISQUE model files; run `apt-get update` (as root; `scripts/setup.sh --with-photos` does it "
            "on a fresh machine) and try again")
    try:
        (deb,) = download_packages(cache_dir, progress=False, packages=[OPENCV_DATA])
    except PhotoSourceError as exc:
        raise BrisqueModelError(
            f"{name}={version}: download of the BRISQUE model files failed ({exc}). Run `apt-get update` (as "
            "root) if the package lists are stale; this needs Debian bookworm's archive in the apt sources") from None
    if (actual := file_digest(deb, "sha256")) != OPENCV_DATA_SHA256:
        raise BrisqueModelError(f"{deb}: SHA-256 {actual} differs from the pinned {OPENCV_DATA_SHA256} for "
                                f"{name}={version}; delete the file and run again")
    return deb


def ensure_brisque_models(cache_dir: str | os.PathLike = DEFAULT_CACHE) -> tuple[Path, Path]:
    """Return ``(model_path, range_path)`` of the LIVE BRISQUE model, fetching them on first use.

    The files are kept in ``<cache_dir>/opencv-data_<version>_brisque/`` beside the ``.deb``; present files
    are reused when their SHA-256 matches. Raises :class:`BrisqueModelError` (naming the file and the fix)
    when apt cannot fetch the package or a file's checksum differs.
    """
    cache_dir = Path(cache_dir)
    out = _models_dir(cache_dir)
    paths = {name: out / name for name in MODEL_MEMBERS}
    if all(_verified(paths[n], sha) for n, (_, sha) in MODEL_MEMBERS.items()):
        return paths["brisque_model_live.yml"], paths["brisque_range_live.yml"]
    deb = _download_deb(cache_dir)
    with tempfile.TemporaryDirectory(prefix=".opencv-data-", dir=cache_dir) as tmp:
        try:
            proc = subprocess.run(["dpkg-deb", "-x", str(deb), tmp], capture_output=True, text=True, check=False)
        except FileNotFoundError:
            raise BrisqueModelError(f"{deb}: `dpkg-deb` not found; the BRISQUE model files need a Debian-based "
                                    "machine") from None
        if proc.returncode != 0:
            raise BrisqueModelError(f"{deb}: `dpkg-deb -x` failed ({proc.stderr.strip()}); delete the file and "
                                    "run again")
        out.mkdir(parents=True, exist_ok=True)
        for name, (member, sha) in MODEL_MEMBERS.items():
            src = Path(tmp) / member
            if not src.is_file():
                raise BrisqueModelError(f"{deb}: has no {member}; is the pinned version {OPENCV_DATA[1]} right?")
            if (actual := file_digest(src, "sha256")) != sha:
                raise BrisqueModelError(f"{deb}: {member} has SHA-256 {actual}, not the pinned {sha}")
            with atomic_path(paths[name]) as dst:
                shutil.copy(src, dst)  # keeps the packaged 0644 mode
    return paths["brisque_model_live.yml"], paths["brisque_range_live.yml"]


class BRISQUE:
    """BRISQUE baseline (OpenCV-contrib, LIVE model); lower is better. The model files are fetched on the
    first :meth:`score` (or pass them in)."""

    name = "brisque"
    higher_is_better = False

    def __init__(self, model_path: str | os.PathLike | None = None, range_path: str | os.PathLike | None = None,
                 cache_dir: str | os.PathLike = DEFAULT_CACHE) -> None:
        if (model_path is None) != (range_path is None):
            raise ValueError("BRISQUE: pass both model_path and range_path, or neither (then they are fetched "
                             f"into {cache_dir})")
        self._paths = None if model_path is None else (Path(model_path), Path(range_path))
        self._cache_dir = Path(cache_dir)
        self._model = None

    def _quality(self):
        if self._model is None:
            import cv2

            if not hasattr(cv2, "quality"):
                raise BrisqueModelError("cv2 has no `quality` module: install opencv-contrib-python-headless "
                                        "(not opencv-python-headless; only one of them may be installed)")
            model_path, range_path = self._paths or ensure_brisque_models(self._cache_dir)
            for path in (model_path, range_path):
                if not Path(path).is_file():
                    raise BrisqueModelError(f"{path}: BRISQUE model file not found")
            self._model = cv2.quality.QualityBRISQUE_create(str(model_path), str(range_path))
        return self._model

    def score(self, rgb_uint8: np.ndarray) -> float:
        import cv2

        rgb = check_rgb_uint8(rgb_uint8, "brisque")
        gray = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
        return float(self._quality().compute(gray)[0])
