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
