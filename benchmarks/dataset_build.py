"""Default-dataset build benchmark: wall time on this machine, size, and label quality.

Usage (from the project root, inside .venv):
    python benchmarks/dataset_build.py                       # fresh build of the default spec into a temp dir
    python benchmarks/dataset_build.py --report artifacts/dataset/build_report.json --seconds S   # a build that ran
    python benchmarks/dataset_build.py --label phone --set 'data.build.phone_families=[all]'     # another spec

Each ``--label`` is one row (a rerun replaces its row, other labels stay): the default spec, the full profile,
candidate specs with phone-camera families and mixtures. Rows with phone families also summarise their labels
(the lowest annotator agreement and the lowest share of level steps where the MOS falls, over the families).

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
    ap.add_argument("--label", default="default", help="the row's name (one row per label)")
    ap.add_argument("--doc", default=str(ROOT / "docs" / "BENCHMARKS.md"), help="the document to re-render")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="params override (repeatable)")
    ap.add_argument("--note", default="", help="what else ran on the machine, or anything a reader should know")
    args = ap.parse_args()
    if args.report:
        if args.seconds is None:
            ap.error("--report needs --seconds (the wall time `mobileiqa prepare` printed)")
        report = {**json.loads(Path(args.report).read_text()), "seconds": args.seconds}
    else:
        spec = load_params(args.params, overrides=args.set).data.build
        with tempfile.TemporaryDirectory() as tmp:
            report = build_dataset(args.photos, tmp, spec)
    row = {k: report[k] for k in ("photos", "images", "seconds", "bytes", "resolution", "splits", "agreement",
                                  "calibration_quality", "manifest_sha256")}
    row.update(label=args.label, spec=report["spec"], date=dt.date.today().isoformat(), note=args.note,
               command=shlex.join(["python", "benchmarks/dataset_build.py", *sys.argv[1:]]))
    if "phone_families" in report:
        labels = [v for k, v in report["phone_families"]["labels"].items() if k != "mixtures"]
        row["phone"] = {"families": len(labels),
                        "min_agreement": min(v["annotator_agreement"] for v in labels),
                        "min_mos_falls": min((v["mos_falls_with_level"] for v in labels
                                              if v["mos_falls_with_level"] is not None), default=None),
                        "max_level_mos_srcc": max((v["level_mos_srcc"] for v in labels
                                                   if v.get("level_mos_srcc") is not None), default=None)}
    if "mixtures" in report:
        row["mixtures"] = {k: report["mixtures"][k] for k in ("mixtures", "regional_images")}
    print(json.dumps({k: row[k] for k in ("label", "photos", "images", "seconds", "bytes")}, indent=1))
    machine = machine_id()
    path = Path(args.results) / machine / "dataset_build.json"
    old = json.loads(path.read_text()) if path.is_file() else {"rows": []}
    kept = [{"command": old.get("command"), "date": old.get("date"), **r}  # rows of the one-row format keep theirs
            for r in old["rows"] if r.get("label", "default") != args.label]
    rows = [*kept, row]
    write_json(path, {"machine": machine, "rows": rows})
    write_text(args.doc, render(args.results, doc=args.doc, root=ROOT))


if __name__ == "__main__":
    main()
