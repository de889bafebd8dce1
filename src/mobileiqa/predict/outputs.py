"""Where scores go: CSV or JSON, streamed to stdout or to a file that replaces ``--out`` atomically once every input
was processed, and only when at least one input was scored (an existing file is otherwise left untouched).

One row per input, failures included:

* CSV: ``path,score,status,error`` — ``status`` is ``ok`` or ``error``; ``score`` is empty on error;
* JSON: ``{"model": ..., "scale": ..., "preprocess": ..., "results": [{"path", "score", "status", "error"}]}`` —
  ``score``/``error`` are ``null`` where they do not apply.

A model with explanation heads (``explain=True``) adds to each row ``spread`` (CSV and JSON) and, in JSON only,
``quality_map``: ``G`` rows of ``G`` values (row 0 = top of the image, column 0 = left), 4 decimals; both empty /
``null`` on error. The JSON header then has ``explain``: the grid size and what the two fields mean — the map is
local quality on the normalised MOS scale [0, 1], higher is better; the spread is the predicted standard deviation
of the annotators' opinion scores (normalised MOS units): how much raters would disagree, *not* a confidence
interval of the model's error. With ``--maps`` (``maps=True``) each row also has ``map_file``, the heat-map PNG
drawn for it (:mod:`mobileiqa.predict.maps`; empty / ``null`` where none was drawn).
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
from mobileiqa.export.metadata import MAP_LAYOUT, MAP_MEANING, SPREAD_MEANING, ExplainOutputs
from mobileiqa.predict.predictor import Result

OUTPUT_FORMATS = ("csv", "json")
CSV_COLUMNS = ("path", "score", "status", "error")
MAP_DECIMALS = 4


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


def explain_header(outputs: ExplainOutputs) -> dict:
    """The JSON header's ``explain`` entry: the grid size and what ``quality_map`` and ``spread`` mean."""
    return {"grid": outputs.grid, "quality_map": f"{MAP_MEANING}; {MAP_LAYOUT}", "spread": SPREAD_MEANING}


class _Writer:
    """Streams one row per result as CSV, or as the ``results`` list of a JSON object, to an open text stream."""

    def __init__(self, stream, fmt: str, header: dict, explain: bool = False, maps: bool = False) -> None:
        self.stream, self.fmt, self.rows, self.explain, self.maps = stream, fmt, 0, explain, maps
        if fmt == "csv":
            self.csv = csv.writer(stream, lineterminator="\n")
            self.csv.writerow([*CSV_COLUMNS, *(["spread"] if explain else []), *(["map_file"] if maps else [])])
        else:
            head = json.dumps(header, indent=2)[:-2] + ",\n" if header else "{\n"  # the object left open
            stream.write(head + '  "results": [')

    def write(self, result: Result) -> None:
        score = None if result.score is None else round(result.score, 6)
        spread = None if result.spread is None else round(result.spread, 6)
        if self.fmt == "csv":
            row = [result.source, "" if score is None else f"{result.score:.6f}", result.status, result.error or ""]
            if self.explain:
                row.append("" if spread is None else f"{result.spread:.6f}")
            if self.maps:
                row.append(result.map_file or "")
            self.csv.writerow(row)
        else:
            row = {"path": result.source, "score": score, "status": result.status, "error": result.error}
            if self.explain:
                row["spread"] = spread
                row["quality_map"] = None if result.quality_map is None else [
                    [round(v, MAP_DECIMALS) for v in line] for line in result.quality_map]
            if self.maps:
                row["map_file"] = result.map_file
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
                 on_warning: Callable[[Result], None] | None = None, progress: bool = True, explain: bool = False,
                 maps: bool = False) -> Summary:
    """Write a row per result to ``out`` (atomically, once every input was processed, and only if one was scored)
    or stream it to stdout; ``header`` (model, scale, preprocess) heads the JSON object. ``on_error`` /
    ``on_warning`` are called as each failure / scored-with-a-warning input happens. ``explain`` adds the
    explanation fields, ``maps`` the heat-map file (see the module docstring)."""
    summary = Summary()
    started = time.perf_counter()
    with ExitStack() as stack:
        if out is None:
            stream = sys.stdout
        else:
            tmp = stack.enter_context(atomic_path(out, keep=lambda: summary.scored > 0))
            stream = stack.enter_context(open(tmp, "w", newline=""))
        writer = _Writer(stream, fmt, header or {}, explain, maps)
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
