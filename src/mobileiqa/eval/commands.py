"""CLI commands of the evaluation area: ``baselines`` and ``evaluate``; registered by mobileiqa.cli."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable


def _load(args: argparse.Namespace):
    from mobileiqa.config import load_params

    return load_params(args.params, args.overlay, args.set)


def _cmd_baselines(args: argparse.Namespace) -> int:
    from mobileiqa.eval.stages import run_baselines

    info = run_baselines(_load(args), args.dataset, args.out)
    print(f"scored {info['n']} {info['split']} images with {', '.join(info['baselines'])}; {args.out}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from mobileiqa.eval.stages import run_evaluate

    out = run_evaluate(_load(args), args.dataset, args.model, args.out, teacher_path=args.teacher,
                       baselines_dir=args.baselines)
    m = out["model"]
    print(f"student on {out['split']} ({out['n']} images): SRCC {m['srcc']:.4f}, PLCC {m['plcc']:.4f}, "
          f"KRCC {m['krcc']:.4f}")
    if out.get("teacher"):
        print(f"teacher: SRCC {out['teacher']['srcc']:.4f}, PLCC {out['teacher']['plcc']:.4f}")
    for name, r in out["baselines"].items():
        print(f"{name}: SRCC {r['srcc']:.4f} (sign-adjusted)")
    print(f"report: {args.out}/report.md")
    return 0


def _cmd_benchmark_generalisation(args: argparse.Namespace) -> int:
    from mobileiqa.eval.generalisation import leave_one_group_out

    result = leave_one_group_out(_load(args), args.dataset, args.out, tuple(args.group) or None)
    for r in result["groups"]:
        print(f"without {r['group']:20} unseen SRCC {r['unseen_srcc']:.3f} (n={r['unseen_n']}), seen "
              f"{r['seen_srcc']:.3f}")
    print(f"mean unseen SRCC {result['mean_unseen_srcc']:.3f}, seen {result['mean_seen_srcc']:.3f}; "
          f"{args.out}/generalisation.md")
    if args.record:
        from mobileiqa.eval.generalisation import record

        print(f"recorded {record(result, args.record, ' '.join(['mobileiqa', *sys.argv[1:]]))}")
    return 0


def _cmd_benchmark_ablation(args: argparse.Namespace) -> int:
    from mobileiqa.eval.ablation import markdown, run_ablation

    result = run_ablation(_load(args), args.dataset, args.teacher or ["artifacts/teacher/model.pt"], args.out,
                          tuple(args.only))
    if result is None:
        print(f"ran {', '.join(args.only)}; run again without --only for the summary")
        return 0
    print(markdown(result), end="")
    print(f"{args.out}/ablation.md, {args.out}/ablation.png")
    if args.record:
        from mobileiqa.eval.ablation import record

        print(f"recorded {record(result, args.out, args.record, ' '.join(['mobileiqa', *sys.argv[1:]]))}")
    return 0


def register(sub: argparse._SubParsersAction, add_params_args: Callable) -> None:
    """Add this area's subcommands to the ``mobileiqa`` parser."""
    p = sub.add_parser("baselines", help="score the evaluated split with NIQE, PIQE and BRISQUE (cached per dataset)")
    add_params_args(p, "params file", default="params.yaml")
    p.add_argument("--dataset", default="artifacts/dataset")
    p.add_argument("--out", default="artifacts/baselines")
    p.set_defaults(func=_cmd_baselines)

    p = sub.add_parser("evaluate", help="accuracy of the student (and teacher) with baselines, plots and tables")
    add_params_args(p, "params file", default="params.yaml")
    p.add_argument("--dataset", default="artifacts/dataset")
    p.add_argument("--model", default="artifacts/student/model.pt", help=".pt, .onnx or .ort file of the student")
    p.add_argument("--teacher", help="also evaluate this teacher checkpoint (and compare)")
    p.add_argument("--baselines", help="folder written by `mobileiqa baselines` (else they are scored here)")
    p.add_argument("--out", default="artifacts/eval")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("benchmark", help="benchmarks that are not part of dvc repro (cached results)")
    bench = p.add_subparsers(dest="benchmark", required=True)
    b = bench.add_parser("generalisation", help="leave one distortion group out: train without it, test on it")
    add_params_args(b, "params file", default="params.yaml")
    b.add_argument("--dataset", default="artifacts/dataset")
    b.add_argument("--out", default="artifacts/benchmarks/generalisation", help="results and per-group cache")
    b.add_argument("--group", action="append", default=[], help="only this group (repeatable)")
    b.add_argument("--record", metavar="RESULTS", help="also write the result for docs/BENCHMARKS.md under "
                                                        "RESULTS/<machine>/ (e.g. benchmarks/results)")
    b.set_defaults(func=_cmd_benchmark_generalisation)

    b = bench.add_parser("ablation", help="students distilled with the shipped recipe: seeds, cost, paired bootstrap")
    add_params_args(b, "params file (section `ablation`)", default="params.yaml")
    b.add_argument("--dataset", default="artifacts/dataset")
    b.add_argument("--teacher", action="append", default=[],
                   help="the teacher every seed learns from, or once per seed in the order of ablation.seeds "
                        "(default artifacts/teacher/model.pt)")
    b.add_argument("--out", default="artifacts/benchmarks/ablation", help="runs, per-run cache and the summary")
    b.add_argument("--only", action="append", default=[], metavar="MODEL",
                   help="run just this model's seeds, no summary (repeatable; lets two processes share the work)")
    b.add_argument("--record", metavar="RESULTS", help="also write the result for docs/BENCHMARKS.md under "
                                                        "RESULTS/<machine>/ and the plot to docs/plots/")
    b.set_defaults(func=_cmd_benchmark_ablation)
