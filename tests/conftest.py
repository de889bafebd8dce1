"""Test-wide setup (offline hub, one torch thread) and shared fixtures: generated photos, a tiny built dataset,
an S3-compatible server on 127.0.0.1."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from pathlib import Path

import pytest
import torch

from tests.imagegen import make_photo
from tests.procs import stop, wait_until

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]
TINY_STUDENT = "mobileiqa_student_mobilenetv3_small_050_tiny"


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def photos_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("photos")
    for i in range(4):
        make_photo(i, 200 + 10 * i, 150).save(d / f"gen_{i}.png")
    return d


@pytest.fixture(scope="session")
def tiny_dataset(prepared_tiny, tiny_params):
    """The tiny default dataset (3 photos, 1 level per type, 3 annotators: ``params/tiny.yaml``'s ``data.build``)
    as ``(folder, BuildConfig, build report)``; the same folder as ``prepared_tiny``, built once a session."""
    import json

    spec = tiny_params.data.build
    assert (spec.max_photos, spec.levels_per_type, len(spec.annotators)) == (3, 1, 3)
    return prepared_tiny, spec, json.loads((prepared_tiny / "build_report.json").read_text())


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def s3_server():
    """An S3-compatible server (moto) on 127.0.0.1 for the session; yields its endpoint URL.

    Credentials are dummies set in the environment, as real clients would read them."""
    import shutil
    import subprocess
    import sys
    import urllib.request
    from pathlib import Path

    exe = shutil.which("moto_server", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.fail("moto_server is missing: run scripts/setup.sh (moto[server] is in requirements/lock.txt)")
    port = _free_port()
    proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    wait_until(lambda: urllib.request.urlopen(endpoint + "/moto-api/", timeout=1), f"moto_server on {endpoint}",
               proc, 30)
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield endpoint
    finally:
        stop(proc, timeout=10)
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="session")
def tiny_params():
    """The tiny profile with tracking off (tests that track turn it back on)."""
    from mobileiqa.config import load_params

    return load_params(ROOT / "params.yaml", [ROOT / "params/tiny.yaml"], ["tracking.enabled=false"])


@pytest.fixture(scope="session")
def prepared_tiny(photos_dir, tmp_path_factory, tiny_params):
    from mobileiqa.data.prepare import prepare

    out = tmp_path_factory.mktemp("prepared")
    prepare(tiny_params.data, out, photos_dir, progress=False)
    return out


@pytest.fixture(scope="session")
def model_files(tmp_path_factory):
    """``(checkpoint, onnx)`` of a tiny student (policy: long side 128) whose scores vary across images."""
    from mobileiqa.export.metadata import ExportMetadata
    from mobileiqa.export.onnx import export_onnx
    from mobileiqa.models.checkpoint import save_model
    from mobileiqa.preprocess import ResolutionPolicy
    from tests.modelgen import spread_model

    model = spread_model(TINY_STUDENT)
    d = tmp_path_factory.mktemp("model")
    policy = ResolutionPolicy(long_side=128)
    ckpt = save_model(model, TINY_STUDENT, d / "model.pt", meta={"resolution": policy.to_dict()})
    meta = ExportMetadata(TINY_STUDENT, "test", model.scale, policy, {"export": "x", "train": None},
                          {"manifest_sha256": None, "source": "checkpoint"}, model.config.to_dict())
    onnx_path = export_onnx(model, d / "model.onnx", meta)
    return ckpt, onnx_path
