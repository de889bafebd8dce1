"""The MLflow pyfunc as a REST model sees it: base64 images in, scores out; file paths refused unless the deployer
allows them; every bad item a 400-class ``INVALID_PARAMETER_VALUE`` naming its index; the ONNX path torch-free."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def saved_pyfunc(tmp_path_factory, tiny_export):
    """The pyfunc saved to a local folder the way ``register`` logs it (ONNX artifact, serve_format onnx)."""
    import mlflow.pyfunc

    from mobileiqa.tracking.pyfunc import ImageQualityModel

    path = tmp_path_factory.mktemp("pyfunc") / "model"
    mlflow.pyfunc.save_model(str(path), python_model=ImageQualityModel(),
                             artifacts={"onnx": str(tiny_export / "model.onnx")},
                             model_config={"serve_format": "onnx"})
    return path


@pytest.fixture(scope="module")
def model(saved_pyfunc):
    import mlflow.pyfunc

    return mlflow.pyfunc.load_model(str(saved_pyfunc))


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def test_base64_items_score_like_the_onnx_file(model, tiny_export, sample_jpegs):
    from mobileiqa.predict import Predictor
    from mobileiqa.predict.inputs import encode_images

    direct = Predictor.from_path(tiny_export / "model.onnx")(sample_jpegs)
    items = encode_images(sample_jpegs)
    assert items == [_b64(p) for p in sample_jpegs]
    np.testing.assert_allclose(model.predict(items), direct, atol=1e-6)
    np.testing.assert_allclose(model.predict(pd.DataFrame({"image": items})), direct, atol=1e-6)
    wrapped = base64.encodebytes(sample_jpegs[0].read_bytes()).decode()  # 76-column lines, as `base64` writes
    np.testing.assert_allclose(model.predict([wrapped]), direct[:1], atol=1e-6)


def test_paths_are_refused_unless_the_deployer_allows_them(model, sample_jpegs, monkeypatch):
    from mlflow.exceptions import MlflowException

    monkeypatch.delenv("MOBILEIQA_SERVE_ALLOW_PATHS", raising=False)
    for path in (str(sample_jpegs[0]), "/etc/passwd", "/no/such/file.jpg"):
        with pytest.raises(MlflowException) as info:
            model.predict([_b64(sample_jpegs[1]), path])
        assert info.value.error_code == "INVALID_PARAMETER_VALUE"
        assert info.value.message.startswith("image 1: ") and "\n" not in info.value.message
        assert "file paths are not read by a served model unless its deployer sets MOBILEIQA_SERVE_ALLOW_PATHS=1" \
            in info.value.message
    monkeypatch.setenv("MOBILEIQA_SERVE_ALLOW_PATHS", "1")
    assert model.predict([str(sample_jpegs[0])])[0] == pytest.approx(model.predict([_b64(sample_jpegs[0])])[0])
    with pytest.raises(MlflowException, match="image 0: .*no such file is readable by the server"):
        model.predict(["/no/such/file.jpg"])


@pytest.mark.parametrize("item, reason", [
    ("%%% not base64 %%%", "image 2: '%%% not base64 %%%' is not valid base64"),
    (base64.b64encode(b"just some text").decode(), "image 2: not a readable image"),
    (base64.b64encode(b"\xff\xd8\xff\xe0" + b"\0" * 64).decode(), "image 2: "),
    ("", "image 2: empty string"),
    (42, "image 2: expected a base64 string of an encoded image, got int"),
])
def test_a_bad_item_fails_the_request_naming_its_index(model, sample_jpegs, item, reason):
    from mlflow.exceptions import MlflowException

    good = _b64(sample_jpegs[0])
    with pytest.raises(MlflowException) as info:
        model.predict(pd.DataFrame({"image": [good, good, item]}))
    assert info.value.error_code == "INVALID_PARAMETER_VALUE" and info.value.get_http_status_code() == 400
    assert info.value.message.startswith(reason) and "\n" not in info.value.message


def test_the_onnx_pyfunc_scores_without_torch(saved_pyfunc, sample_jpegs):
    code = textwrap.dedent("""
        import json, sys
        import mlflow.pyfunc
        from mobileiqa.predict.inputs import encode_images
        scores = mlflow.pyfunc.load_model(sys.argv[1]).predict(encode_images(sys.argv[2:]))
        print(json.dumps({"n": len(scores), "torch": "torch" in sys.modules, "timm": "timm" in sys.modules}))
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run([sys.executable, "-c", code, str(saved_pyfunc), *map(str, sample_jpegs)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"n": 3, "torch": False, "timm": False}


# ------------------------------------------------------------------------------------------- explanations
@pytest.fixture(scope="module")
def explained_onnx(tmp_path_factory):
    """model.onnx of the tiny student with explanation heads (``tests.export.heads``)."""
    from mobileiqa.export.metadata import ExportMetadata
    from mobileiqa.export.onnx import export_onnx
    from mobileiqa.preprocess import ResolutionPolicy
    from tests.export.heads import explained_model
    from tests.tracking.conftest import TINY_STUDENT

    model = explained_model()
    meta = ExportMetadata(TINY_STUDENT, "test", model.scale, ResolutionPolicy(long_side=128),
                          {"export": None, "train": None}, {"manifest_sha256": None, "source": "checkpoint"},
                          model.config.to_dict())
    return export_onnx(model, tmp_path_factory.mktemp("explained") / "model.onnx", meta)


def _save_with_signature(folder: Path, onnx_file: Path) -> Path:
    import mlflow.pyfunc

    from mobileiqa.tracking.pyfunc import ImageQualityModel, signature

    mlflow.pyfunc.save_model(str(folder), python_model=ImageQualityModel(), artifacts={"onnx": str(onnx_file)},
                             model_config={"serve_format": "onnx"}, signature=signature())
    return folder


@pytest.fixture(scope="module")
def explained_pyfunc(tmp_path_factory, explained_onnx):
    return _save_with_signature(tmp_path_factory.mktemp("pyfunc-heads") / "model", explained_onnx)


def test_explain_returns_spread_and_map_on_request_only(explained_pyfunc, explained_onnx, sample_jpegs):
    import mlflow.pyfunc

    from mobileiqa.predict import Predictor
    from mobileiqa.predict.inputs import encode_images

    model = mlflow.pyfunc.load_model(str(explained_pyfunc))
    items = encode_images(sample_jpegs)
    direct = Predictor.from_path(explained_onnx).explain(sample_jpegs)
    plain = model.predict(items)  # by default: the scores, as for a model without heads
    assert isinstance(plain, np.ndarray) and plain.shape == (3,)
    np.testing.assert_allclose(plain, direct.score, atol=1e-6)
    frame = model.predict(items, params={"explain": True})
    assert list(frame.columns) == ["score", "spread", "quality_map"] and len(frame) == 3
    np.testing.assert_allclose(frame["score"], direct.score, atol=1e-6)
    np.testing.assert_allclose(frame["spread"], direct.spread, atol=1e-6)
    np.testing.assert_allclose(np.asarray(frame["quality_map"].tolist()), direct.quality_map, atol=1e-6)
    assert isinstance(model.predict(items, params={"explain": False}), np.ndarray)


def test_explain_on_a_model_without_heads_is_a_400(tmp_path, tiny_export, sample_jpegs):
    import mlflow.pyfunc
    from mlflow.exceptions import MlflowException

    folder = _save_with_signature(tmp_path / "model", tiny_export / "model.onnx")
    model = mlflow.pyfunc.load_model(str(folder))
    with pytest.raises(MlflowException) as info:
        model.predict([_b64(sample_jpegs[0])], params={"explain": True})
    assert info.value.error_code == "INVALID_PARAMETER_VALUE" and info.value.get_http_status_code() == 400
    assert "no explanation heads" in info.value.message and "distill_student.explain.enabled" in info.value.message


def test_rest_serving_answers_explain_requests(explained_pyfunc, explained_onnx, sample_jpegs, tmp_path):
    """``mlflow models serve`` of the saved pyfunc: plain requests get scores, ``params: {explain: true}`` gets
    score, spread and the quality map per image."""
    import shutil
    import urllib.request

    from mobileiqa.predict import Predictor
    from tests.procs import stop, wait_until
    from tests.tracking.conftest import _free_port
    from tests.tracking.helpers import post_invocations

    direct = Predictor.from_path(explained_onnx).explain(sample_jpegs)
    exe = shutil.which("mlflow", path=str(Path(sys.executable).parent))
    port, log = _free_port(), tmp_path / "serve.log"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    with open(log, "w") as fh:
        proc = subprocess.Popen([exe, "models", "serve", "-m", str(explained_pyfunc), "--env-manager", "local",
                                 "-h", "127.0.0.1", "-p", str(port), "-w", "1"], stdout=fh, stderr=subprocess.STDOUT,
                                env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: urllib.request.urlopen(url + "/ping", timeout=2), "mlflow models serve", proc, 120, log)
        images = [_b64(p) for p in sample_jpegs]
        status, answer = post_invocations(url, json.dumps({"inputs": images}).encode())
        assert status == 200, answer
        np.testing.assert_allclose(np.asarray(answer["predictions"], dtype=float), direct.score, atol=1e-6)
        status, answer = post_invocations(url, json.dumps({"inputs": images, "params": {"explain": True}}).encode())
        assert status == 200, answer
        rows = answer["predictions"]
        assert [sorted(r) for r in rows] == [["quality_map", "score", "spread"]] * 3
        np.testing.assert_allclose([r["spread"] for r in rows], direct.spread, atol=1e-6)
        np.testing.assert_allclose(np.asarray([r["quality_map"] for r in rows]), direct.quality_map, atol=1e-6)
    finally:
        stop(proc)
