"""Wall time of each `dvc repro` stage, from DVC's own output.

Usage (from the project root, inside .venv):
    dvc repro 2>&1 | python benchmarks/pipeline_times.py          # live: stamps and echoes each line
    python benchmarks/pipeline_times.py --log repro.log          # a saved log whose lines start with HH:MM:SS
    python benchmarks/pipeline_times.py --log repro.log --log rerun.log   # stages from several runs (last wins)

A stage runs from its "Running stage 'NAME'" line to the next stage's line (or the run's last line); skipped
stages ("didn't change") are listed with no time. Writes benchmarks/results/<machine>/pipeline_times.json and
re-renders docs/BENCHMARKS.md. Numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
from pathlib import Path

from mobileiqa.atomic import write_json, write_text
from mobileiqa.environment import machine_id
from mobileiqa.eval.report import render

ROOT = Path(__file__).resolve().parents[1]
STAMP = re.compile(r"^(\d\d):(\d\d):(\d\d) ?(.*)$")
RUNNING = re.compile(r"Running stage '([^']+)'")
SKIPPED = re.compile(r"Stage '([^']+)' didn't change")
# the default profile's budget: data <= 12 min, the rest <= 8 (issue 8); both training stages <= 25 and the README's
# main command <= 40 including setup (issue 15: pretrained backbones cost more per step; setup is not timed here)
GROUPS = {"data": ("prepare", "validate"), "training": ("train_teacher", "distill_student")}


def stage_times(lines: list[tuple[float, str]]) -> tuple[dict[str, float], list[str]]:
    """``{stage: seconds}`` for stages that ran and the names of those skipped, from (seconds, text) lines."""
    times: dict[str, float] = {}
    skipped: list[str] = []
    current: tuple[str, float] | None = None
    for t, text in lines:
        if m := RUNNING.search(text):
            if current:
                times[current[0]] = t - current[1]
            current = (m.group(1), t)
        elif m := SKIPPED.search(text):
            skipped.append(m.group(1))
    if current and lines:
        times[current[0]] = lines[-1][0] - current[1]
    return times, skipped


def _read_log(path: Path) -> list[tuple[float, str]]:
    out, day = [], 0.0
    for raw in path.read_text(errors="replace").splitlines():
        m = STAMP.match(raw)
        if not m:
            continue
        t = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + int(m.group(3)) + day
        if out and t < out[-1][0]:  # past midnight
            day += 86400
            t += 86400
        out.append((float(t), m.group(4)))
    return out


def _live() -> list[tuple[float, str]]:
    out, t0 = [], dt.datetime.now()
    for raw in sys.stdin:
        now = dt.datetime.now()
        sys.stdout.write(f"{now:%H:%M:%S} {raw}")
        out.append(((now - t0).total_seconds(), raw.rstrip("\n")))
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--log", type=Path, action="append", default=[], help="timestamped log(s); default: stdin")
    ap.add_argument("--note", default="", help="free text stored with the result (e.g. what else ran)")
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    ap.add_argument("--doc", type=Path, default=ROOT / "docs" / "BENCHMARKS.md")
    args = ap.parse_args(argv)

    times: dict[str, float] = {}
    for log in args.log or [None]:
        found, _ = stage_times(_read_log(log) if log else _live())
        times.update(found)
    if not times:
        sys.exit("no \"Running stage\" lines found: pipe `dvc repro` output in, or give --log with HH:MM:SS stamps")
    rows = [{"stage": s, "minutes": round(sec / 60, 2)} for s, sec in times.items()]
    grouped = {g: sum(times.get(s, 0.0) for s in stages) / 60 for g, stages in GROUPS.items()}
    grouped["rest"] = sum(times.values()) / 60 - sum(grouped.values())
    for name, minutes in grouped.items():
        rows.append({"stage": f"= {name}", "minutes": round(minutes, 2)})
    rows.append({"stage": "= total", "minutes": round(sum(times.values()) / 60, 2)})
    for r in rows:
        print(f"{r['stage']:<20} {r['minutes']:7.2f} min")
    logs = " ".join(f"--log {log}" for log in args.log)
    command = f"python benchmarks/pipeline_times.py {logs}" if logs else \
        "dvc repro | python benchmarks/pipeline_times.py"
    result = {"machine": machine_id(), "command": command,
              "date": dt.date.today().isoformat(), "notes": args.note,
              "targets": {"data_min": 12, "training_min": 25, "rest_min": 8, "total_min": 40}, "rows": rows}
    write_json(args.results / result["machine"] / "pipeline_times.json", result)
    write_text(args.doc, render(args.results, doc=args.doc, root=ROOT))
    print(f"wrote {args.results / result['machine'] / 'pipeline_times.json'} and {args.doc}")


if __name__ == "__main__":
    main()
