"""`mobileiqa predict` as a user meets it: whole-call wall time and peak memory for one 12 MP phone JPEG, a 200 MP
JPEG, and a folder of 10,000 small images (streaming: peak memory must not grow with the folder).

Each case runs ``mobileiqa predict`` in a fresh interpreter (imports, model load, decode, scoring, output: the
whole call), ``--repeats`` times; wall = the median, peak RSS = the child's ``VmHWM`` (``ru_maxrss`` would carry
the parent's over exec). The model is an exported student ONNX file: ``--model`` (e.g.
``artifacts/export/model.onnx`` after ``dvc repro``), or by default params.yaml's ``models.student`` with its
ImageNet weights exported with the default resolution policy (its head is untrained: cost depends on the graph and
the input size, not on the weights). ``--src`` runs another source tree (e.g. a checkout before a change) on the
same files, for a before/after pair.

Usage (from the project root, inside .venv):
    python benchmarks/predict_cli.py                      # 12 MP x5, 200 MP x3, folders of 1,000 and 10,000
    python benchmarks/predict_cli.py --src /tmp/old/src --label before --no-record
    python benchmarks/predict_cli.py --folder-images 0 --repeats 3

Goals: 12 MP <= 1.5 s and <= 400 MB peak RSS with the default resolution policy; 200 MP scored in <= 2 GB.
Writes benchmarks/results/<machine>/predict_cli.json (render with `mobileiqa render-benchmarks`); numbers are
printed, never asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
CHILD = """
import json, sys
from mobileiqa.cli import main
from mobileiqa.environment import status_kb
rc = main(sys.argv[1:])
print(json.dumps({"rc": rc, "rss_mb": status_kb("VmHWM") / 1024, "torch": "torch" in sys.modules}))
"""


def phone_jpeg(path: Path, width: int, height: int, seed: int = 0) -> Path:
    """A photo-like JPEG of the given size: a small synthetic scene upscaled, with fine grain (quality 90)."""
    rng = np.random.default_rng(seed)
    small_w, small_h = max(64, width // 10), max(48, height // 10)
    y, x = np.mgrid[0:small_h, 0:small_w]
    scene = np.stack([x * 255 / small_w, y * 255 / small_h, ((x + y) % 40) * 6], -1).astype(np.float32)
    scene += rng.normal(0, 12, scene.shape)
    img = Image.fromarray(np.clip(scene, 0, 255).astype(np.uint8)).resize((width, height), Image.Resampling.BICUBIC)
    if width * height <= 50_000_000:  # grain on phone-size images; a 200 MP one stays cheap to make
        arr = np.asarray(img, dtype=np.int16) + rng.integers(-5, 6, (height, width, 3), dtype=np.int16)
        img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    img.save(path, quality=90)
    return path


def default_model(folder: Path) -> tuple[Path, str]:
    """params.yaml's student with its configured ImageNet weights, exported to ONNX with the default policy."""
    from mobileiqa.config import load_params
    from mobileiqa.export.metadata import ExportMetadata
    from mobileiqa.export.onnx import export_onnx
    from mobileiqa.models import create_model

    params = load_params(ROOT / "params.yaml")
    name = params.models.student
    model = create_model(name, pretrained=params.models.student_weights).eval()
    policy = params.distill_student.train.resolution
    meta = ExportMetadata(name, "benchmark", model.scale, policy, {"export": None, "train": None},
                          {"manifest_sha256": None, "source": "benchmark"}, model.config.to_dict(),
                          model.normalisation)
    desc = f"{name} ({params.models.student_weights}, untrained head)"
    return export_onnx(model, folder / "student.onnx", meta), desc


