"""The committed pipelines/mobileiqa_pipeline.yaml is what compiling the pipeline gives now, and it has the DAG
and cluster settings of the issue (GPU steps, node selectors, secrets, retries, caching)."""

from __future__ import annotations

from pathlib import Path

import yaml

from mobileiqa.cli import main
from mobileiqa.orchestration.compile import compile_pipeline, stale_diff

ROOT = Path(__file__).resolve().parents[2]
COMPILED = ROOT / "pipelines" / "mobileiqa_pipeline.yaml"
DAG = {"prepare": set(), "validate": {"prepare"}, "train-teacher": {"prepare", "validate"},
       "distill-student": {"prepare", "train-teacher"},
       "evaluate": {"prepare", "train-teacher", "distill-student"},
       "export": {"prepare", "distill-student", "evaluate"}, "register": {"evaluate", "export", "validate"}}


def _spec():
    pipeline, platform = yaml.safe_load_all(COMPILED.read_text())
    return pipeline, platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]


def test_committed_yaml_is_current():
    diff = stale_diff(ROOT)
    assert diff == "", f"pipelines/mobileiqa_pipeline.yaml is stale: run `mobileiqa kfp compile`\n{diff[:3000]}"


def test_check_fails_on_a_stale_file(tmp_path, capsys):
    out = compile_pipeline(tmp_path / "pipeline.yaml", ROOT)
    assert main(["kfp", "compile", "--root", str(ROOT), "--out", str(out), "--check"]) == 0
    out.write_text(out.read_text().replace("mobileiqa", "mobileiqa-old", 1))
    assert main(["kfp", "compile", "--root", str(ROOT), "--out", str(out), "--check"]) == 1
    assert "stale" in capsys.readouterr().err


def test_dag_matches_the_dvc_stages():
    pipeline, _ = _spec()
    tasks = pipeline["root"]["dag"]["tasks"]
    deps = {name: set(t.get("dependentTasks", [])) for name, t in tasks.items()}
    assert deps == DAG
    assert set(pipeline["root"]["inputDefinitions"]["parameters"]) == {"params_yaml", "overlay_yaml", "overrides",
                                                                      "data_source"}
    assert pipeline["root"]["inputDefinitions"]["parameters"]["data_source"]["defaultValue"] == "dvc"


def test_training_steps_get_a_gpu_node():
    pipeline, executors = _spec()
    containers = {name: e["container"] for name, e in pipeline["deploymentSpec"]["executors"].items()}
    for step in ("train-teacher", "distill-student"):
        assert containers[f"exec-{step}"]["resources"]["accelerator"]["resourceType"] == "nvidia.com/gpu"
        assert containers[f"exec-{step}"]["resources"]["accelerator"]["resourceCount"] == "1"
        assert executors[f"exec-{step}"]["nodeSelector"]["labels"] == {"nvidia.com/gpu.present": "true"}
    for step in ("prepare", "validate", "evaluate", "export", "register"):
        assert "accelerator" not in containers[f"exec-{step}"].get("resources", {})
        assert "nodeSelector" not in executors[f"exec-{step}"]
    images = {c["image"] for c in containers.values()}
    from mobileiqa import __version__

    assert images == {f"ghcr.io/mobileiqa/mobileiqa:{__version__}"}
    assert not any("pip install" in " ".join(c["command"]) for c in containers.values())


def test_secrets_retries_and_caching():
    pipeline, executors = _spec()
    for name, executor in executors.items():
        secrets = {}
        for entry in executor["secretAsEnv"]:
            secrets.setdefault(entry["secretName"], set()).update(k["envVar"] for k in entry["keyToEnv"])
        assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= secrets["mobileiqa-s3"], name
        assert "MLFLOW_TRACKING_URI" in secrets["mobileiqa-mlflow"], name
        assert executor["configMapAsEnv"][0]["configMapName"] == "mobileiqa-pipeline"
    for name, task in pipeline["root"]["dag"]["tasks"].items():
        assert task["retryPolicy"]["maxRetryCount"] >= 1, name
        assert task["cachingOptions"].get("enableCache", False) is (name != "register"), name
