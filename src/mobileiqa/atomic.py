"""File helpers: atomic writes (temporary file beside the target, then rename), content digests, and reading the
JSON a pipeline stage wrote.

A crash or an exception never leaves a half-written file at the target path.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path


def _umask() -> int:
    """The process umask (read from /proc where it can be, else set and restored at once)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, keep: Callable[[], bool] | None = None) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path`` (with the permissions a new file gets under
    the user's umask, like ``open(path, "w")``), on error it is removed. ``keep`` is asked once the block ends
    without error: when it says ``False`` the temporary file is dropped and ``path`` left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp creates 0600
    finally:
        os.close(fd)
    try:
        yield Path(tmp)
        if keep is not None and not keep():
            Path(tmp).unlink(missing_ok=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: str | os.PathLike, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_json(path: str | os.PathLike, data) -> Path:
    return write_text(path, json.dumps(data, indent=2, default=float) + "\n")  # numpy scalars as floats


def write_csv(path: str | os.PathLike, frame, float_format: str | None = "%.6g") -> Path:
    """Write a pandas DataFrame as CSV without its index (floats to 6 significant digits unless told)."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format=float_format)
    return Path(path)


def json_digest(data, length: int = 16) -> str:
    """The first ``length`` hex digits of the SHA-256 of ``data`` as canonical JSON (sorted keys, other objects
    by ``str``): a cache or recipe key."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:length]


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_stage_json(path: str | os.PathLike, stage: str) -> dict:
    """A JSON object written by pipeline stage ``stage``; errors name the file and the command that writes it."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} not found: run the {stage} stage first (`mobileiqa {stage}`)") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return data
