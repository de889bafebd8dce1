"""Fixtures for the baseline tests: pyiqa's five calibration images (read out of its wheel, which is only
downloaded, never installed or imported) and the BRISQUE model files, both cached across sessions under
``~/.cache/mobileiqa-test`` (override with MOBILEIQA_TEST_CACHE)."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

PYIQA_WHEEL = ("pyiqa", "0.1.16")
PYIQA_WHEEL_SHA256 = "42bbcf1c274a8b53f040a3ec5ec304a15b7725afb5a85b81050e9cc7e6d09ed4"
#: The distorted calibration images (ResultsCalibra/dist_dir/*.bmp in the wheel) and their SHA-256.
CALIBRATION_SHA256 = {
    "I03": "bb817e7fef614dcc12b3a99af33ce3d201bc4d56c4827254c0bcc4fa6ea11151",
    "I04": "f3d685983aacd76b2c131579ea60cee345205a1169a4bd2ff5f3039ecf81729e",
    "I06": "726e043e99d8e07235c2535107d4bb6fc85bad0cb3cc7d6ba3ecf3364ac97539",
    "I08": "8ad39042d7e17d6c96ecfd8c4b9f0e98c803b303a92d368ef57bc9c3c40f5330",
    "I19": "e0c6000652d270d1c39b7094761d01e14695fc5aa7cb76b945be6391327ee886",
}


def _cache_root() -> Path:
    return Path(os.environ.get("MOBILEIQA_TEST_CACHE", Path.home() / ".cache" / "mobileiqa-test"))


def _pyiqa_wheel() -> Path:
    name, version = PYIQA_WHEEL
    folder = _cache_root() / "wheels"
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    if wheel.is_file() and hashlib.sha256(wheel.read_bytes()).hexdigest() == PYIQA_WHEEL_SHA256:
        return wheel
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                               "-d", tmp, f"{name}=={version}"], capture_output=True, text=True)
        got = Path(tmp) / wheel.name
        if proc.returncode != 0 or not got.is_file():
            pytest.fail(f"pip download {name}=={version} failed (needs PyPI): {proc.stderr[-500:]}")
        os.replace(got, wheel)
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert digest == PYIQA_WHEEL_SHA256, f"{wheel}: SHA-256 {digest} differs from the pinned one; delete it"
    return wheel


@pytest.fixture(scope="session")
def calibration_images() -> dict[str, np.ndarray]:
    """name -> HxWx3 uint8 RGB of pyiqa's five distorted calibration images."""
    from PIL import Image

    with zipfile.ZipFile(_pyiqa_wheel()) as zf:
        out = {}
        for name, sha in CALIBRATION_SHA256.items():
            data = zf.read(f"ResultsCalibra/dist_dir/{name}.bmp")
            assert hashlib.sha256(data).hexdigest() == sha, f"{name}.bmp in the wheel changed"
            out[name] = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    return out


@pytest.fixture(scope="session")
def brisque_models() -> tuple[Path, Path]:
    """The LIVE BRISQUE model files from Debian's opencv-data (skipped only where apt has no package lists, and
    never under CI=true: scripts/setup.sh refreshes the lists as root)."""
    from mobileiqa.eval.baselines import brisque

    cache = _cache_root() / "debs"
    cache.mkdir(parents=True, exist_ok=True)
    try:
        return brisque.ensure_brisque_models(cache)
    except brisque.BrisqueModelError as exc:
        if brisque._apt_lists_empty() and os.environ.get("CI") != "true":
            pytest.skip(f"apt has no package lists on this machine: {exc}")
        raise
