"""The ``validate`` stage: the data validation gate on a prepared dataset (:mod:`mobileiqa.data.validate`);
writes ``report.html`` and ``summary.json`` and stops the pipeline naming the failing expectations and rows."""

from __future__ import annotations

import os
from pathlib import Path

from mobileiqa.config import Params
from mobileiqa.data.manifest import PreparedDataset
from mobileiqa.data.validate import run_gate
from mobileiqa.stages.mlflow_run import log_files, log_metrics, stage_logger


def run_validate(params: Params, dataset_dir: str | os.PathLike, report_dir: str | os.PathLike,
                 progress: bool = True, run_record: str | os.PathLike | None = None) -> dict:
    """Run the gate with ``params.validate``; returns the summary (raises ``DataValidationError`` on failure). In
    an MLflow run: the rows, the failed expectations, the report and the summary (also when the gate fails)."""
    dataset = PreparedDataset.load(dataset_dir)
    report_dir = Path(report_dir)
    with stage_logger(params, "validate", dataset_dir, context="validation", record=run_record) as logger:
        try:
            summary = run_gate(dataset.manifest, dataset.root, params.validate, report_dir=report_dir,
                               progress=progress)
        finally:
            log_files(logger, report_dir / "report.html", report_dir / "summary.json")
        failed = sum(not e.get("success", True) for e in summary.get("expectations", []) if isinstance(e, dict))
        log_metrics(logger, {"rows": summary.get("rows"), "failed_expectations": failed})
    return summary
