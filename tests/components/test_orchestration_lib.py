"""The library behind the components: params from text, scalar metrics, and the first step's data fetch
(local folder, an S3 prefix and `dvc pull` against an S3-compatible server on 127.0.0.1)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from mobileiqa.config import ConfigError, load_params
from mobileiqa.orchestration.artifacts import log_metrics, model_file, scalars
from mobileiqa.orchestration.fetch import apply_inputs, fetch_inputs
from mobileiqa.orchestration.params_text import load_params_text, read_texts
from tests.imagegen import make_photo

ROOT = Path(__file__).resolve().parents[2]


def test_params_from_text_equal_params_from_files():
    params_yaml, overlay_yaml = read_texts(ROOT / "params.yaml", [ROOT / "params" / "tiny.yaml"])
    from_text = load_params_text(params_yaml, overlay_yaml, ["evaluate.n_boot=7"])
    assert from_text == load_params(ROOT / "params.yaml", [ROOT / "params" / "tiny.yaml"], ["evaluate.n_boot=7"])
    assert from_text.evaluate.n_boot == 7
    assert from_text != load_params(ROOT / "params.yaml")


def test_overlay_documents_merge_in_order():
    params_yaml = (ROOT / "params.yaml").read_text()
    params = load_params_text(params_yaml, "evaluate: {n_boot: 5, seed: 3}\n---\nevaluate: {n_boot: 9}\n")
    assert (params.evaluate.n_boot, params.evaluate.seed) == (9, 3)


@pytest.mark.parametrize("params_yaml, overlay, match", [
    ("", "", "params_yaml is empty"),
    (None, "evaluate: {n_boots: 5}\n", r"params_yaml \+ overlay_yaml.evaluate.*n_boots"),
    (None, "evaluate: [unclosed\n", "overlay_yaml: not valid YAML"),
    ("data: {source: 3}\n", "", "params_yaml.*data.source"),
])
def test_params_errors_name_the_pipeline_parameter(params_yaml, overlay, match):
    text = (ROOT / "params.yaml").read_text() if params_yaml is None else params_yaml
    with pytest.raises(ConfigError, match=match):
        load_params_text(text, overlay)


def test_scalars_keep_finite_numbers_only():
    class Sink:
        def __init__(self):
            self.logged = {}

        def log_metric(self, key, value):
            self.logged[key] = value

    values = {"srcc": 0.5, "n": 3, "ok": True, "nan": float("nan"), "name": "x", "history": [1, 2], "nested": {"a": 1}}
    assert scalars(values, "s_") == {"s_srcc": 0.5, "s_n": 3.0}
    sink = Sink()
    assert log_metrics(sink, values) == sink.logged == {"srcc": 0.5, "n": 3.0}
    assert scalars(None) == {}


def test_model_file_names_the_missing_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="model.pt"):
        model_file(tmp_path)
    (tmp_path / "model.pt").write_bytes(b"x")
    assert model_file(tmp_path) == str(tmp_path / "model.pt")


def test_local_folder_and_bad_sources(tmp_path):
    assert fetch_inputs(str(tmp_path), tmp_path / "unused") == tmp_path
    for bad in ("", "gs://bucket/x", str(tmp_path / "missing")):
        with pytest.raises(ValueError, match="data_source"):
            fetch_inputs(bad, tmp_path / "dest")


def test_apply_inputs_points_prepare_at_the_folder():
    params = load_params(ROOT / "params.yaml")
    same, photos = apply_inputs(params, "/data/photos")
    assert same is params and photos == "/data/photos"
    real = load_params(ROOT / "params.yaml", overrides=["data.source=koniq10k", "data.root=/elsewhere"])
    moved, photos = apply_inputs(real, "/data/koniq")
    assert moved.data.root == "/data/koniq" and photos is None and moved.data.source == "koniq10k"


def _digest(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): hashlib.md5(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_s3_prefix_download(s3_server, tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server)
    s3 = boto3.client("s3", endpoint_url=s3_server)
    s3.create_bucket(Bucket="kfp-photos")
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    for i, name in enumerate(["a.png", "b.png", "sub/c.png"]):
        make_photo(i, 64, 48).save(src / name)
        s3.upload_file(str(src / name), "kfp-photos", f"sets/one/{name}")
    s3.put_object(Bucket="kfp-photos", Key="sets/other/x.png", Body=b"not mine")
    got = fetch_inputs("s3://kfp-photos/sets/one", tmp_path / "dest")
    assert _digest(got) == _digest(src)
    with pytest.raises(FileNotFoundError, match="no objects"):
        fetch_inputs("s3://kfp-photos/sets/none", tmp_path / "dest2")


def test_dvc_pull_from_the_remote(s3_server, tmp_path, monkeypatch):
    dvc = [sys.executable, "-m", "dvc"]

    def run(*args):
        proc = subprocess.run([*dvc, *args], cwd=repo, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr

    boto3.client("s3", endpoint_url=s3_server).create_bucket(Bucket="kfp-dvc")
    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    for i in range(2):
        make_photo(i, 64, 48).save(repo / "data" / f"photo_{i}.png")
    before = _digest(repo / "data")
    run("init", "-q", "--no-scm")
    run("add", "-q", "data")
    run("remote", "add", "-d", "store", "s3://kfp-dvc/cache")
    run("remote", "modify", "store", "endpointurl", s3_server)
    run("push", "-q")
    config_before = (repo / ".dvc" / "config").read_text()
    shutil.rmtree(repo / "data")

    monkeypatch.setenv("DVC_REMOTE_URL", "s3://kfp-dvc/cache")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server)
    got = fetch_inputs("dvc", tmp_path / "pulled", repo_dir=repo)
    assert got == tmp_path / "pulled" / "data" and _digest(got) == before
    assert not (repo / "data").exists() and (repo / ".dvc" / "config").read_text() == config_before

    monkeypatch.setenv("DVC_REMOTE_URL", "s3://kfp-dvc/empty")
    with pytest.raises(RuntimeError, match="dvc pull data.dvc from s3://kfp-dvc/empty failed"):
        fetch_inputs("dvc", tmp_path / "pulled2", repo_dir=repo)
