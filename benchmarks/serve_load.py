"""Serving load benchmark: ``mlflow models serve`` of the registry champion under concurrent REST clients.

By default everything is built in a temporary folder (nothing is written into the project's store): the default
student (params.yaml ``models.student``, random weights: latency does not depend on them) is exported to ONNX + ORT,
registered in a temporary sqlite store with placeholder evaluation figures, promoted to ``@champion`` and served
with ``mlflow models serve -m models:/mobileiqa-student@champion --env-manager local``. ``--tracking-uri`` serves
the champion of an existing store instead. Then ``--clients`` threads each post ``--requests`` requests of one
1840x1380 JPEG of 1 MB (base64, ``{"inputs": [...]}``), one at a time, and the errors and latency percentiles are
reported.

Usage (from the project root, inside .venv):
    python benchmarks/serve_load.py                         # 50 clients x 10 requests, 2 server workers
    python benchmarks/serve_load.py --clients 10 --requests 5 --workers 1

Writes benchmarks/results/<machine>/serve_load.json and re-renders docs/BENCHMARKS.md. Numbers are printed, never
asserted. The clients run on the same machine as the server and compete with it for the CPU.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import io
import json
import os
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from mobileiqa.atomic import write_json, write_text
from mobileiqa.environment import machine_id
from mobileiqa.eval.report import render

ROOT = Path(__file__).resolve().parents[1]


def jpeg(width: int, height: int, seed: int = 0) -> bytes:
    """A synthetic 'photo' (gradients, texture, noise) as a quality-90 JPEG."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    img = np.stack([x * 255 / width, y * 255 / height, ((x + y) % 64) * 4], -1).astype(float)
    img += rng.normal(0, 12, img.shape)
    buf = io.BytesIO()
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def build_champion(folder: Path, student: str) -> str:
    """Export ``student`` and register + promote it in a sqlite store under ``folder``; returns the store URI."""
    from mobileiqa.config import load_params
    from mobileiqa.export.exporter import export_model
    from mobileiqa.export.settings import ExportConfig
    from mobileiqa.stages.register import run_register

    uri = f"sqlite:///{folder / 'mlflow.db'}"
    export_dir = folder / "export"
    report = export_model(student, export_dir, ExportConfig(formats=["onnx", "ort"]))
    (folder / "eval").mkdir()
    (folder / "validation").mkdir()
    (folder / "eval" / "metrics.json").write_text(json.dumps({  # placeholder figures: this measures serving only
        "split": "test", "n": 1, "dataset_sha256": "0" * 64, "model": {"srcc": 0.0, "plcc": 0.0},
        "baselines": {"placeholder": {"srcc": 0.0}}}))
    (folder / "validation" / "summary.json").write_text(json.dumps({"success": True}))
    params = load_params(ROOT / "params.yaml", overrides=[f"tracking.uri={uri}", "tracking.system_metrics=false",
                                                          f"register.latency_budget_ms={1e9}", "register.min_srcc=0",
                                                          "register.min_srcc_over_baselines=0"])
    cwd = os.getcwd()
    os.chdir(folder)  # the run's artifacts go to folder/mlruns
    try:
        info = run_register(params, folder / "eval", export_dir, folder / "validation", profile="benchmark")
    finally:
        os.chdir(cwd)
    if info["alias"] != "champion":  # register promotes when every gate passes (placeholder floors of 0 here)
        raise RuntimeError(info["promotion"].get("report") or info["promotion"])
    print(f"champion: {info['name']} v{info['version']} ({student}; export latency {report['latency']['ms']} ms)")
    return uri


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(uri: str, name: str, workers: int, log: Path) -> tuple[subprocess.Popen, str]:
    exe = shutil.which("mlflow", path=str(Path(sys.executable).parent)) or "mlflow"
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}  # for uvicorn
    with open(log, "w") as fh:
        proc = subprocess.Popen([exe, "models", "serve", "-m", f"models:/{name}@champion", "--env-manager", "local",
                                 "-h", "127.0.0.1", "-p", str(port), "-w", str(workers)], stdout=fh,
                                stderr=subprocess.STDOUT, env=env, cwd=log.parent)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 180
    while True:
        try:
            urllib.request.urlopen(url + "/ping", timeout=2)
            return proc, url
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                raise RuntimeError(f"mlflow models serve did not start:\n{log.read_text()[-3000:]}") from None
            time.sleep(0.5)


