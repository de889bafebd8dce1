"""The ``validate`` stage: the data validation gate on a prepared dataset (:mod:`mobileiqa.data.validate`);
writes ``report.html`` and ``summary.json`` and stops the pipeline naming the failing expectations and rows."""

from __future__ import annotations

import os

from mobileiqa.config import Params
from mobileiqa.data.manifest import PreparedDataset
from mobileiqa.data.validate import run_gate


def run_validate(params: Params, dataset_dir: str | os.PathLike, report_dir: str | os.PathLike,
                 progress: bool = True) -> dict:
    """Run the gate with ``params.validate``; returns the summary (raises ``DataValidationError`` on failure)."""
    dataset = PreparedDataset.load(dataset_dir)
    return run_gate(dataset.manifest, dataset.root, params.validate, report_dir=report_dir, progress=progress)
