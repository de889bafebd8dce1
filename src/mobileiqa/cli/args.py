"""What every ``mobileiqa`` command that reads params shares: the ``--params/--overlay/--set`` options and the one
way they become a typed :class:`~mobileiqa.config.Params`."""

from __future__ import annotations

import argparse
from pathlib import Path

from mobileiqa.config import Params, load_params


def add_params_args(p: argparse.ArgumentParser, what: str, default: str | None = None) -> None:
    p.add_argument("--params", default=default, help=what)
    p.add_argument("--overlay", action="append", default=[], metavar="FILE",
                   help="profile file deep-merged over --params (repeatable), e.g. params/tiny.yaml")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one value, e.g. models.student=NAME (repeatable)")


def params_from(args: argparse.Namespace) -> Params:
    """``--params`` with each ``--overlay`` merged and each ``--set`` applied, validated."""
    return load_params(args.params, args.overlay, args.set)


def profile_name(args: argparse.Namespace) -> str | None:
    """The overlays' names joined with ``+`` (``tiny``, ``paper+tiny``), or ``None`` without overlays."""
    return "+".join(Path(o).stem for o in args.overlay) or None