def run_predict(src: Path, args: list[str], cwd: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src)}
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CHILD, "predict", *args, "--no-progress"], capture_output=True,
                          text=True, env=env, cwd=cwd)
    wall = time.perf_counter() - started
    lines = proc.stdout.strip().splitlines()
    if not lines:
        raise SystemExit(f"predict failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return json.loads(lines[-1]) | {"wall_s": wall, "stderr": proc.stderr}


def case(label: str, src: Path, args: list[str], cwd: Path, repeats: int) -> dict:
    runs = [run_predict(src, args, cwd) for _ in tqdm(range(repeats), desc=label, unit="run", file=sys.stderr)]
    walls = [r["wall_s"] for r in runs]
    last = runs[-1]
    summary = last["stderr"].strip().splitlines()[-1] if last["stderr"].strip() else ""
    return {"case": label, "runs": repeats, "wall_s": round(statistics.median(walls), 3),
            "wall_min_s": round(min(walls), 3), "wall_max_s": round(max(walls), 3),
            "peak_rss_mb": round(max(r["rss_mb"] for r in runs), 1), "exit": last["rc"],
            "torch_imported": last["torch"], "summary": summary}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="exported .onnx/.ort file (default: the default student, see above)")
    ap.add_argument("--src", default=str(ROOT / "src"), help="source tree the predict calls run (default: this one)")
    ap.add_argument("--label", default="after", help="label of this source tree in the results (before/after)")
    ap.add_argument("--repeats", type=int, default=5, help="runs of the 12 MP case (the 200 MP case runs 3)")
    ap.add_argument("--folder-images", default="1000,10000",
                    help="comma-separated sizes of the folder cases (0 = none): equal peak memory = streaming")
    ap.add_argument("--work", help="folder for the generated images (default: a temporary one)")
    ap.add_argument("--results", default=str(ROOT / "benchmarks" / "results"))
    ap.add_argument("--no-record", action="store_true", help="print only; write no results file")
    a = ap.parse_args(argv)

    from mobileiqa.atomic import write_json
    from mobileiqa.environment import machine_id

    with tempfile.TemporaryDirectory(prefix="mobileiqa-predict-bench-") as tmp:
        work = Path(a.work or tmp).resolve()
        work.mkdir(parents=True, exist_ok=True)
        model, model_desc = (Path(a.model).resolve(), Path(a.model).name) if a.model else default_model(work)
        src = Path(a.src).resolve()
        twelve = work / "phone_12mp.jpg"
        if not twelve.exists():
            phone_jpeg(twelve, 4000, 3000)
        huge = work / "phone_200mp.jpg"
        if not huge.exists():
            phone_jpeg(huge, 16320, 12240, seed=1)
        rows = [case("12 MP JPEG (4000x3000)", src, [str(twelve), "--model", str(model), "--out", "s12.csv"],
                     work, a.repeats),
                case("200 MP JPEG (16320x12240)", src, [str(huge), "--model", str(model), "--out", "s200.csv"],
                     work, min(3, a.repeats))]
        for n in (int(s) for s in a.folder_images.split(",") if int(s) > 0):
            folder = work / f"folder_{n}"
            if not folder.exists():
                folder.mkdir()
                for i in tqdm(range(n), desc="write images", unit="img", file=sys.stderr):
                    sub = folder / f"{i // 1000:02d}"
                    sub.mkdir(exist_ok=True)
                    phone_jpeg(sub / f"{i:05d}.jpg", 96 + i % 32, 72 + i % 24, seed=i)
            rows.append(case(f"folder of {n:,} small JPEGs (96-127 x 72-95)", src,
                             [str(folder), "--model", str(model), "--out", "folder.csv"], work, 1))
        for row in rows:
            row["source"] = a.label
            print(f"{row['case']:<48} wall {row['wall_s']:7.2f} s (min {row['wall_min_s']:.2f}, max "
                  f"{row['wall_max_s']:.2f})  peak RSS {row['peak_rss_mb']:7.1f} MB  exit {row['exit']}  "
                  f"torch {row['torch_imported']}\n    {row['summary']}")
    if a.no_record:
        return 0
    machine = machine_id()
    out = Path(a.results) / machine / "predict_cli.json"
    previous = json.loads(out.read_text())["rows"] if out.exists() else []
    kept = [r for r in previous if r.get("source") != a.label]
    write_json(out, {
        "machine": machine, "command": "python benchmarks/predict_cli.py " + shlex.join(argv or sys.argv[1:]),
        "date": dt.date.today().isoformat(),
        "notes": f"`mobileiqa predict` in a fresh interpreter per run (imports, model load, decode, score, write); "
                 f"model {model_desc}, default resolution policy; wall = median of the runs, peak RSS = the "
                 "child's VmHWM. Goals: 12 MP <= 1.5 s and <= 400 MB; 200 MP <= 2 GB.",
        "rows": kept + rows})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
