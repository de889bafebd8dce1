"""Where ONNX Runtime spends its time: per-operator-type share of one CPU forward, fp32 vs int8.

Usage (from the project root, inside .venv, after `dvc repro` or `mobileiqa export`):
    python benchmarks/ort_profile.py artifacts/export/model.onnx artifacts/export/model.int8.onnx
    python benchmarks/ort_profile.py artifacts/export/model.onnx --quantize --data artifacts/dataset

With --quantize the int8 file is made here from the fp32 one (static QDQ on --calibration train images, the
export stage's quantiser), so the profile exists even when the export stage dropped int8. Each file runs
--repeats profiled forwards of one W x H image with 1 intra-op thread (ORT's built-in profiler); node times are
summed per operator type. Writes benchmarks/results/<machine>/ort_profile.json (rendered by
`mobileiqa render-benchmarks`). Numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shlex
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from mobileiqa.atomic import write_json, write_text
from mobileiqa.environment import machine_id
from mobileiqa.eval.report import render

ROOT = Path(__file__).resolve().parents[1]


def profile(path: Path, width: int, height: int, repeats: int) -> tuple[float, dict[str, float]]:
    """Mean wall ms per forward and mean ms per operator type (kernel time of the nodes)."""
    from mobileiqa.export.latency import profile_nodes

    wall, nodes = profile_nodes(path, width, height, threads=1, repeats=repeats)
    per_op: dict[str, float] = defaultdict(float)
    for (op, _), ms in nodes.items():
        per_op[op] += ms
    return wall, dict(per_op)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+", type=Path, help=".onnx files (fp32 first)")
    ap.add_argument("--quantize", action="store_true", help="also quantise the first file to int8 here")
    ap.add_argument("--data", help="prepared dataset (train images calibrate --quantize)")
    ap.add_argument("--calibration", type=int, default=32)
    ap.add_argument("--width", type=int, default=1907)
    ap.add_argument("--height", type=int, default=1231)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--top", type=int, default=8, help="operator types listed per file")
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    ap.add_argument("--doc", type=Path, default=ROOT / "docs" / "BENCHMARKS.md")
    args = ap.parse_args(argv)

    files = list(args.files)
    with tempfile.TemporaryDirectory() as tmp:
        if args.quantize:
            if not args.data:
                ap.error("--quantize needs --data (a prepared dataset: its train images calibrate int8)")
            from mobileiqa.export.metadata import read_metadata
            from mobileiqa.export.quantize import quantize_int8, split_files

            calib, _ = split_files(args.data, "train", args.calibration)
            target = Path(tmp) / f"{files[0].stem}.int8.onnx"
            quantize_int8(files[0], target, calib, read_metadata(files[0]).policy)
            files.append(target)
        rows = []
        for path in files:
            wall, per_op = profile(path, args.width, args.height, args.repeats)
            total = sum(per_op.values())
            top = sorted(per_op.items(), key=lambda kv: -kv[1])[: args.top]
            print(f"{path.name}: {wall:.1f} ms per forward ({args.width}x{args.height}, 1 thread); "
                  f"kernels {total:.1f} ms")
            for op, ms in top:
                print(f"  {op:<24} {ms:8.1f} ms  {100 * ms / total:5.1f} %")
            rows.append({"file": path.name, "wall_ms": round(wall, 1), "kernel_ms": round(total, 1),
                         "top_ops": ", ".join(f"{op} {100 * ms / total:.0f}%" for op, ms in top[:5])})
    command = shlex.join(["benchmarks/ort_profile.py", *(sys.argv[1:] if argv is None else argv)])
    result = {"machine": machine_id(), "command": f"python {command}",
              "date": dt.date.today().isoformat(), "width": args.width, "height": args.height, "threads": 1,
              "rows": rows}
    write_json(args.results / result["machine"] / "ort_profile.json", result)
    write_text(args.doc, render(args.results, doc=args.doc, root=ROOT))
    print(f"wrote {args.results / result['machine'] / 'ort_profile.json'} and {args.doc}")


if __name__ == "__main__":
    main()
