"""The end-to-end path against the PostgreSQL + S3 ``mlflow server``: register the tiny exported student → promote
→ load ``models:/mobileiqa-student@champion`` → score (paths and base64 bytes), and ``mlflow models serve`` of the
champion answering REST scoring requests with the same scores as the ONNX file scored directly."""

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

from mobileiqa.config import load_params
from mobileiqa.predict import Predictor
from mobileiqa.stages.register import run_register
from mobileiqa.tracking.mlflow_registry import client
from mobileiqa.tracking.promotion import promote
from tests.procs import stop, wait_until
from tests.tracking.conftest import _free_port, write_stage_dirs

ROOT = Path(__file__).resolve().parents[2]
NAME = "mobileiqa-student"


@pytest.fixture(scope="session")
def champion(mlflow_server, tiny_export, tmp_path_factory, sample_jpegs):
    """The tiny student registered and promoted on the server; yields the direct ONNX scores of the sample JPEGs."""
    params = load_params(ROOT / "params.yaml", [ROOT / "params/tiny.yaml"], [f"tracking.uri={mlflow_server}"])
    eval_dir, val_dir = write_stage_dirs(tmp_path_factory.mktemp("stages"), srcc=0.7, plcc=0.7)
    info = run_register(params, eval_dir, tiny_export, val_dir)
    outcome = promote(client(params.tracking), params.register, info["version"],
                      int8_max_drift=params.export.int8_max_srcc_drop)
    assert outcome.promoted, outcome.report()
    return Predictor.from_path(tiny_export / "model.onnx")(sample_jpegs)


def test_champion_loads_by_alias_and_scores(mlflow_server, champion, sample_jpegs, monkeypatch, tmp_path):
    import mlflow.pyfunc

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    model = mlflow.pyfunc.load_model(f"models:/{NAME}@champion")
    by_path = model.predict(pd.DataFrame({"image": [str(p) for p in sample_jpegs]}))
    by_bytes = model.predict([base64.b64encode(p.read_bytes()).decode() for p in sample_jpegs])
    np.testing.assert_allclose(by_path, champion, atol=1e-6)
    np.testing.assert_allclose(by_bytes, champion, atol=1e-6)
    assert np.all((by_path >= 0) & (by_path <= 1))
    # the Predictor reaches the same version through the registry URI
    predictor = Predictor.from_registry(f"models:/{NAME}@champion", dst=tmp_path)
    np.testing.assert_allclose(predictor(sample_jpegs), champion, atol=1e-6)


def test_mlflow_models_serve_answers_rest_requests(mlflow_server, champion, sample_jpegs, tmp_path):
    exe = shutil.which("mlflow", path=str(Path(sys.executable).parent))
    port = _free_port()
    log = tmp_path / "serve.log"
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_server,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}  # for uvicorn
    with open(log, "w") as fh:
        proc = subprocess.Popen([exe, "models", "serve", "-m", f"models:/{NAME}@champion", "--env-manager", "local",
                                 "-h", "127.0.0.1", "-p", str(port), "-w", "1"], stdout=fh, stderr=subprocess.STDOUT,
                                env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: urllib.request.urlopen(url + "/ping", timeout=2), "mlflow models serve", proc, 120, log)
        images = [base64.b64encode(p.read_bytes()).decode() for p in sample_jpegs]
        for body in ({"inputs": images}, {"dataframe_split": {"columns": ["image"], "data": [[i] for i in images]}}):
            req = urllib.request.Request(url + "/invocations", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=60) as resp:
                predictions = json.loads(resp.read())["predictions"]
            np.testing.assert_allclose(np.asarray(predictions, dtype=float), champion, atol=1e-6)
        bad = urllib.request.Request(url + "/invocations", data=json.dumps({"inputs": ["not an image"]}).encode(),
                                     headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(bad, timeout=60)
        assert err.value.code in (400, 500) and "neither an existing file nor base64" in err.value.read().decode()
    finally:
        stop(proc)
