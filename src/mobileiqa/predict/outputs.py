"""Where scores go: CSV or a JSON list, streamed to stdout or written atomically to a file once every input
was processed."""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Iterable
from contextlib import ExitStack
from pathlib import Path

from tqdm.auto import tqdm

from mobileiqa.atomic import atomic_path
from mobileiqa.predict.predictor import Result

OUTPUT_FORMATS = ("csv", "json")


def output_format(out: str | os.PathLike | None, fmt: str | None) -> str:
    """``fmt`` if given, else from ``out``'s suffix (``.csv`` / ``.json``), else csv; a conflict is an error."""
    suffix = Path(out).suffix.lower().lstrip(".") if out else ""
    if fmt is not None:
        if fmt not in OUTPUT_FORMATS:
            raise ValueError(f"--format must be one of {OUTPUT_FORMATS}, got {fmt!r}")
        if suffix in OUTPUT_FORMATS and suffix != fmt:
            raise ValueError(f"--format {fmt} disagrees with the output file suffix {out!r}")
        return fmt
    if out and suffix not in OUTPUT_FORMATS:
        raise ValueError(f"cannot tell the output format from {out!r}: use a .csv/.json suffix or --format")
    return suffix or "csv"


class _Writer:
    """Streams rows as CSV or a JSON list to an open text stream."""

    def __init__(self, stream, fmt: str) -> None:
        self.stream, self.fmt, self.rows = stream, fmt, 0
        if fmt == "csv":
            self.csv = csv.writer(stream, lineterminator="\n")
            self.csv.writerow(["path", "score"])
        else:
            stream.write("[")

    def write(self, result: Result) -> None:
        if self.fmt == "csv":
            self.csv.writerow([result.source, f"{result.score:.6f}"])
        else:
            self.stream.write(("," if self.rows else "") + "\n  " + json.dumps(
                {"path": result.source, "score": round(result.score, 6)}))
        self.rows += 1

    def close(self) -> None:
        if self.fmt == "json":
            self.stream.write("\n]\n" if self.rows else "]\n")


def write_scores(results: Iterable[Result], out: str | os.PathLike | None, fmt: str, on_error=None,
                 progress: bool = True) -> tuple[int, list[Result]]:
    """Write the good results to ``out`` (atomically, only once every input was processed) or stdout; return
    ``(scored count, failed results)``. ``on_error(result)`` is called as each failure happens."""
    failures: list[Result] = []
    with ExitStack() as stack:
        if out is None:
            stream = sys.stdout
        else:
            tmp = stack.enter_context(atomic_path(out))
            stream = stack.enter_context(open(tmp, "w", newline=""))
        writer = _Writer(stream, fmt)
        bar = stack.enter_context(tqdm(desc="predict", unit="img", disable=not progress, file=sys.stderr))
        for result in results:
            bar.update(1)
            if result.ok:
                writer.write(result)
            else:
                failures.append(result)
                if on_error is not None:
                    on_error(result)
        writer.close()
    return writer.rows, failures
