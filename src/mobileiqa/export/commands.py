"""CLI commands of this area (export, predict); registered by mobileiqa.cli."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def register(sub: argparse._SubParsersAction, add_params_args: Callable) -> None:
    """Add this area's subcommands to the ``mobileiqa`` parser."""
