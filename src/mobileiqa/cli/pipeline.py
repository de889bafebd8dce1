"""The pipeline's stage commands, one per stage of ``dvc.yaml`` (``prepare`` … ``register``): each parses its
paths and calls :mod:`mobileiqa.stages`, then prints a one-line summary.

Handlers import their stage when they run (``# lazy``): the stages import torch, timm and mlflow, and the parser
is built on every call, ``mobileiqa --help`` included.
"""

from __future__ import annotations

import argparse
import sys

from mobileiqa.atomic import write_json
from mobileiqa.cli.args import add_dataset_arg, add_params_args, params_from, profile_name
from mobileiqa.export.formats import ExportArgumentError, describe, parse_options
from mobileiqa.preprocess import PHOTO_HEIGHT, PHOTO_WIDTH


def _prepare(args: argparse.Namespace) -> int:
    from mobileiqa.stages.prepare import run_prepare  # lazy: see the module docstring

    info = run_prepare(params_from(args), args.photos, args.out, run_record=args.run_record)
    took = f" in {info['seconds'] / 60:.1f} min" if "seconds" in info else ""
    print(f"prepared {info['images']} images ({info['source']}){took} in {args.out}; manifest sha256 "
          f"{info['manifest_sha256'][:12]}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from mobileiqa.stages.validate import run_validate  # lazy: see the module docstring

    summary = run_validate(params_from(args), args.dataset, args.report, run_record=args.run_record)
    print(f"data validation passed: {summary['rows']} rows, splits {summary['splits']}; report in {args.report}")
    return 0


def _models(args: argparse.Namespace) -> int:
    from mobileiqa.models import list_models  # lazy: see the module docstring
    from mobileiqa.stages.models import run_models, summary_rows, write_summary  # lazy: see the module docstring

    if args.params or args.overlay or args.set:  # the pipeline stage: the configured pair, tracked
        params = params_from(args)
        height, width = args.height or params.summary.height, args.width or params.summary.width
        rows = run_models(params, args.out, height, width, run_record=args.run_record)
    else:
        height, width = args.height or PHOTO_HEIGHT, args.width or PHOTO_WIDTH
        rows = summary_rows(list_models(args.role), height, width)
        if args.out:
            write_summary(rows, height, width, args.out)
    w = max([46, *(len(r["model"]) for r in rows)])
    header = f"{'model':{w}} {'role':8} {'params (M)':>10} {f'GMACs @{width}x{height}':>17}  score scale"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['model']:{w}} {r['role']:8} {r['params_m']:10.2f} {r['gmacs']:17.2f}  {r['scale']}")
    return 0


def _report_training(role: str, m: dict, out: str) -> int:
    if m:  # empty on non-zero torchrun ranks: rank 0 reports
        print(f"{role}: best epoch {m['best_epoch'] + 1}, val SRCC {m['val_srcc']:.4f}, PLCC {m['val_plcc']:.4f}; "
              f"{out}/model.pt")
    return 0


def _train_teacher(args: argparse.Namespace) -> int:
    from mobileiqa.stages.train_teacher import run_train_teacher  # lazy: see the module docstring

    metrics = run_train_teacher(params_from(args), args.dataset, args.out, resume=args.resume,
                                run_record=args.run_record)
    return _report_training("teacher", metrics, args.out)


def _distill_student(args: argparse.Namespace) -> int:
    from mobileiqa.stages.distill_student import run_distill_student  # lazy: see the module docstring

    metrics = run_distill_student(params_from(args), args.dataset, args.teacher, args.out, resume=args.resume,
                                  run_record=args.run_record)
    return _report_training("student", metrics, args.out)


