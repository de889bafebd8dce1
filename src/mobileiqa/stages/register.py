"""The ``register`` stage: read the evaluate, export
and validate outputs, render the model card, and register a new version of ``register.model_name`` with alias
``challenger`` (see :mod:`mobileiqa.tracking.mlflow_registry`). Promotion is a separate, deliberate step
(``mobileiqa promote``, :mod:`mobileiqa.tracking.promotion`).
"""

from __future__ import annotations

import os
from pathlib import Path

from mobileiqa.atomic import read_stage_json
from mobileiqa.config import Params
from mobileiqa.environment import git_commit as current_commit
from mobileiqa.tracking.card import render_card
from mobileiqa.tracking.mlflow_registry import collect_evidence, read_eval, register_version


def _model_arch(export: dict, eval_data: dict) -> str | None:
    meta = export.get("metadata") if isinstance(export.get("metadata"), dict) else {}
    for value in (export.get("model"), export.get("model_name"), meta.get("model"), meta.get("model_name")):
        if isinstance(value, str) and value:
            return value
    return None


def run_register(params: Params, eval_dir: str | os.PathLike, export_dir: str | os.PathLike,
                 validation_dir: str | os.PathLike | None, profile: str | None = None,
                 git_commit: str | None = None) -> dict:
    """Register the evaluated, exported student; returns ``{name, version, run_id, model_uri, alias}``.

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
    reg = register_version(cfg, params.tracking, export_dir, evidence, card, extra)
    return reg.to_dict()
