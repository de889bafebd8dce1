"""The ``mobileiqa`` command line: a thin caller of the package. The stage commands call :mod:`mobileiqa.stages`
(:mod:`.pipeline`), the others the library directly (:mod:`.tools`, :mod:`.benchmark`, :mod:`.kfp`)."""

from __future__ import annotations

import argparse
import sys

from mobileiqa import __version__
from mobileiqa.cli import benchmark, kfp, pipeline, tools
from mobileiqa.cli.args import Parser
from mobileiqa.config import ConfigError

DESCRIPTION = ("MobileIQA: build the dataset, train the teacher, distil the student, evaluate, export and register "
               "it (one command per pipeline stage), then score photos with `mobileiqa predict`.")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="mobileiqa", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"mobileiqa {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for module in (pipeline, tools, benchmark, kfp):
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, KeyError, ValueError, FileNotFoundError, RuntimeError, OSError, FloatingPointError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"mobileiqa {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
