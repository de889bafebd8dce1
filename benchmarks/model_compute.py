"""Model compute benchmark: params, GMACs, CPU latency and peak memory per registered variant, in PyTorch and in
ONNX Runtime, and a latency-vs-resolution plot.

Usage (from the project root, inside .venv):
    python benchmarks/model_compute.py          # all non-tiny variants, both backends, 3 sizes, 1 and all threads
    python benchmarks/model_compute.py --models NAME --backends onnxruntime --sizes 512x512 --threads 1 --repeats 3
    python benchmarks/model_compute.py --models --files artifacts/export/model.onnx artifacts/export/model.int8.onnx

Every measurement runs in a fresh process. torch: :func:`mobileiqa.eval.compute.measure` (eval mode, fp32).
onnxruntime (CPU): each model is exported once (random init, fp32, :func:`mobileiqa.export.onnx.export_onnx`)
into a temporary folder, then :func:`mobileiqa.export.latency.measure_isolated` times it (median of --repeats
runs after one warm-up) and takes its memory (peak RSS minus RSS after session creation). --files adds rows for
exported files as they are (model = the file name; params and GMACs of the registered model named in their
metadata). Runs above --max-gmacs (default 400: the faithful pair at 3840x2160) are skipped on CPU and say so.

Writes <results>/<machine>/model_compute.json, the plot (--plot: latency vs megapixels at the fewest threads
measured, one line per model and backend) and re-renders --doc (docs/BENCHMARKS.md). Numbers are printed, never
asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import os
import shlex
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import torch
from tqdm import tqdm

from mobileiqa.atomic import write_json, write_text
from mobileiqa.environment import machine_id
from mobileiqa.eval.compute import measure
from mobileiqa.eval.report import render
from mobileiqa.models import get_spec, list_models
from mobileiqa.models.complexity import complexity

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ("torch", "onnxruntime")


@functools.cache
def _cost(name: str, height: int, width: int):
    return complexity(name, height, width)


def _architecture(path: Path) -> str | None:
    """The registered model an exported file says it is (None when its metadata does not name one)."""
    from mobileiqa.export.metadata import read_metadata

    try:
        name = read_metadata(path).model
    except ValueError:
        return None
    return name if name in list_models() else None


def _export(name: str, folder: Path, width: int, height: int) -> Path:
    """``name`` (random init) as fp32 ONNX, the way `mobileiqa export` writes it, traced at ``width x height``:
    timm's MobileViT computes its patch grid in Python, so the teachers' graphs hold only at the traced size."""
    from mobileiqa.export.exporter import build_metadata, load_source
    from mobileiqa.export.onnx import export_onnx

    net, name, meta, version = load_source(name)
    return export_onnx(net, folder / f"{name}-{width}x{height}.onnx", build_metadata(name, net, meta, version, None),
                       example_size=(width, height))


def _export_key(name: str, width: int, height: int) -> tuple:
    """One export per model, except MobileViT backbones, whose graph holds only at the traced size."""
    return (name, width, height) if get_spec(name).backbone.startswith("mobilevit") else (name,)


def _ort_row(path: Path, label: str, arch: str | None, width: int, height: int, threads: int, repeats: int) -> dict:
    from mobileiqa.export.latency import measure_isolated

    cost = None if arch is None else _cost(arch, height, width)
    r = measure_isolated(path, width, height, threads, repeats)
    return {"model": label, "backend": "onnxruntime", "height": height, "width": width, "threads": threads,
            "params_m": None if cost is None else round(cost.params_m, 3),
            "gmacs": None if cost is None else round(cost.gmacs, 2),
            "latency_s": round(r["latency_s"], 4), "latency_min_s": round(r["min_s"], 4), "repeats": repeats,
            "peak_mem_mb": None if r["mem_mb"] is None else round(r["mem_mb"], 1),
            "first_s": round(r["first_s"], 4),
            "session_rss_mb": None if r["rss_session_mb"] is None else round(r["rss_session_mb"], 1)}


def _shown(path: Path) -> str:
    """``path`` relative to the project root when inside it (how result files name plots), else absolute."""
    path = path.resolve()
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="*", default=[n for n in list_models() if not n.endswith("_tiny")],
                    help="registered names (random init); `--models` alone measures none (e.g. with --files)")
    ap.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    ap.add_argument("--files", nargs="*", default=[], help="exported .onnx/.ort files to measure with onnxruntime")
    ap.add_argument("--sizes", nargs="*", default=["512x512", "1907x1231", "3840x2160"], help="WxH")
    ap.add_argument("--threads", type=int, nargs="*", default=[1, os.cpu_count() or 1])
    ap.add_argument("--max-gmacs", type=float, default=400.0, help="skip larger runs (printed)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--results", default=str(ROOT / "benchmarks" / "results"))
    ap.add_argument("--doc", default=str(ROOT / "docs" / "BENCHMARKS.md"), help="rendered benchmarks document")
    ap.add_argument("--plot", default=str(ROOT / "docs" / "plots" / "latency_vs_resolution.png"))
    args = ap.parse_args(argv)
    unknown = sorted(set(args.models) - set(list_models()))
    if unknown:
        ap.error(f"unknown model(s) {', '.join(unknown)}; registered: {', '.join(list_models())}")
    files = [Path(f) for f in args.files]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        ap.error(f"file(s) not found: {', '.join(missing)}")
    sizes = [tuple(int(v) for v in s.lower().split("x")) for s in args.sizes]
    threads = sorted(set(args.threads))

    sources: list[tuple[str | Path, str]] = [(m, b) for m in args.models for b in args.backends]
    sources += [(f, "onnxruntime") for f in files]
    jobs = [(src, backend, w, h, t) for src, backend in sources for w, h in sizes for t in threads]
    archs = {f: _architecture(f) for f in files}
    rows = []
    with tempfile.TemporaryDirectory(prefix="mobileiqa-compute-") as tmp:
        exported: dict[tuple, Path] = {}
        for src, backend, w, h, t in tqdm(jobs, desc="model compute", unit="run"):
            arch = archs[src] if isinstance(src, Path) else src
            label = src.name if isinstance(src, Path) else src
            gmacs = None if arch is None else _cost(arch, h, w).gmacs
            if gmacs is not None and gmacs > args.max_gmacs:
                tqdm.write(f"{label:46} {backend:11} {w}x{h:<5} {t}t skipped: {gmacs:.0f} GMACs > --max-gmacs "
                           f"{args.max_gmacs:g}")
                continue
            if backend == "torch":
                row = {**asdict(measure(src, h, w, threads=t, repeats=args.repeats)), "backend": "torch"}
            else:
                if isinstance(src, Path):
                    path = src
                elif (key := _export_key(src, w, h)) in exported:
                    path = exported[key]
                else:
                    t0 = time.perf_counter()
                    path = exported[key] = _export(src, Path(tmp), w, h)
                    tqdm.write(f"{label:46} exported to fp32 ONNX in {time.perf_counter() - t0:.1f} s")
                row = _ort_row(path, label, arch, w, h, t, args.repeats)
                if isinstance(src, Path):
                    row["file"] = str(src)
            rows.append(row)
            mem = "n/a" if row["peak_mem_mb"] is None else f"{row['peak_mem_mb']:.0f} MB"
            cost = "" if row["gmacs"] is None else f"{row['params_m']:7.2f} M {row['gmacs']:8.2f} GMACs "
            tqdm.write(f"{label:46} {backend:11} {w}x{h:<5} {t}t {cost}{row['latency_s']:8.3f} s  {mem}")

    machine = machine_id()
    plots = []
    lowest = [r for r in rows if r["threads"] == threads[0]]
    if lowest:
        from mobileiqa.eval.plots import latency_vs_resolution

        latency_vs_resolution(lowest, args.plot, title=f"latency vs resolution, {threads[0]} thread(s), {machine}")
        plots.append(_shown(Path(args.plot)))
    data = {
        "machine": machine,
        "command": shlex.join(["python", "benchmarks/model_compute.py", *argv]),
        "date": dt.date.today().isoformat(),
        "torch": torch.__version__,
        "threads": threads,
        "backends": args.backends,
        "rows": rows,
        "plots": plots,
    }
    if "onnxruntime" in args.backends or files:
        import onnxruntime

        data["onnxruntime"] = onnxruntime.__version__
    if files:
        data["files"] = [str(f) for f in files]
    out = write_json(Path(args.results) / machine / "model_compute.json", data)
    write_text(args.doc, render(args.results, doc=args.doc, root=ROOT))
    print(f"results: {out}; plot: {plots[0] if plots else 'none (no rows)'}; rendered {args.doc}")


if __name__ == "__main__":
    main()
