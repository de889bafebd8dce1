"""Run the whole pipeline on this machine with kfp's local runner (``kfp.local.SubprocessRunner``, no Docker):
every component runs as a subprocess of the current Python environment, artifacts land under ``pipeline_root``.

Cluster-only settings (GPU requests, node selectors, secrets, retries) are ignored locally; credentials and the
MLflow store come from this process's environment (``MLFLOW_TRACKING_URI``; unset: ``sqlite:///mlflow.db`` in the
working directory).
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

from mobileiqa.orchestration.compile import load_pipeline
from mobileiqa.orchestration.params_text import load_params_text

STEPS = ("prepare", "validate", "train-teacher", "distill-student", "evaluate", "export", "register")


def run_local(params_yaml: str, data_source: str, pipeline_root: str | os.PathLike, overlay_yaml: str = "",
              overrides: Sequence[str] = (), root: str | os.PathLike = ".") -> dict:
    """Run the pipeline end to end; returns :func:`collect_run` of the run folder. Raises when a step fails."""
    from kfp import local

    load_params_text(params_yaml, overlay_yaml, overrides)  # fail here, not in the first subprocess
    pipeline_root = Path(pipeline_root).resolve()
    before = set(pipeline_root.iterdir()) if pipeline_root.is_dir() else set()
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(pipeline_root),
               raise_on_error=True)
    pipeline = load_pipeline(root)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*non-Python base image.*", category=RuntimeWarning)
        pipeline(params_yaml=params_yaml, overlay_yaml=overlay_yaml, overrides=list(overrides),
                 data_source=str(data_source))
    runs = sorted(set(pipeline_root.iterdir()) - before, key=lambda p: p.stat().st_mtime)
    if not runs:
        raise RuntimeError(f"the local run wrote nothing under {pipeline_root}")
    return collect_run(runs[-1])


def collect_run(run_dir: str | os.PathLike) -> dict:
    """What a local run left: ``{"run_dir", "tasks": {task: {output: uri}}, "metrics": {task: {name: value}}}``,
    read from each task's ``executor_output.json`` (``Output[Metrics]`` values live in its metadata)."""
    run_dir = Path(run_dir)
    tasks, metrics = {}, {}
    for record in sorted(run_dir.glob("*/executor_output.json")):
        task = record.parent.name
        artifacts = json.loads(record.read_text()).get("artifacts", {})
        tasks[task] = {name: entry["artifacts"][0]["uri"] for name, entry in artifacts.items()}
        if "metrics" in artifacts:
            metrics[task] = artifacts["metrics"]["artifacts"][0].get("metadata", {})
    return {"run_dir": str(run_dir), "tasks": tasks, "metrics": metrics}
