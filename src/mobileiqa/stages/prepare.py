"""The ``prepare`` stage: the dataset the pipeline trains and evaluates on (the embedded default dataset built
from the reference photos, or a real dataset read in its published layout), as ``manifest.csv`` +
``dataset.json`` under one folder (:func:`mobileiqa.data.prepare.prepare`)."""

from __future__ import annotations

import os

from mobileiqa.config import Params
from mobileiqa.data.prepare import prepare


def run_prepare(params: Params, photos_dir: str | os.PathLike | None, out_dir: str | os.PathLike,
                progress: bool = True) -> dict:
    """Prepare ``params.data`` into ``out_dir``; ``photos_dir`` holds the reference photos of the default
    dataset (unused by real datasets). Returns the report written as ``dataset.json`` plus the wall time."""
    return prepare(params.data, out_dir, photos_dir=photos_dir, progress=progress)
