"""The committed pipelines/mobileiqa_pipeline.yaml (cpu profile) and mobileiqa_pipeline_paper.yaml (GPU training
steps) are what compiling the pipeline gives now; they have dvc.yaml's DAG and the cluster settings (GPU steps and
node selectors on the paper profile only, secrets, retries, caching); the image is a compile option."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mobileiqa.cli import main
from mobileiqa.orchestration.compile import compile_pipeline, stale_diff

ROOT = Path(__file__).resolve().parents[2]
COMPILED = ROOT / "pipelines" / "mobileiqa_pipeline.yaml"
PAPER = ROOT / "pipelines" / "mobileiqa_pipeline_paper.yaml"
DAG = {"prepare": set(), "validate": {"prepare"}, "train-teacher": {"prepare", "validate"},
       "distill-student": {"prepare", "train-teacher"},
       "evaluate": {"prepare", "train-teacher", "distill-student"},
       "export": {"prepare", "distill-student", "evaluate"}, "register": {"evaluate", "export", "validate"}}


def _spec(path: Path = COMPILED):
    pipeline, platform = yaml.safe_load_all(path.read_text())
    return pipeline, platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]


def _containers(pipeline) -> dict:
    return {name: e["container"] for name, e in pipeline["deploymentSpec"]["executors"].items()}


@pytest.mark.parametrize("profile", ["cpu", "paper"])
def test_committed_yaml_is_current(profile):
    diff = stale_diff(ROOT, profile=profile)
    assert diff == "", f"the {profile} pipeline YAML is stale: run `mobileiqa kfp compile`\n{diff[:3000]}"


def test_check_fails_on_a_stale_file(tmp_path, capsys):
    out = compile_pipeline(tmp_path / "pipeline.yaml", ROOT)
    args = ["kfp", "compile", "--root", str(ROOT), "--out", str(out), "--check", "--profile", "cpu"]
    assert main(args) == 0
    out.write_text(out.read_text().replace("mobileiqa", "mobileiqa-old", 1))
    assert main(args) == 1
    assert "stale" in capsys.readouterr().err
    assert main(["kfp", "compile", "--root", str(ROOT), "--out", str(out)]) == 2  # --out is one profile's file


def test_the_image_is_a_compile_option(tmp_path):
    from mobileiqa import __version__

    out = tmp_path / "mine.yaml"
    assert main(["kfp", "compile", "--root", str(ROOT), "--profile", "paper", "--image",
                 "registry.example.com:5000/team/mobileiqa:v7", "--out", str(out)]) == 0
    assert {c["image"] for c in _containers(_spec(out)[0]).values()} == {"registry.example.com:5000/team/mobileiqa:v7"}
    # nothing leaks into the next compile: the committed files keep the default image
    for path in (COMPILED, PAPER):
        assert {c["image"] for c in _containers(_spec(path)[0]).values()} == {
            f"ghcr.io/mobileiqa/mobileiqa:{__version__}"}
    assert stale_diff(ROOT, profile="paper") == ""


def test_the_kfp_steps_are_the_dvc_stages_less_the_documented_two():
    dvc = set(yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"])
    pipeline, _ = _spec()
    steps = {name.replace("-", "_") for name in pipeline["root"]["dag"]["tasks"]}
    assert dvc - steps == {"models", "baselines"} and steps <= dvc
    cluster = (ROOT / "docs" / "CLUSTER.md").read_text()
    assert "`models`" in cluster and "`baselines`" in cluster and "inside `evaluate`" in cluster


def test_dag_matches_the_dvc_stages():
    pipeline, _ = _spec()
    tasks = pipeline["root"]["dag"]["tasks"]
    deps = {name: set(t.get("dependentTasks", [])) for name, t in tasks.items()}
    assert deps == DAG
    assert set(pipeline["root"]["inputDefinitions"]["parameters"]) == {"params_yaml", "overlay_yaml", "overrides",
                                                                      "data_source"}
    assert pipeline["root"]["inputDefinitions"]["parameters"]["data_source"]["defaultValue"] == "dvc"


def test_training_steps_get_a_gpu_node_on_the_paper_profile_only():
    from mobileiqa import __version__

    pipeline, executors = _spec(PAPER)
    containers = _containers(pipeline)
    for step in ("train-teacher", "distill-student"):
        assert containers[f"exec-{step}"]["resources"]["accelerator"]["resourceType"] == "nvidia.com/gpu"
        assert containers[f"exec-{step}"]["resources"]["accelerator"]["resourceCount"] == "1"
        assert executors[f"exec-{step}"]["nodeSelector"]["labels"] == {"nvidia.com/gpu.present": "true"}
    for step in ("prepare", "validate", "evaluate", "export", "register"):
        assert "accelerator" not in containers[f"exec-{step}"].get("resources", {})
        assert "nodeSelector" not in executors[f"exec-{step}"]
    cpu, cpu_executors = _spec(COMPILED)
    for name, container in _containers(cpu).items():
        assert "accelerator" not in container.get("resources", {}), name
        assert "nodeSelector" not in cpu_executors[name] and "tolerations" not in cpu_executors[name], name
    assert _containers(cpu)["exec-train-teacher"]["resources"]["resourceMemoryRequest"] == "8G"
    assert pipeline["root"]["dag"] == cpu["root"]["dag"]  # one DAG, two resource profiles
    for p in (pipeline, cpu):
        containers = _containers(p)
        assert {c["image"] for c in containers.values()} == {f"ghcr.io/mobileiqa/mobileiqa:{__version__}"}
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
