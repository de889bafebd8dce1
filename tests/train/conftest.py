from __future__ import annotations

from pathlib import Path

import pytest

from mobileiqa.config import load_params

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def tiny_params():
    """The tiny profile with tracking off (tests that track turn it back on)."""
    return load_params(ROOT / "params.yaml", [ROOT / "params/tiny.yaml"], ["tracking.enabled=false"])


@pytest.fixture(scope="session")
def prepared_tiny(photos_dir, tmp_path_factory, tiny_params):
    from mobileiqa.data.prepare import prepare

    out = tmp_path_factory.mktemp("prepared")
    prepare(tiny_params.data, out, photos_dir, progress=False)
    return out
