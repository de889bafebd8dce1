"""Default-dataset build benchmark: wall time on this machine, size, and label quality.

Usage (from the project root, inside .venv):
    python benchmarks/dataset_build.py                       # fresh build of the default spec into a temp dir
    python benchmarks/dataset_build.py --report artifacts/dataset/build_report.json   # record a build that ran

Writes benchmarks/results/<machine>/dataset_build.json and re-renders docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import sys
import tempfile
from pathlib import Path

from mobileiqa.atomic import write_json, write_text
from mobileiqa.config import load_params
from mobileiqa.data.build import build_dataset
from mobileiqa.environment import machine_id
from mobileiqa.eval.report import render

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--report", help="record this build_report.json instead of building (needs --seconds)")
    ap.add_argument("--seconds", type=float, help="wall time of that build, as printed by `mobileiqa prepare`")
    ap.add_argument("--photos", default=str(ROOT / "data"))
    ap.add_argument("--params", default=str(ROOT / "params.yaml"))
    ap.add_argument("--results", default=str(ROOT / "benchmarks" / "results"))
    args = ap.parse_args()
    if args.report:
        if args.seconds is None:
            ap.error("--report needs --seconds (the wall time `mobileiqa prepare` printed)")
        report = {**json.loads(Path(args.report).read_text()), "seconds": args.seconds}
    else:
        spec = load_params(args.params).data.build
        with tempfile.TemporaryDirectory() as tmp:
            report = build_dataset(args.photos, tmp, spec)
    row = {k: report[k] for k in ("photos", "images", "seconds", "bytes", "resolution", "splits", "agreement",
                                  "calibration_quality", "manifest_sha256")}
    row["spec"] = report["spec"]
    print(json.dumps({k: row[k] for k in ("photos", "images", "seconds", "bytes")}, indent=1))
    machine = machine_id()
    write_json(Path(args.results) / machine / "dataset_build.json", {
        "machine": machine,
        "command": shlex.join(["python", "benchmarks/dataset_build.py", *sys.argv[1:]]),
        "date": dt.date.today().isoformat(),
        "rows": [row],
    })
    write_text(ROOT / "docs" / "BENCHMARKS.md", render(args.results, root=ROOT))


if __name__ == "__main__":
    main()
