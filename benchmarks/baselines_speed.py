"""Classic baseline speed: seconds per image for NIQE, PIQE and BRISQUE at the evaluation resolution.

Usage (from the project root, inside .venv):
    python benchmarks/baselines_speed.py                               # 30 images of artifacts/dataset/images
    python benchmarks/baselines_speed.py --images DIR --count 60 --long-side 512

Images (searched recursively) are drawn with a fixed seed and resized so that their longer side is
``--long-side`` px (as the evaluation split is); decoding and resizing are not timed. Each baseline scores every
image once after one untimed warm-up (BRISQUE's model is loaded there); the median and mean seconds per image
are printed and written to benchmarks/results/<machine>/baselines_speed.json, and docs/BENCHMARKS.md is
re-rendered. Numbers are printed, never asserted; on a shared machine they are upper bounds.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import shlex
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from mobileiqa.atomic import write_json, write_text
from mobileiqa.environment import machine_id
from mobileiqa.eval.baselines import BASELINES, get_baseline, load_rgb
from mobileiqa.eval.report import render

ROOT = Path(__file__).resolve().parents[1]
EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}


def _images(folder: Path, count: int, long_side: int, seed: int) -> list[np.ndarray]:
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in EXTENSIONS)
    if not files:
        sys.exit(f"{folder}: no images found; build the dataset first (dvc repro prepare) or pass --images DIR")
    chosen = random.Random(seed).sample(files, min(count, len(files)))
    out = []
    for path in chosen:
        img = Image.fromarray(load_rgb(path))
        scale = long_side / max(img.size)
        if scale != 1:
            img = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.LANCZOS)
        out.append(np.asarray(img))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", default=str(ROOT / "artifacts" / "dataset" / "images"))
    ap.add_argument("--count", type=int, default=30)
    ap.add_argument("--long-side", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--baselines", nargs="*", default=list(BASELINES))
    ap.add_argument("--results", default=str(ROOT / "benchmarks" / "results"))
    ap.add_argument("--no-render", action="store_true", help="do not re-render docs/BENCHMARKS.md")
    args = ap.parse_args()

    images = _images(Path(args.images), args.count, args.long_side, args.seed)
    rows = []
    for name in args.baselines:
        baseline = get_baseline(name)
        baseline.score(images[0])  # warm-up (BRISQUE loads its model here)
        times = []
        for img in tqdm(images, desc=name, unit="img"):
            start = time.perf_counter()
            baseline.score(img)
            times.append(time.perf_counter() - start)
        rows.append({"baseline": name, "images": len(images), "median_s": float(np.median(times)),
                     "mean_s": float(np.mean(times))})
        tqdm.write(f"{name:8} {np.median(times):.4f} s/img median, {np.mean(times):.4f} mean ({len(images)} images)")
    sizes = sorted({f"{im.shape[1]}x{im.shape[0]}" for im in images})
    machine = machine_id()
    path = Path(args.results) / machine / "baselines_speed.json"
    write_json(path, {
        "machine": machine,
        "command": shlex.join(["python", "benchmarks/baselines_speed.py", *sys.argv[1:]]),
        "date": dt.date.today().isoformat(),
        "long_side": args.long_side,
        "sizes": sizes,
        "cpu_threads_available": os.cpu_count(),
        "rows": rows,
    })
    if not args.no_render:
        write_text(ROOT / "docs" / "BENCHMARKS.md", render(args.results, root=ROOT))
    print(f"results: {path}" + ("" if args.no_render else "; rendered docs/BENCHMARKS.md"))


if __name__ == "__main__":
    main()
