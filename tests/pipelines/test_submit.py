"""`mobileiqa kfp submit` / `upload` against a stand-in of the KFP REST API on 127.0.0.1: the requests that reach
the server carry the compiled pipeline and params.yaml (+ overlay, overrides) as run parameters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from mobileiqa.cli import main
from tests.pipelines import kfp_api

ROOT = Path(__file__).resolve().parents[2]
COMPILED = ROOT / "pipelines" / "mobileiqa_pipeline.yaml"
API = kfp_api.API


@pytest.fixture
def api():
    server_api, server = kfp_api.start()
    yield server_api
    server.shutdown()
    server.server_close()


def _submit(api, *extra):
    return main(["kfp", "submit", "--host", api.url, "--package", str(COMPILED), "--params", str(ROOT / "params.yaml"),
                 *extra])


def test_submit_creates_a_run_with_the_pipeline_and_params(api, capsys):
    rc = _submit(api, "--overlay", str(ROOT / "params" / "tiny.yaml"), "--set", "evaluate.n_boot=10",
                 "--data-source", "s3://photos/mobileiqa", "--run-name", "nightly", "--experiment", "ci")
    assert rc == 0
    assert "run-123" in capsys.readouterr().out
    assert api.calls() == [("GET", f"{API}/healthz"), ("GET", f"{API}/experiments"), ("POST", f"{API}/experiments"),
                           ("POST", f"{API}/runs")]
    lookup = json.loads(api.requests[1].query["filter"][0])
    assert lookup["predicates"][0]["stringValue"] == "ci"
    assert api.only("POST", f"{API}/experiments").json()["display_name"] == "ci"

    run = api.only("POST", f"{API}/runs").json()
    assert run["display_name"] == "nightly" and run["experiment_id"] == "exp-1"
    args = run["runtime_config"]["parameters"]
    assert args["params_yaml"] == (ROOT / "params.yaml").read_text()
    assert yaml.safe_load(args["overlay_yaml"]) == yaml.safe_load((ROOT / "params" / "tiny.yaml").read_text())
    assert args["overrides"] == ["evaluate.n_boot=10"]
    assert args["data_source"] == "s3://photos/mobileiqa"
    committed = list(yaml.safe_load_all(COMPILED.read_text()))
    assert run["pipeline_spec"]["pipeline_spec"] == committed[0]
    assert run["pipeline_spec"]["platform_spec"] == committed[1]


def test_submit_sends_the_token_from_the_environment(api, monkeypatch):
    monkeypatch.setenv("KFP_TOKEN", "s3cret-token")
    assert _submit(api) == 0
    assert api.only("POST", f"{API}/runs").headers["authorization"] == "Bearer s3cret-token"


def test_submit_refuses_bad_params_before_any_request(api, tmp_path, capsys):
    bad = tmp_path / "params.yaml"
    bad.write_text("train_teacher:\n  epochz: 3\n")
    rc = main(["kfp", "submit", "--host", api.url, "--package", str(COMPILED), "--params", str(bad)])
    assert rc == 2
    err = capsys.readouterr().err
    assert "train_teacher" in err and "epochz" in err and "params_yaml" in err
    assert api.requests == []


def test_submit_reports_an_api_error(api, capsys, monkeypatch):
    monkeypatch.setattr(kfp_api, "_answer", lambda method, path, body: (
        (200, {"multi_user": False}) if path.endswith("/healthz") else (500, {"error": "backend down"})))
    assert _submit(api) == 2
    err = capsys.readouterr().err
    assert api.url in err and "500" in err


def test_upload_posts_the_package(api, capsys):
    rc = main(["kfp", "upload", "--host", api.url, "--package", str(COMPILED), "--name", "mobileiqa-nightly"])
    assert rc == 0
    assert "pipeline-9" in capsys.readouterr().out
    request = api.only("POST", f"{API}/pipelines/upload")
    assert request.query["name"] == ["mobileiqa-nightly"]
    assert request.headers["content-type"].startswith("multipart/form-data")
    assert COMPILED.read_bytes()[:200] in request.body
