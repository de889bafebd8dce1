"""What every ``mobileiqa`` command shares: the parser class (defaults shown in ``--help``), the
``--params/--overlay/--set`` options and the one way they become a typed :class:`~mobileiqa.config.Params`."""

from __future__ import annotations

import argparse
from pathlib import Path

from mobileiqa.config import ConfigError, Params, load_params


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Option help ends with its default (when it has one worth showing); descriptions and epilogs keep their
    line breaks."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default in (None, False, [], (), argparse.SUPPRESS) or "default" in text:
            return text
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """The parser class of every ``mobileiqa`` command and sub-command (:class:`HelpFormatter`)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


def add_params_args(p: argparse.ArgumentParser, what: str, default: str | None = None) -> None:
    p.add_argument("--params", default=default, help=what)
    p.add_argument("--overlay", action="append", default=[], metavar="FILE",
                   help="profile file deep-merged over --params (repeatable), e.g. params/tiny.yaml")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one value, e.g. models.student=NAME (repeatable)")


def add_dataset_arg(p: argparse.ArgumentParser) -> None:
    """``--dataset``: the prepared dataset a command reads (the ``prepare`` stage's output)."""
    p.add_argument("--dataset", default="artifacts/dataset", help="prepared dataset folder (the prepare output)")


def params_from(args: argparse.Namespace) -> Params:
    """``--params`` with each ``--overlay`` merged and each ``--set`` applied, validated. Overlays or overrides
    without a params file are an error, never silently ignored."""
    if args.params is None:
        given = [f"--overlay {o}" for o in args.overlay] + [f"--set {s}" for s in args.set]
        raise ConfigError(f"{' '.join(given)} need(s) a params file: add --params params.yaml")
    return load_params(args.params, args.overlay, args.set)


def profile_name(args: argparse.Namespace) -> str | None:
    """The overlays' names joined with ``+`` (``tiny``, ``paper+tiny``), or ``None`` without overlays."""
    return "+".join(Path(o).stem for o in args.overlay) or None
