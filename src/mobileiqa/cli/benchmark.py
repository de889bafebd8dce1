"""``mobileiqa benchmark``: the experiments that train models and are not part of ``dvc repro`` (leave one
distortion group out, the student ablation; :mod:`mobileiqa.experiments`), with cached, resumable runs.

Handlers import their experiment when they run (``# lazy``): experiments import torch and mlflow, and the parser is
built on every call.
"""

from __future__ import annotations

import argparse
import sys

from mobileiqa.cli.args import add_dataset_arg, add_params_args, params_from


def _generalisation(args: argparse.Namespace) -> int:
    from mobileiqa.experiments.generalisation import (  # lazy: see the docstring
        leave_one_group_out,
        record,
        summary_line,
    )

    result = leave_one_group_out(params_from(args), args.dataset, args.out, tuple(args.group) or None)
    for r in result["groups"]:
        print(f"without {r['group']:20} unseen SRCC {r['unseen_srcc']:.3f} (n={r['unseen_n']}), seen "
              f"{r['seen_srcc']:.3f}")
    print(f"{summary_line(result)}; {args.out}/generalisation.md")
    if args.record:
        print(f"recorded {record(result, args.record, ' '.join(['mobileiqa', *sys.argv[1:]]))}")
    return 0


def _ablation(args: argparse.Namespace) -> int:
    from mobileiqa.experiments.ablation import markdown, record, run_ablation  # lazy: see the docstring

    result = run_ablation(params_from(args), args.dataset, args.teacher or ["artifacts/teacher/model.pt"], args.out,
                          tuple(args.only))
    if result is None:
        print(f"ran {', '.join(args.only)}; run again without --only for the summary")
        return 0
    print(markdown(result), end="")
    print(f"{args.out}/ablation.md, {args.out}/ablation.png")
    if args.record:
        print(f"recorded {record(result, args.out, args.record, ' '.join(['mobileiqa', *sys.argv[1:]]))}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``benchmark`` and its subcommands to the ``mobileiqa`` parser."""
    p = sub.add_parser("benchmark", help="benchmarks that are not part of dvc repro (cached results)")
    bench = p.add_subparsers(dest="benchmark", required=True)
    b = bench.add_parser("generalisation", help="leave one distortion group out: train without it, test on it")
    add_params_args(b, "params file", default="params.yaml")
    add_dataset_arg(b)
    b.add_argument("--out", default="artifacts/benchmarks/generalisation", help="results and per-group cache")
    b.add_argument("--group", action="append", default=[],
                   help="only this group (repeatable); phone or kadid: every group of that kind held out at once")
    b.add_argument("--record", metavar="RESULTS", help="also write the result for docs/BENCHMARKS.md under "
                                                        "RESULTS/<machine>/ (e.g. benchmarks/results)")
    b.set_defaults(func=_generalisation)

    b = bench.add_parser("ablation", help="students distilled with the shipped recipe: seeds, cost, paired bootstrap")
    add_params_args(b, "params file (section `ablation`)", default="params.yaml")
    add_dataset_arg(b)
    b.add_argument("--teacher", action="append", default=[],
                   help="the teacher every seed learns from, or once per seed in the order of ablation.seeds "
                        "(default artifacts/teacher/model.pt)")
    b.add_argument("--out", default="artifacts/benchmarks/ablation", help="runs, per-run cache and the summary")
    b.add_argument("--only", action="append", default=[], metavar="MODEL",
                   help="run just this model's seeds, no summary (repeatable; lets two processes share the work)")
    b.add_argument("--record", metavar="RESULTS", help="also write the result for docs/BENCHMARKS.md under "
                                                        "RESULTS/<machine>/ and the plot to docs/plots/")
    b.set_defaults(func=_ablation)
