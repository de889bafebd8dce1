"""Test helpers: a tiny exported student through the export stage's own front door (ONNX + ORT, metadata
embedded, export.json with parity and a latency figure)."""

from __future__ import annotations

from pathlib import Path


def make_export(out: Path, model_name: str) -> Path:
    """``out`` gets model.onnx, model.ort and export.json for registered model ``model_name`` (random weights)."""
    from mobileiqa.export.exporter import export_model
    from mobileiqa.export.settings import ExportConfig

    cfg = ExportConfig(formats=["onnx", "ort"], parity_sizes=["96x72"], latency_width=128, latency_height=96,
                       latency_repeats=1)
    export_model(model_name, out, cfg)
    return out


def post_invocations(url: str, body: bytes, timeout: float = 120) -> tuple[int, dict]:
    """POST a JSON scoring request to ``url/invocations`` of ``mlflow models serve``: (HTTP status, answer)."""
    import json
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url + "/invocations", data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def fresh_venv(folder: Path, requirements: Path) -> Path:
    """A new virtual environment in ``folder`` (the base interpreter's, no system site packages) holding only
    ``requirements`` and what they depend on; returns its ``bin`` folder. Fast path: no pip inside the venv (this
    venv's pip installs into it with ``--python``), no byte-compiling, wheels from pip's cache and configured
    indexes."""
    import subprocess
    import sys

    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    proc = subprocess.run([sys.executable, "-m", "pip", "--python", str(folder / "bin" / "python"), "install",
                           "--quiet", "--no-compile", "--disable-pip-version-check", "-r", str(requirements)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, f"pip install -r {requirements} failed:\n{proc.stderr[-4000:]}"
    return folder / "bin"
