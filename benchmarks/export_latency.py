"""Export latency benchmark: ORT CPU latency and memory of the default student, fp32 ONNX vs static int8 (QDQ).

Usage (from the project root, inside .venv):
    python benchmarks/export_latency.py                         # default student, random init, 1907x1231, 1 thread
    python benchmarks/export_latency.py --model artifacts/distill_student/model.pt --repeats 5

Each format is measured in a fresh subprocess (intra-op threads = --threads;
:func:`mobileiqa.export.latency.measure_isolated`): median latency of --repeats runs after one warm-up, and
memory = peak RSS (``VmHWM`` of /proc/self/status: unlike ``getrusage``'s ru_maxrss it is not inherited from the
parent across exec) minus RSS right after session creation, for one image. int8 is calibrated on --calibration
synthetic images (random weights: the speed-up is meaningful, accuracy drift is not — the export stage measures
drift with trained weights).
Targets (issue 6): fp32 <= 0.6 s, int8 >= 1.3x faster, memory <= 400 MB. Writes
benchmarks/results/<machine>/export_latency.json (render with `mobileiqa render-benchmarks`); numbers are
printed, never asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shlex
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def synthetic_images(folder: Path, n: int, width: int, height: int) -> list[Path]:
    """Smooth gradients plus noise: calibration inputs with photo-like value ranges (no real photos needed)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    files = []
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    for i in range(n):
        base = np.stack([(xx / width) * 255, (yy / height) * 255, ((xx + yy) / (width + height)) * 255], -1)
        img = np.clip(base * rng.uniform(0.4, 1.0) + rng.normal(0, 10 + 10 * i, base.shape), 0, 255).astype(np.uint8)
        files.append(folder / f"calib_{i}.png")
        Image.fromarray(img).save(files[-1])
    return files


def main() -> None:
    from mobileiqa.atomic import write_json
    from mobileiqa.environment import machine_id
    from mobileiqa.export.exporter import build_metadata, load_source
    from mobileiqa.export.latency import measure_isolated
    from mobileiqa.export.quantize import quantize_int8
    from mobileiqa.models import DEFAULT_STUDENT
    from mobileiqa.preprocess import ResolutionPolicy

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=DEFAULT_STUDENT, help="registered name (random init) or a .pt checkpoint")
    ap.add_argument("--size", default="1907x1231", help="WxH")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--calibration", type=int, default=4, help="synthetic calibration images for int8")
    ap.add_argument("--results", default=str(ROOT / "benchmarks" / "results"))
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))

    from mobileiqa.export.onnx import export_onnx

    net, name, meta, version = load_source(args.model)
    rows = []
    with tempfile.TemporaryDirectory(prefix="mobileiqa-bench-") as tmp:
        tmp = Path(tmp)
        metadata = build_metadata(name, net, meta, version, None)
        t0 = time.perf_counter()
        fp32 = export_onnx(net, tmp / "model.onnx", metadata)
        export_s = time.perf_counter() - t0
        policy = ResolutionPolicy(mode="fixed", width=width, height=height)
        t0 = time.perf_counter()
        int8 = quantize_int8(fp32, tmp / "model.int8.onnx", synthetic_images(tmp, args.calibration, width, height),
                             policy)
        quant_s = time.perf_counter() - t0
        for fmt, path in (("fp32", fp32), ("int8", int8)):
            r = measure_isolated(path, width, height, args.threads, args.repeats)
            rows.append({"format": fmt, "model": name, "width": width, "height": height, "threads": args.threads,
                         "size_mb": round(path.stat().st_size / 2**20, 2),
                         **{k: None if v is None else round(v, 4) for k, v in r.items()}})
            print(f"{name} {fmt}: {r['latency_s']:.3f} s (min {r['min_s']:.3f}) at {width}x{height}, "
                  f"{args.threads} thread(s); memory {r['mem_mb']:.0f} MB over session RSS "
                  f"{r['rss_session_mb']:.0f} MB")
    speedup = rows[0]["latency_s"] / rows[1]["latency_s"]
    print(f"int8 speed-up {speedup:.2f}x (target >= 1.3x); fp32 target <= 0.6 s; memory target <= 400 MB")
    machine = machine_id()
    write_json(Path(args.results) / machine / "export_latency.json", {
        "machine": machine,
        "command": shlex.join(["python", "benchmarks/export_latency.py", *sys.argv[1:]]),
        "date": dt.date.today().isoformat(),
        "notes": "shared machine: other jobs ran at the same time; read latencies as upper bounds. Random weights: "
                "int8 drift is not measured here (the export stage measures it with trained weights).",
        "export_s": round(export_s, 1), "quantize_s": round(quant_s, 1),
        "int8_speedup": round(speedup, 3),
        "targets": {"fp32_latency_s": 0.6, "int8_speedup": 1.3, "mem_mb": 400},
        "rows": rows,
    })
    print(f"results: {Path(args.results) / machine / 'export_latency.json'}; "
          "re-render docs/BENCHMARKS.md with `mobileiqa render-benchmarks`")


if __name__ == "__main__":
    main()
