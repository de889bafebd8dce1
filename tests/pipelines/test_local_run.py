"""The whole Kubeflow pipeline runs with kfp's local runner (SubprocessRunner, no Docker) on the tiny profile:
every step's artifacts feed the next, metrics appear, and the model lands in a temporary MLflow registry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Smaller still than params/tiny.yaml: one epoch each, few bootstrap resamples, one baseline, onnx + ort only.
# Two levels per distortion type keep every per-level group of the test split large enough for a logistic fit.
FAST = ["data.build.levels_per_type=2", "validate.decode_check=header", "train_teacher.epochs=1",
        "distill_student.train.epochs=1", "evaluate.n_boot=50", "evaluate.baselines=[brisque]",
        "evaluate.behaviour.photos=1", "export.formats=[onnx,ort]", "export.parity_sizes=[96x64]",
        "export.latency_width=96", "export.latency_height=64", "tracking.experiment=kfp-local"]
STEPS = ["prepare", "validate", "train-teacher", "distill-student", "evaluate", "export", "register"]


@pytest.fixture
def local_run(photos_dir, tmp_path, monkeypatch):
    from mobileiqa.orchestration.local_run import run_local
    from mobileiqa.orchestration.params_text import read_texts

    monkeypatch.chdir(tmp_path)  # the sqlite store keeps its artifacts in ./mlruns
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    params_yaml, overlay_yaml = read_texts(ROOT / "params.yaml", [ROOT / "params" / "tiny.yaml"])
    result = run_local(params_yaml, str(photos_dir), tmp_path / "kfp", overlay_yaml, FAST, root=ROOT)
    return result, tmp_path


@pytest.mark.slow
def test_whole_pipeline_runs_locally_end_to_end(local_run):
    result, tmp_path = local_run
    tasks, metrics = result["tasks"], result["metrics"]
    assert sorted(tasks) == sorted(STEPS)
    assert Path(result["run_dir"]).is_relative_to(tmp_path)

    # artifacts flow: each step's output folder holds what the next step reads
    dataset = Path(tasks["prepare"]["dataset"])
    assert (dataset / "dataset.json").is_file()
    assert json.loads((Path(tasks["validate"]["validation"]) / "summary.json").read_text())["success"] is True
    assert (Path(tasks["train-teacher"]["teacher"]) / "model.pt").is_file()
    assert (Path(tasks["distill-student"]["student"]) / "model.pt").is_file()
    evaluation = json.loads((Path(tasks["evaluate"]["evaluation"]) / "metrics.json").read_text())
    assert evaluation["model_path"] == str(Path(tasks["distill-student"]["student"]) / "model.pt")
    assert evaluation["dataset_sha256"] == json.loads((dataset / "dataset.json").read_text())["manifest_sha256"]
    exported = Path(tasks["export"]["exported"])
    assert (exported / "model.onnx").is_file() and (exported / "model.ort").is_file()
    registration = json.loads(Path(tasks["register"]["registration"]).read_text())
    assert registration["name"] == "mobileiqa-student" and registration["alias"] == "challenger"

    # metrics appear on every step's Output[Metrics]
    assert set(metrics) == set(STEPS)
    assert metrics["prepare"]["images"] == metrics["validate"]["rows"] > 0
    for step, output in (("train-teacher", "teacher"), ("distill-student", "student")):  # the stage's own figure
        recorded = json.loads((Path(tasks[step][output]) / "metrics.json").read_text())
        assert metrics[step]["val_srcc"] == pytest.approx(recorded["val_srcc"])
    assert metrics["evaluate"]["student_n"] == evaluation["n"]
    assert "teacher_srcc" in metrics["evaluate"]
    assert metrics["register"]["version"] == float(registration["version"])

    # the registered version is in the temporary MLflow store, behind @challenger
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    version = client.get_model_version_by_alias("mobileiqa-student", "challenger")
    assert str(version.version) == registration["version"]
