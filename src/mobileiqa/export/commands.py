"""CLI commands of this area (export, predict); registered by mobileiqa.cli."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable


def _cmd_export(args: argparse.Namespace) -> int:
    from mobileiqa.export.formats import ExportArgumentError, describe, parse_options

    if args.list_formats:
        print(describe())
        return 0
    if not args.model:
        print("mobileiqa export: --model is required (a .pt checkpoint or a registered model name)", file=sys.stderr)
        return 2
    from mobileiqa.config import load_params
    from mobileiqa.export.stages import export_model

    params = load_params(args.params, args.overlay, args.set)
    try:
        options = parse_options(args.option)
        report = export_model(args.model, args.out, params.export, args.data, args.formats, options)
    except ExportArgumentError as exc:
        print(f"mobileiqa export: {exc}", file=sys.stderr)
        return 2
    if args.metrics:
        from mobileiqa.atomic import write_json

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


def _cmd_predict(args: argparse.Namespace) -> int:
    from mobileiqa.predict import Predictor, iter_files, output_format, write_scores

    try:
        fmt = output_format(args.out, args.format)
    except ValueError as exc:
        print(f"mobileiqa predict: {exc}", file=sys.stderr)
        return 2
    predictor = Predictor.from_path(args.model, threads=args.threads)

    def report(result) -> None:
        print(f"FAILED {result.source}: {result.error}", file=sys.stderr)

    n_ok, failures = write_scores(predictor.score_files(iter_files(args.paths)), args.out, fmt, on_error=report,
                                  progress=not args.no_progress)
    where = args.out or "stdout"
    print(f"scored {n_ok} image(s) with {predictor.metadata.get('model')} ({predictor.backend_name}, "
          f"{predictor.scale.describe()}) -> {where}; {len(failures)} failed", file=sys.stderr)
    return 1 if failures else 0


def register(sub: argparse._SubParsersAction, add_params_args: Callable) -> None:
    """Add this area's subcommands to the ``mobileiqa`` parser."""
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
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("predict", help="score image files, folders (recursive) and globs with a model file")
    p.add_argument("paths", nargs="+", help="image files, folders or glob patterns (quote globs)")
    p.add_argument("--model", required=True, help=".pt, .onnx or .ort file, or models:/NAME@ALIAS")
    p.add_argument("--out", help="output file (.csv or .json), written only when every input was processed; "
                                 "default stdout")
    p.add_argument("--format", choices=("csv", "json"), help="output format (default: from --out's suffix, else csv)")
    p.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads (default: its own)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_predict)