def _baselines(args: argparse.Namespace) -> int:
    from mobileiqa.stages.baselines import run_baselines  # lazy: see the module docstring

    info = run_baselines(params_from(args), args.dataset, args.out, run_record=args.run_record)
    print(f"scored {info['n']} {info['split']} images with {', '.join(info['baselines'])}; {args.out}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from mobileiqa.stages.evaluate import run_evaluate  # lazy: see the module docstring

    out = run_evaluate(params_from(args), args.dataset, args.model, args.out, teacher_path=args.teacher,
                       baselines_dir=args.baselines, run_record=args.run_record)
    m = out["model"]
    print(f"student on {out['split']} ({out['n']} images): SRCC {m['srcc']:.4f}, PLCC {m['plcc']:.4f}, "
          f"KRCC {m['krcc']:.4f}")
    if out.get("teacher"):
        print(f"teacher: SRCC {out['teacher']['srcc']:.4f}, PLCC {out['teacher']['plcc']:.4f}")
    for name, r in out["baselines"].items():
        print(f"{name}: SRCC {r['srcc']:.4f} (sign-adjusted)")
    print(f"report: {args.out}/report.md")
    return 0


def _export(args: argparse.Namespace) -> int:
    if args.list_formats:
        print(describe())
        return 0
    if not args.model:
        print("mobileiqa export: --model is required (a .pt checkpoint or a registered model name)", file=sys.stderr)
        return 2
    from mobileiqa.stages.export import run_export  # lazy: see the module docstring

    params = params_from(args)
    try:
        options = parse_options(args.option)
        report = run_export(params, args.model, args.data, args.out, args.formats, options, run_record=args.run_record)
    except ExportArgumentError as exc:
        print(f"mobileiqa export: {exc}", file=sys.stderr)
        return 2
    if args.metrics:
        write_json(args.metrics, report)
    lat = report["latency"]
    print(f"{report['model']} -> {args.out}: shipped {report['shipped']}; ONNX parity "
          f"{report['parity']['onnx']['max_abs_diff']:.2g}; latency {lat['ms']} ms at {lat['width']}x{lat['height']}, "
          f"{lat['threads']} thread(s) on {lat['machine']}")
    if "int8" in report:
        i8 = report["int8"]
        print(f"int8: {'shipped' if i8['shipped'] else 'dropped: ' + str(i8['reason'])} "
              f"(ΔSRCC {i8['drift']['delta_srcc']}, ΔPLCC {i8['drift']['delta_plcc']})")
    if "mobile" in report and not report["mobile"]["passed"]:
        print(f"mobile check FAILED: {report['mobile']['reasons']}", file=sys.stderr)
        return 1
    return 0


def _register(args: argparse.Namespace) -> int:
    from mobileiqa.stages.register import run_register  # lazy: see the module docstring

    info = run_register(params_from(args), args.eval, args.export, None if args.no_validation else args.validation,
                        profile=profile_name(args), run_record=args.run_record)
    if args.out:
        write_json(args.out, info)
    if args.metrics:
        write_json(args.metrics, info["headline"])
    print(f"registered {info['name']} v{info['version']} (run {info['run_id']})")
    promotion = info["promotion"]
    print(promotion.get("report") or f"not promoted automatically: {promotion['reason']} "
                                     f"(`mobileiqa promote` judges it; @challenger)")
    return 0


def _training_args(p: argparse.ArgumentParser, out: str) -> None:
    add_params_args(p, "params file", default="params.yaml")
    add_dataset_arg(p)
    p.add_argument("--out", default=out, help="folder for the model, its curves and checkpoints")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoints/last.pt")


def add_run_record_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run-record", metavar="JSON",
                   help="write this stage's MLflow run (id, experiment, pipeline_run key) here when it succeeds")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the stage commands to the ``mobileiqa`` parser, in pipeline order."""
    p = sub.add_parser("prepare", help="build the default dataset or read a real one into a manifest")
    add_params_args(p, "params file", default="params.yaml")
    p.add_argument("--photos", default="data", help="reference photos for data.source=default")
    p.add_argument("--out", default="artifacts/dataset", help="folder for the prepared dataset (images, manifest)")
    add_run_record_arg(p)
    p.set_defaults(func=_prepare)

    p = sub.add_parser("validate", help="run the data validation gate on a prepared dataset")
    add_params_args(p, "params file", default="params.yaml")
    p.add_argument("--dataset", default="artifacts/dataset", help="folder written by `mobileiqa prepare`")
    p.add_argument("--report", default="artifacts/validation", help="folder for the validation report and summary")
    add_run_record_arg(p)
    p.set_defaults(func=_validate)

    p = sub.add_parser("models", help="list registered models with params and GMACs at a resolution")
    p.add_argument("--height", type=int,
                   help=f"input height for GMACs (default {PHOTO_HEIGHT}, or params summary.height)")
    p.add_argument("--width", type=int, help=f"input width for GMACs (default {PHOTO_WIDTH}, or params summary.width)")
    p.add_argument("--role", choices=["teacher", "student"], help="only this role")
    add_params_args(p, "report only the teacher/student configured in this params file")
    p.add_argument("--out", help="also write the table as JSON to this path")
    add_run_record_arg(p)
    p.set_defaults(func=_models)

    p = sub.add_parser("train-teacher", help="train the teacher on the prepared dataset (MLflow-tracked)")
    _training_args(p, "artifacts/teacher")
    add_run_record_arg(p)
    p.set_defaults(func=_train_teacher)

    p = sub.add_parser("distill-student", help="distil the student from a trained teacher (MLflow-tracked)")
    _training_args(p, "artifacts/student")
    p.add_argument("--teacher", default="artifacts/teacher/model.pt", help="the trained teacher checkpoint")
    add_run_record_arg(p)
    p.set_defaults(func=_distill_student)

    p = sub.add_parser("baselines", help="score the evaluated split with NIQE, PIQE and BRISQUE (cached per dataset)")
    add_params_args(p, "params file", default="params.yaml")
    add_dataset_arg(p)
    p.add_argument("--out", default="artifacts/baselines", help="folder for the baselines' scores and metrics")
    add_run_record_arg(p)
    p.set_defaults(func=_baselines)

    p = sub.add_parser("evaluate", help="accuracy of the student (and teacher) with baselines, plots and tables")
    add_params_args(p, "params file", default="params.yaml")
    add_dataset_arg(p)
    p.add_argument("--model", default="artifacts/student/model.pt", help=".pt, .onnx or .ort file of the student")
    p.add_argument("--teacher", help="also evaluate this teacher checkpoint (and compare)")
    p.add_argument("--baselines", help="folder written by `mobileiqa baselines` (else they are scored here)")
    p.add_argument("--out", default="artifacts/eval", help="folder for metrics, predictions, plots and the report")
    add_run_record_arg(p)
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("export", help="export a model to ONNX / ORT (mobile) / int8 with parity and drift checks",
                       description="Formats and their options: `mobileiqa export --list-formats`.")
    p.add_argument("--model", help="a .pt checkpoint (e.g. artifacts/student/model.pt) or a registered "
                                   "model name (random init: latency/smoke only)")
    p.add_argument("--data", help="prepared dataset folder (int8 calibration: train split; drift: test split)")
    p.add_argument("--out", default="artifacts/export", help="output folder")
    p.add_argument("--formats", help="comma-separated formats (default: params export.formats)")
    p.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                   help="format option, e.g. int8_max_srcc_drop=0.01 (repeatable; validated by the formats table)")
    p.add_argument("--metrics", help="also write the report (export.json) here, e.g. for DVC metrics")
    p.add_argument("--list-formats", action="store_true", help="print the formats table and exit")
    add_params_args(p, "params file (export section)", "params.yaml")
    add_run_record_arg(p)
    p.set_defaults(func=_export)

    p = sub.add_parser("register", help="register the evaluated, exported student in MLflow (alias @challenger)")
    add_params_args(p, "params file", default="params.yaml")
    p.add_argument("--eval", default="artifacts/eval", help="evaluate stage folder (metrics.json)")
    p.add_argument("--export", default="artifacts/export", help="export stage folder (model.onnx, export.json)")
    p.add_argument("--validation", default="artifacts/validation", help="validate stage folder (summary.json)")
    p.add_argument("--no-validation", action="store_true",
                   help="record no validation outcome (promotion then fails when register.require_validation)")
    p.add_argument("--out", help="also write {name, version, run_id, model_uri, headline, promotion} as JSON here")
    p.add_argument("--metrics", help="also write the pipeline's headline metrics (≤ 12 keys: SRCC/PLCC of student, "
                                     "teacher and best baseline, latency, gates) as JSON here, e.g. for DVC")
    add_run_record_arg(p)
    p.set_defaults(func=_register)
