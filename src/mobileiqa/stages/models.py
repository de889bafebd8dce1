"""The ``models`` stage: parameters and GMACs of the configured teacher and student at ``summary.height x
width`` (also ``mobileiqa models`` for any registered variants), written as ``summary.json``."""

from __future__ import annotations

import os

from mobileiqa.atomic import write_json
from mobileiqa.config import Params
from mobileiqa.models import get_spec
from mobileiqa.models.complexity import complexity
from mobileiqa.stages.mlflow_run import log_files, log_metrics, stage_logger


def summary_rows(names: list[str], height: int, width: int) -> list[dict]:
    """One row per registered model: role, backbone, params (M), GMACs at ``height x width``, score scale."""
    rows = []
    for name in names:
        spec, cost = get_spec(name), complexity(name, height, width)
        rows.append(dict(model=name, role=spec.role, backbone=spec.backbone, params_m=round(cost.params_m, 3),
                         gmacs=round(cost.gmacs, 2), height=height, width=width, faithful=spec.faithful,
                         scale=spec.head.scale.describe(), description=spec.description))
    return rows


def write_summary(rows: list[dict], height: int, width: int, out: str | os.PathLike) -> None:
    write_json(out, {"resolution": {"height": height, "width": width}, "models": rows})


def run_models(params: Params, out: str | os.PathLike | None = None, height: int | None = None,
               width: int | None = None, run_record: str | os.PathLike | None = None) -> list[dict]:
    """The configured teacher and student at ``height x width`` (default: the ``summary`` section); also written to
    ``out`` when given. In an MLflow run: each role's parameters (M) and GMACs, and the summary file."""
    height, width = height or params.summary.height, width or params.summary.width
    with stage_logger(params, "models", record=run_record) as logger:
        rows = summary_rows([params.models.teacher, params.models.student], height, width)
        if out:
            write_summary(rows, height, width, out)
            log_files(logger, out)
        log_metrics(logger, {f"{r['role']}_{k}": r[k] for r in rows for k in ("params_m", "gmacs")})
    return rows
