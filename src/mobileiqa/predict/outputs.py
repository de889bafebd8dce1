"""Where scores go: CSV or JSON, streamed to stdout or to a file that replaces ``--out`` atomically once every input
was processed, and only when at least one input was scored (an existing file is otherwise left untouched).

One row per input, failures included:

* CSV: ``path,score,status,error`` — ``status`` is ``ok`` or ``error``; ``score`` is empty on error;
* JSON: ``{"model": ..., "scale": ..., "preprocess": ..., "results": [{"path", "score", "status", "error"}]}`` —
  ``score``/``error`` are ``null`` where they do not apply.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import time
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from mobileiqa.atomic import atomic_path
from mobileiqa.predict.predictor import Result

OUTPUT_FORMATS = ("csv", "json")
CSV_COLUMNS = ("path", "score", "status", "error")


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
    """Streams one row per result as CSV, or as the ``results`` list of a JSON object, to an open text stream."""

    def __init__(self, stream, fmt: str, header: dict) -> None:
        self.stream, self.fmt, self.rows = stream, fmt, 0
        if fmt == "csv":
            self.csv = csv.writer(stream, lineterminator="\n")
            self.csv.writerow(CSV_COLUMNS)
        else:
            head = json.dumps(header, indent=2)[:-2] + ",\n" if header else "{\n"  # the object left open
            stream.write(head + '  "results": [')

    def write(self, result: Result) -> None:
        score = None if result.score is None else round(result.score, 6)
        if self.fmt == "csv":
            self.csv.writerow([result.source, "" if score is None else f"{result.score:.6f}", result.status,
                               result.error or ""])
        else:
            row = {"path": result.source, "score": score, "status": result.status, "error": result.error}
            self.stream.write(("," if self.rows else "") + "\n    " + json.dumps(row))
        self.rows += 1

    def close(self) -> None:
        if self.fmt == "json":
            self.stream.write(("\n  ]" if self.rows else "]") + "\n}\n")


@dataclass
class Summary:
    """What a :func:`write_scores` call did: inputs scored and failed, and how long it took."""

    scored: int = 0
    failures: list[Result] = field(default_factory=list)
    seconds: float = 0.0
    written: bool = False  # the output file was (re)placed

    @property
    def images_per_s(self) -> float:
        total = self.scored + len(self.failures)
        return total / self.seconds if self.seconds > 0 else 0.0


def write_scores(results: Iterable[Result], out: str | os.PathLike | None, fmt: str, header: dict | None = None,
                 on_error: Callable[[Result], None] | None = None,
                 on_warning: Callable[[Result], None] | None = None, progress: bool = True) -> Summary:
    """Write a row per result to ``out`` (atomically, once every input was processed, and only if one was scored)
    or stream it to stdout; ``header`` (model, scale, preprocess) heads the JSON object. ``on_error`` /
    ``on_warning`` are called as each failure / scored-with-a-warning input happens."""
    summary = Summary()
    started = time.perf_counter()
    with ExitStack() as stack:
        if out is None:
            stream = sys.stdout
        else:
            tmp = stack.enter_context(atomic_path(out, keep=lambda: summary.scored > 0))
            stream = stack.enter_context(open(tmp, "w", newline=""))
        writer = _Writer(stream, fmt, header or {})
        bar = stack.enter_context(tqdm(desc="predict", unit="img", disable=not progress, file=sys.stderr))
        for result in results:
            bar.update(1)
            writer.write(result)
            if result.ok:
                summary.scored += 1
                if result.warning and on_warning is not None:
                    on_warning(result)
            else:
                summary.failures.append(result)
                if on_error is not None:
                    on_error(result)
        writer.close()
    summary.seconds = time.perf_counter() - started
    summary.written = out is not None and summary.scored > 0
    return summary
