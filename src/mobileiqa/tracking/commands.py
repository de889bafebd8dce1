"""CLI commands of this area (register, promote, card); registered by mobileiqa.cli.

The store is ``tracking.uri`` / ``$MLFLOW_TRACKING_URI`` / the project's ``sqlite:///mlflow.db``; credentials of
remote stores come from the environment (``AWS_*``, ``MLFLOW_TRACKING_TOKEN``...), never from flags.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path


def _load(args: argparse.Namespace):
    from mobileiqa.config import load_params

    return load_params(args.params, args.overlay, args.set)


def _profile(args: argparse.Namespace) -> str | None:
    return "+".join(Path(o).stem for o in args.overlay) or None


def _cmd_register(args: argparse.Namespace) -> int:
    from mobileiqa.atomic import write_json
    from mobileiqa.tracking.stages import run_register

    params = _load(args)
    info = run_register(params, args.eval, args.export, None if args.no_validation else args.validation,
                        profile=_profile(args))
    if args.out:
        write_json(args.out, info)
    print(f"registered {info['name']} v{info['version']} (@challenger; run {info['run_id']})")
    return 0


def _cmd_promote(args: argparse.Namespace) -> int:
    from mobileiqa.tracking.promotion import break_lock, history, promote, rescore_on_dataset
    from mobileiqa.tracking.registry import client

    params = _load(args)
    c = client(params.tracking)
    name = params.register.model_name
    if args.break_lock:
        holder = break_lock(c, name)
        print(f"removed the promotion lock of {name} (held by {holder})" if holder else "no promotion lock held")
        return 0
    if args.history:
        for row in history(c, name):
            print(json.dumps(row))
        return 0
    rescore = rescore_on_dataset(args.dataset) if args.dataset else None
    outcome = promote(c, params.register, args.version, rescore,
                      int8_max_drift=params.export.int8_max_srcc_drop)
    print(outcome.report())
    return 0 if outcome.outcome in ("promoted", "already-champion") else 1


def _cmd_card(args: argparse.Namespace) -> int:
    from mobileiqa.atomic import write_text
    from mobileiqa.tracking.registry import client, read_card, resolve_version

    params = _load(args)
    c = client(params.tracking)
    name = params.register.model_name
    text = read_card(c, name, resolve_version(c, name, args.version))
    if args.out:
        write_text(args.out, text)
    else:
        print(text)
    return 0


def register(sub: argparse._SubParsersAction, add_params_args: Callable) -> None:
    """Add this area's subcommands to the ``mobileiqa`` parser."""
    p = sub.add_parser("register", help="register the evaluated, exported student in MLflow (alias @challenger)")
    add_params_args(p, "params file", default="params.yaml")
    p.add_argument("--eval", default="artifacts/eval", help="evaluate stage folder (metrics.json)")
    p.add_argument("--export", default="artifacts/export", help="export stage folder (model.onnx, export.json)")
    p.add_argument("--validation", default="artifacts/validation", help="validate stage folder (summary.json)")
    p.add_argument("--no-validation", action="store_true",
                   help="record no validation outcome (promotion then fails when register.require_validation)")
    p.add_argument("--out", help="also write {name, version, run_id, model_uri} as JSON here")
    p.set_defaults(func=_cmd_register)

    p = sub.add_parser("promote", help="move @champion to a version when every gate passes (exit 1 if refused)")
    add_params_args(p, "params file", default="params.yaml")
    p.add_argument("--version", help="version number or alias to promote (default: @challenger)")
    p.add_argument("--dataset", help="prepared dataset of the challenger's evaluation, to re-score a champion "
                                     "evaluated on another split")
    p.add_argument("--history", action="store_true", help="print every recorded promotion attempt (JSON lines)")
    p.add_argument("--break-lock", action="store_true",
                   help="remove a promotion lock left by a killed process (check no promotion is running)")
    p.set_defaults(func=_cmd_promote)

    p = sub.add_parser("card", help="print the model card of a registered version")
    add_params_args(p, "params file", default="params.yaml")
    p.add_argument("--version", help="version number or alias (default: @champion)")
    p.add_argument("--out", help="write the card to this file instead of printing it")
    p.set_defaults(func=_cmd_card)
