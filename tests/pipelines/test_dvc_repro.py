"""`dvc repro` runs the committed dvc.yaml end to end on the tiny profile (applied with `mobileiqa profile apply`,
the documented mechanism), registers the model in the project's local MLflow store, a second `dvc repro` does
nothing, and `dvc exp run -S key=value` reruns only the stages downstream of that key."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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
def repo(photos_dir, tmp_path_factory):
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
    env.pop("MLFLOW_TRACKING_URI", None)  # the default: a sqlite store inside the project
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
    assert registered["name"] == "mobileiqa-student" and (repo / "mlflow.db").is_file()
    # the tiny profile's model is judged at once and never becomes champion: it fails the absolute floors
    assert registered["alias"] == "challenger" and registered["promotion"]["outcome"] == "refused"
    assert not registered["promotion"]["gates"]["srcc_floor"]["passed"] and registered["promotion"]["champion"] is None
    lock = (repo / "dvc.lock").read_text()
    assert all(f"  {stage}:" in lock for stage in ALL_STAGES)


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
