"""The stages of one pipeline execution find the same key and parent run without talking to each other."""

from __future__ import annotations

import pytest

from mobileiqa.tracking.pipeline_run import PIPELINE_ENV, data_version, parent_run_id, pipeline_run_key

PARAMS = {"data.seed": 0, "train_teacher.epochs": 3, "tracking.enabled": True, "tracking.uri": None}


def test_the_key_depends_on_params_source_and_data_but_not_on_tracking(monkeypatch):
    monkeypatch.delenv(PIPELINE_ENV, raising=False)
    key = pipeline_run_key(PARAMS, "abc", "d1")
    assert key == pipeline_run_key(dict(reversed(list(PARAMS.items()))), "abc", "d1") and len(key) == 12
    assert key == pipeline_run_key({**PARAMS, "tracking.enabled": False, "tracking.uri": "http://x"}, "abc", "d1")
    others = {pipeline_run_key({**PARAMS, "train_teacher.epochs": 4}, "abc", "d1"),
              pipeline_run_key(PARAMS, "abc+dirty", "d1"), pipeline_run_key(PARAMS, "abc", "d2")}
    assert key not in others and len(others) == 3
    monkeypatch.setenv(PIPELINE_ENV, "kfp-run-42")
    assert pipeline_run_key(PARAMS, "abc", "d1") == "kfp-run-42"


def test_the_data_version_is_the_md5_dvc_recorded(tmp_path):
    assert data_version(tmp_path) == "unversioned"
    (tmp_path / "data.dvc").write_text("outs:\n- md5: 50facc00.dir\n  path: data\n")
    assert data_version(tmp_path) == "50facc00.dir"
    (tmp_path / "data.dvc").write_text(": not yaml: [")
    assert data_version(tmp_path) == "unversioned"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_the_parent_run_is_created_once_per_key(tmp_path):
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    experiment = client.create_experiment("e", artifact_location=(tmp_path / "a").as_uri())
    first = parent_run_id(client, experiment, "k1", {"source": "abc"})
    assert parent_run_id(client, experiment, "k1", {}) == first
    other = parent_run_id(client, experiment, "k2", {})
    assert other != first
    run = client.get_run(first)
    assert run.info.status == "FINISHED" and run.data.tags["source"] == "abc" and run.info.run_name == "pipeline k1"


def test_only_edited_code_makes_the_source_dirty(tmp_path):
    import subprocess

    from mobileiqa.environment import source_state

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True,
                       env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@localhost", "GIT_COMMITTER_NAME": "t",
                            "GIT_COMMITTER_EMAIL": "t@localhost", "PATH": "/usr/bin:/bin"})

    assert source_state(tmp_path) == "unknown"
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "m.py").write_text("x = 1\n")
    (tmp_path / "dvc.lock").write_text("a\n")
    git("init", "-q")
    git("add", "-A")
    git("commit", "-qm", "c")
    clean = source_state(tmp_path)
    (tmp_path / "dvc.lock").write_text("b\n")  # the pipeline rewrites its lock while it runs: still the same source
    (tmp_path / "src" / "new.py").write_text("")  # untracked
    assert source_state(tmp_path) == clean and len(clean) == 40
    (tmp_path / "src" / "m.py").write_text("x = 2\n")
    assert source_state(tmp_path) == clean + "+dirty"
