"""`dvc repro` runs the committed dvc.yaml end to end on the tiny profile (applied with `mobileiqa profile apply`,
the documented mechanism) against an MLflow tracking server on 127.0.0.1: every stage logs one run, grouped under
one parent per pipeline execution; the model is registered; the headline metrics fit a terminal; `dvc plots show`
writes a page that needs no network; a second `dvc repro` does nothing, and `dvc exp run -S key=value` reruns only
the stages downstream of that key and `dvc exp show --only-changed` compares its headline metrics."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.procs import stop, wait_until

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# Smaller still than params/tiny.yaml (as in the Kubeflow local-run test).
FAST = ["data.build.levels_per_type=2", "validate.decode_check=header", "train_teacher.epochs=1",
        "distill_student.train.epochs=1", "evaluate.n_boot=50", "evaluate.baselines=[brisque]",
        "evaluate.behaviour.photos=1", "export.formats=[onnx,ort]", "export.parity_sizes=[96x64]",
        "export.latency_width=96", "export.latency_height=64", "tracking.system_metrics=false"]
ALL_STAGES = {"prepare", "validate", "models", "train_teacher", "distill_student", "baselines", "evaluate",
              "export", "register"}


def _run(args: list[str], cwd: Path, env: dict) -> str:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout + proc.stderr


def _ran(log: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", log))


@pytest.fixture(scope="module")
def tracking_server(tmp_path_factory):
    """``mlflow server`` (sqlite store, proxied local artifacts) on 127.0.0.1; yields its URL."""
    import socket
    import urllib.request

    folder = tmp_path_factory.mktemp("mlflow-server")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = folder / "server.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen([str(BIN / "mlflow"), "server", "--backend-store-uri", f"sqlite:///{folder}/mlflow.db",
                                 "--artifacts-destination", str(folder / "artifacts"), "--host", "127.0.0.1",
                                 "--port", str(port), "--workers", "1"],
                                stdout=fh, stderr=subprocess.STDOUT, cwd=folder,
                                env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: urllib.request.urlopen(url + "/health", timeout=2), "mlflow server", proc, 120, log)
    yield url
    stop(proc)


@pytest.fixture(scope="module")
def repo(photos_dir, tmp_path_factory, tracking_server):
    """A fresh git + DVC checkout of the tracked files with generated photos in data/ and the tiny profile."""
    repo = tmp_path_factory.mktemp("clone")
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split("\0")
    for rel in filter(None, files):
        if rel.startswith(("data.dvc", "dvc.lock")) or not (ROOT / rel).is_file():
            continue  # the real photos' hashes and the default profile's lock do not describe this checkout
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, repo / rel)
    shutil.copytree(photos_dir, repo / "data")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1",
           "GIT_AUTHOR_NAME": "ci", "GIT_AUTHOR_EMAIL": "ci@localhost", "GIT_COMMITTER_NAME": "ci",
           "GIT_COMMITTER_EMAIL": "ci@localhost", "OMP_NUM_THREADS": "1"}
    env["MLFLOW_TRACKING_URI"] = tracking_server
    _run(["git", "init", "-q"], repo, env)
    _run([str(BIN / "mobileiqa"), "profile", "apply", "params/tiny.yaml", *[f"--set={s}" for s in FAST]], repo, env)
    _run([str(BIN / "dvc"), "add", "-q", "data"], repo, env)
    _run(["git", "add", "-A"], repo, env)
    _run(["git", "commit", "-qm", "tiny"], repo, env)
    first = _run([str(BIN / "dvc"), "repro"], repo, env)
    return repo, env, first


@pytest.mark.slow
def test_dvc_repro_runs_every_stage_and_registers_the_model(repo):
    repo, _env, first = repo
    assert _ran(first) == ALL_STAGES
    metrics = json.loads((repo / "artifacts/eval/metrics.json").read_text())
    assert metrics["n"] > 0 and "teacher" in json.dumps(metrics)
    floor = metrics["verdict"][0]
    assert floor["check"].startswith("SRCC floor") and floor["passed"] is (metrics["model"]["srcc"] >= 0.6)
    assert (repo / "artifacts/eval/report.md").read_text().splitlines()[2].startswith("## Verdict: ")
    for plot in ("scatter", "per_type_srcc", "behaviour"):
        assert (repo / f"artifacts/eval/plots/{plot}.png").stat().st_size > 0
    assert (repo / "artifacts/export/model.ort").is_file()
    assert json.loads((repo / "artifacts/metrics/export.json").read_text())["shipped"][:2] == ["onnx", "ort"]
    registered = json.loads((repo / "artifacts/register/registered.json").read_text())
    assert registered["name"] == "mobileiqa-student"
    # the tiny profile's model is judged at once and never becomes champion: it fails the absolute floors
    assert registered["alias"] == "challenger" and registered["promotion"]["outcome"] == "refused"
    assert not registered["promotion"]["gates"]["srcc_floor"]["passed"] and registered["promotion"]["champion"] is None
    lock = (repo / "dvc.lock").read_text()
    assert all(f"  {stage}:" in lock for stage in ALL_STAGES)


def _stage_runs(url: str, key: str) -> tuple[dict, list]:
    from mlflow import MlflowClient

    client = MlflowClient(url)
    experiment = client.get_experiment_by_name("mobileiqa")
    runs = client.search_runs([experiment.experiment_id], f"tags.pipeline_run = '{key}'")
    parents = [r for r in runs if r.data.tags.get("mobileiqa.pipeline_parent") == "true"]
    return {r.data.tags["stage"]: r for r in runs if r not in parents}, parents


@pytest.mark.slow
def test_every_stage_logs_one_run_grouped_under_its_pipeline_execution(repo, tracking_server):
    repo, _env, _ = repo
    records = {p.stem: json.loads(p.read_text()) for p in (repo / "artifacts/runs").glob("*.json")}
    assert set(records) == ALL_STAGES
    keys = {r["pipeline_run"] for r in records.values()}
    assert len(keys) == 1 and all(r["run_id"] for r in records.values()), records
    stages, parents = _stage_runs(tracking_server, keys.pop())
    assert set(stages) == ALL_STAGES and len(parents) == 1, (set(stages), len(parents))
    for stage, run in stages.items():
        assert run.info.run_id == records[stage]["run_id"], stage
        assert run.data.tags["mlflow.parentRunId"] == parents[0].info.run_id, stage
    manifest = json.loads((repo / "artifacts/dataset/dataset.json").read_text())["manifest_sha256"]
    for stage, context in (("prepare", "prepared"), ("train_teacher", "training"), ("evaluate", "evaluation")):
        inputs = stages[stage].inputs.dataset_inputs
        assert [(i.dataset.digest, i.tags[0].value) for i in inputs] == [(manifest[:32], context)], stage
    assert stages["export"].data.metrics["latency_ms"] > 0 and stages["models"].data.metrics["student_params_m"] > 0


@pytest.mark.slow
def test_the_headline_metrics_fit_a_terminal_and_plots_render_offline(repo):
    repo, env, _ = repo
    headline = json.loads((repo / "metrics/pipeline.json").read_text())
    evaluated = json.loads((repo / "artifacts/eval/metrics.json").read_text())
    assert headline["student"]["srcc"] == round(evaluated["model"]["srcc"], 4)
    assert headline["gate"]["floor"] is (evaluated["model"]["srcc"] >= 0.6)
    shown = _run([str(BIN / "dvc"), "metrics", "show"], repo, env)
    assert "student.srcc" in shown and "gate.floor" in shown and "per_type" not in shown, shown
    assert max(map(len, shown.splitlines())) <= 200, shown
    _run([str(BIN / "dvc"), "plots", "show"], repo, env)
    page = (repo / "dvc_plots/index.html").read_text()
    assert 'data-package="vega@5.20.2"' in page and "vegaEmbed" in page
    assert not re.search(r"<script[^>]+src=|https?://cdn", page), "the page loads something from the network"
    ignored = subprocess.run(["git", "check-ignore", "-q", "dvc_plots/index.html"], cwd=repo)
    assert ignored.returncode == 0, "dvc_plots/ must be git-ignored"


@pytest.mark.slow
def test_second_repro_is_a_no_op_and_exp_run_reruns_only_downstream(repo):
    repo, env, _ = repo
    again = _run([str(BIN / "dvc"), "repro"], repo, env)
    assert _ran(again) == set(), again
    _run(["git", "add", "-A"], repo, env)
    _run(["git", "commit", "-qm", "lock"], repo, env)
    exp = _run([str(BIN / "dvc"), "exp", "run", "-S", "evaluate.n_boot=40"], repo, env)
    assert _ran(exp) == {"evaluate", "register"}, exp
    registered = json.loads((repo / "artifacts/register/registered.json").read_text())
    assert registered["promotion"]["outcome"] == "skipped" and "DVC experiment" in registered["promotion"]["reason"]
    # the experiment's headline against the committed run: the bootstrap interval moved with n_boot
    proc = subprocess.run([str(BIN / "dvc"), "exp", "show", "--only-changed", "--csv"], cwd=repo, env=env,
                          capture_output=True, text=True)
    table = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert table and "student.srcc_ci" in table[0] and "evaluate.n_boot" in table[0], table[:1]
    assert len({row["student.srcc_ci"] for row in table if row["student.srcc_ci"]}) >= 2, table
    diff = _run([str(BIN / "dvc"), "metrics", "diff", "HEAD"], repo, env)
    assert "student.srcc_ci" in diff and "failed to load" not in diff, diff
