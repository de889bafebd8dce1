"""What a result records about where it was made: the git commit of the code, a stable name for the kind of
machine, and the process's memory (for the latency and memory probes).

Recorded in checkpoints, exported metadata, MLflow tags and benchmark results. Standard library only.
"""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path


def git_commit(cwd: str | os.PathLike = ".") -> str:
    """The commit checked out in ``cwd`` (``"unknown"`` outside a git checkout)."""
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


#: where the code lives whose edits make a checkout's results differ from its commit's
SOURCE_PATHS = ("src",)


def source_state(cwd: str | os.PathLike = ".", paths: tuple[str, ...] = SOURCE_PATHS) -> str:
    """:func:`git_commit` of ``cwd``, with ``+dirty`` when tracked files under ``paths`` differ from it (only the
    code: a pipeline rewrites its own tracked files, ``dvc.lock`` and the metrics, while it runs)."""
    commit = git_commit(cwd)
    if commit == "unknown":
        return commit
    try:
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", *paths], cwd=cwd,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return commit
    return commit + ("+dirty" if dirty else "")


def machine_id() -> str:
    """A stable, human-readable name for this kind of machine: CPU model and core count."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    slug = "".join(c if c.isalnum() else "-" for c in model.lower()).strip("-")
    while "--" in slug:
        slug = slug.replace("--", "-")
    return f"cpu-{slug}-{os.cpu_count()}c"


def status_kb(field: str) -> int | None:
    """A ``kB`` field of /proc/self/status (``VmRSS``, ``VmHWM``); None where unavailable (not Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None