def client_run(url: str, body: bytes, requests: int, timeout: float) -> list[tuple[float, str | None]]:
    out = []
    for _ in range(requests):
        req = urllib.request.Request(url + "/invocations", data=body, headers={"Content-Type": "application/json"})
        t0 = time.perf_counter()
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                predictions = json.loads(resp.read())["predictions"]
            error = None if len(predictions) == 1 and np.isfinite(predictions[0]) else f"bad answer {predictions}"
        except (OSError, ValueError, KeyError) as exc:
            error = f"{exc.__class__.__name__}: {exc}"
        out.append((time.perf_counter() - t0, error))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--requests", type=int, default=10, help="requests per client, sent one after another")
    ap.add_argument("--workers", type=int, default=2, help="server worker processes (mlflow models serve -w)")
    ap.add_argument("--size", default="1840x1380", help="JPEG size WxH (the default is a 1 MB JPEG)")
    ap.add_argument("--timeout", type=float, default=120.0, help="client timeout per request (s)")
    ap.add_argument("--tracking-uri", help="serve the champion of this store instead of a temporary one")
    ap.add_argument("--name", default="mobileiqa-student")
    ap.add_argument("--results", default=str(ROOT / "benchmarks" / "results"))
    args = ap.parse_args()

    from mobileiqa.config import load_params

    student = load_params(ROOT / "params.yaml").models.student
    width, height = map(int, args.size.lower().split("x"))
    image = jpeg(width, height)
    body = json.dumps({"inputs": [base64.b64encode(image).decode()]}).encode()
    folder = Path(tempfile.mkdtemp(prefix="mobileiqa-serve-load-"))
    proc = None
    try:
        uri = args.tracking_uri or build_champion(folder, student)
        proc, url = serve(uri, args.name, args.workers, folder / "serve.log")
        client_run(url, body, 2, args.timeout)  # warm-up: model loaded in every worker
        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            futures = [pool.submit(client_run, url, body, args.requests, args.timeout) for _ in range(args.clients)]
            results = [r for f in tqdm(futures, desc="clients", unit="client") for r in f.result()]
        wall = time.perf_counter() - t0
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(folder, ignore_errors=True)

    ok = sorted(t for t, e in results if e is None)
    errors = [e for _, e in results if e is not None]
    ms = [1000 * t for t in ok]
    row = {"model": student if not args.tracking_uri else f"{args.name}@champion",
           "image": f"{width}x{height} JPEG, {len(image) / 1e6:.2f} MB",
           "clients": args.clients, "requests": len(results), "workers": args.workers, "errors": len(errors),
           "p50_ms": round(float(np.percentile(ms, 50)), 1) if ms else None,
           "p99_ms": round(float(np.percentile(ms, 99)), 1) if ms else None,
           "mean_ms": round(statistics.fmean(ms), 1) if ms else None,
           "throughput_rps": round(len(results) / wall, 2)}
    print(json.dumps(row))
    for e in sorted(set(errors))[:5]:
        print("error:", e)
    machine = machine_id()
    write_json(Path(args.results) / machine / "serve_load.json", {
        "machine": machine,
        "command": shlex.join(["python", "benchmarks/serve_load.py", *sys.argv[1:]]),
        "date": dt.date.today().isoformat(),
        "notes": (f"`mlflow models serve --env-manager local` of the champion (ONNX fp32 through the Predictor, "
                  f"random weights); {args.clients} concurrent clients x {args.requests} sequential requests of one "
                  f"{width}x{height} JPEG each, clients on the same {os.cpu_count()}-core machine as the server. "
                  "Latency = request round trip; goal: 0 errors."),
        "rows": [row],
        "error_samples": sorted(set(errors))[:5],
    })
    print(f"results: {Path(args.results) / machine / 'serve_load.json'}")
    if Path(args.results).resolve() == (ROOT / "benchmarks" / "results").resolve():
        write_text(ROOT / "docs" / "BENCHMARKS.md", render(args.results, root=ROOT))
        print("rendered docs/BENCHMARKS.md")


if __name__ == "__main__":
    main()
