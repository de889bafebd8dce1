"""The ``register`` stage: read the evaluate, export and validate outputs, render the model card, register a new
version of ``register.model_name`` with alias ``challenger`` (see :mod:`mobileiqa.tracking.mlflow_registry`), and,
when ``register.auto_promote``, judge it at once with the promotion gates (:mod:`mobileiqa.tracking.promotion`):
it becomes ``champion`` only when every gate passes, absolute floors included, so a fresh registry never crowns a
model worse than the floors. A ``dvc exp run`` (``$DVC_EXP_NAME`` set) never promotes; ``mobileiqa promote`` is
the deliberate step for those.
"""

from __future__ import annotations

import os
from pathlib import Path

from mobileiqa.atomic import read_stage_json
from mobileiqa.config import Params
from mobileiqa.environment import git_commit as current_commit
from mobileiqa.eval.headline import headline
from mobileiqa.stages.mlflow_run import pipeline_tags, write_run_record
from mobileiqa.tracking.card import render_card
from mobileiqa.tracking.mlflow_registry import client, collect_evidence, read_eval, register_version
from mobileiqa.tracking.promotion import promote

#: set by DVC for the commands of an experiment (``dvc exp run``)
DVC_EXPERIMENT_ENV = "DVC_EXP_NAME"


def auto_promotion(params: Params) -> str | None:
    """Why this run does not promote (``None``: it does)."""
    if not params.register.auto_promote:
        return "register.auto_promote is off"
    if os.environ.get(DVC_EXPERIMENT_ENV):
        return f"a DVC experiment ({os.environ[DVC_EXPERIMENT_ENV]}) registers a challenger only"
    return None


def _model_arch(export: dict, eval_data: dict) -> str | None:
    meta = export.get("metadata") if isinstance(export.get("metadata"), dict) else {}
    for value in (export.get("model"), export.get("model_name"), meta.get("model"), meta.get("model_name")):
        if isinstance(value, str) and value:
            return value
    return None


def run_register(params: Params, eval_dir: str | os.PathLike, export_dir: str | os.PathLike,
                 validation_dir: str | os.PathLike | None, profile: str | None = None,
                 git_commit: str | None = None, run_record: str | os.PathLike | None = None) -> dict:
    """Register the evaluated, exported student and, unless :func:`auto_promotion` says why not, promote it when
    every gate passes; returns ``{name, version, run_id, model_uri, alias, headline, promotion}`` (``headline``:
    the pipeline's headline metrics, :mod:`mobileiqa.eval.headline`; ``promotion``: outcome, champion afterwards,
    each gate's verdict, or the reason it was skipped).

    ``validation_dir`` holds the validate stage's ``summary.json`` (``None``: not recorded, which fails the
    data-validation gate at promotion when ``register.require_validation``)."""
    cfg = params.register
    eval_data = read_eval(eval_dir)
    export_path = Path(export_dir) / "export.json"
    export = read_stage_json(export_path, "export")
    validation = None if validation_dir is None else read_stage_json(Path(validation_dir) / "summary.json", "validate")
    evidence = collect_evidence(eval_data, export, validation, git_commit or current_commit(),
                                profile or cfg.profile, _model_arch(export, eval_data))
    card = render_card(cfg.model_name, evidence, export, export_dir)
    extra = {"export_json": str(export_path), "eval_metrics": str(Path(eval_dir) / "metrics.json")}
    tags = pipeline_tags(params, "register")
    reg = register_version(cfg, params.tracking, export_dir, evidence, card, extra, run_tags=tags)
    if run_record is not None:
        write_run_record(run_record, params, "register", tags, reg.run_id)
    info = reg.to_dict()
    info["headline"] = headline(eval_data, export, cfg.min_srcc, cfg.min_srcc_over_baselines, cfg.latency_budget_ms)
    skipped = auto_promotion(params)
    if skipped is not None:
        info["promotion"] = {"outcome": "skipped", "reason": skipped}
        return info
    outcome = promote(client(params.tracking), cfg, reg.version, int8_max_drift=params.export.int8_max_srcc_drop)
    info["alias"] = "champion" if outcome.champion == reg.version else "challenger"
    info["promotion"] = {"outcome": outcome.outcome, "champion": outcome.champion, "report": outcome.report(),
                         "gates": {g.name: {"passed": g.passed, "detail": g.detail} for g in outcome.gates}}
    return info
