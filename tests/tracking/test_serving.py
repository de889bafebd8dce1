"""The end-to-end path against the PostgreSQL + S3 ``mlflow server``: register the tiny exported student (promoted by
``register`` itself) → load ``models:/mobileiqa-student@champion`` → score (base64 bytes; paths where the deployer
allows them), and ``mlflow models serve`` of the champion answering REST scoring requests (a > 1 MB JPEG from a
request file) with the same scores as the ONNX file scored directly, and refusing server paths and bad items with
HTTP 400."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mobileiqa.config import load_params
from mobileiqa.predict import Predictor
from mobileiqa.stages.register import run_register
from tests.procs import stop, wait_until
from tests.tracking.conftest import _free_port, write_stage_dirs

ROOT = Path(__file__).resolve().parents[2]
NAME = "mobileiqa-student"


@pytest.fixture(scope="session")
def champion(mlflow_server, tiny_export, tmp_path_factory, sample_jpegs):
    """The tiny student registered and promoted on the server; yields the direct ONNX scores of the sample JPEGs."""
    params = load_params(ROOT / "params.yaml", [ROOT / "params/tiny.yaml"], [f"tracking.uri={mlflow_server}"])
    eval_dir, val_dir = write_stage_dirs(tmp_path_factory.mktemp("stages"), srcc=0.7, plcc=0.7)
    info = run_register(params, eval_dir, tiny_export, val_dir)  # register.auto_promote: every gate passes
    assert info["alias"] == "champion", info["promotion"]["report"]
    return Predictor.from_path(tiny_export / "model.onnx")(sample_jpegs)


def test_champion_loads_by_alias_and_scores(mlflow_server, champion, sample_jpegs, monkeypatch, tmp_path):
    import mlflow.pyfunc

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    monkeypatch.setenv("MOBILEIQA_SERVE_ALLOW_PATHS", "1")  # a batch job on a shared disk may send paths
    model = mlflow.pyfunc.load_model(f"models:/{NAME}@champion")
    by_path = model.predict(pd.DataFrame({"image": [str(p) for p in sample_jpegs]}))
    by_bytes = model.predict([base64.b64encode(p.read_bytes()).decode() for p in sample_jpegs])
    np.testing.assert_allclose(by_path, champion, atol=1e-6)
    np.testing.assert_allclose(by_bytes, champion, atol=1e-6)
    assert np.all((by_path >= 0) & (by_path <= 1))
    # the Predictor reaches the same version through the registry URI
    predictor = Predictor.from_registry(f"models:/{NAME}@champion", dst=tmp_path)
    np.testing.assert_allclose(predictor(sample_jpegs), champion, atol=1e-6)


def _post(url: str, body: bytes) -> tuple[int, dict]:
    req = urllib.request.Request(url + "/invocations", data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_mlflow_models_serve_answers_rest_requests(mlflow_server, champion, sample_jpegs, tiny_export, tmp_path):
    from mobileiqa.cli import main

    exe = shutil.which("mlflow", path=str(Path(sys.executable).parent))
    port = _free_port()
    log = tmp_path / "serve.log"
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_server,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}  # for uvicorn
    env.pop("MOBILEIQA_SERVE_ALLOW_PATHS", None)
    # a > 1 MB JPEG, sent as the README does: a request file from `mobileiqa request`, posted with -d @file
    rng = np.random.default_rng(0)
    big = tmp_path / "big.jpg"
    Image.fromarray(rng.integers(0, 256, (900, 1200, 3), dtype=np.uint8)).save(big, quality=95)
    assert big.stat().st_size > 1_000_000
    assert main(["request", str(big), *map(str, sample_jpegs), "--out", str(tmp_path / "request.json")]) == 0
    want = Predictor.from_path(tiny_export / "model.onnx")([big, *sample_jpegs])
    with open(log, "w") as fh:
        proc = subprocess.Popen([exe, "models", "serve", "-m", f"models:/{NAME}@champion", "--env-manager", "local",
                                 "-h", "127.0.0.1", "-p", str(port), "-w", "1"], stdout=fh, stderr=subprocess.STDOUT,
                                env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: urllib.request.urlopen(url + "/ping", timeout=2), "mlflow models serve", proc, 120, log)
        status, answer = _post(url, (tmp_path / "request.json").read_bytes())
        assert status == 200, answer
        np.testing.assert_allclose(np.asarray(answer["predictions"], dtype=float), want, atol=1e-6)
        images = [base64.b64encode(p.read_bytes()).decode() for p in sample_jpegs]
        status, answer = _post(url, json.dumps(
            {"dataframe_split": {"columns": ["image"], "data": [[i] for i in images]}}).encode())
        np.testing.assert_allclose(np.asarray(answer["predictions"], dtype=float), champion, atol=1e-6)
        # the server's files are not an oracle: a path is refused, whether it exists or not
        for path in ("/etc/passwd", str(sample_jpegs[0])):
            status, answer = _post(url, json.dumps({"inputs": [images[0], path]}).encode())
            assert status == 400 and answer["error_code"] == "INVALID_PARAMETER_VALUE"
            assert f"image 1: {path!r} is not base64" in answer["message"]
            assert "MOBILEIQA_SERVE_ALLOW_PATHS=1" in answer["message"]
        status, answer = _post(url, json.dumps({"inputs": [images[0], images[1], "bm90IGFuIGltYWdl"]}).encode())
        assert status == 400 and "image 2: not a readable image" in answer["message"]
    finally:
        stop(proc)
