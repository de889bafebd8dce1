"""The project's default store is a sqlite file in the working directory, named by its absolute path: MLflow
caches one store per URI string, so a relative URI opened in one directory would keep writing there."""

from __future__ import annotations

from mobileiqa.tracking.mlflow_logger import tracking_uri
from mobileiqa.tracking.settings import TrackingConfig


def test_a_relative_sqlite_store_is_named_by_its_absolute_path(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    first = tracking_uri(TrackingConfig())
    monkeypatch.chdir(tmp_path / "b")
    assert first == f"sqlite:///{tmp_path}/a/mlflow.db" != tracking_uri(TrackingConfig())
    assert tracking_uri(TrackingConfig(uri="sqlite:///runs/x.db")) == f"sqlite:///{tmp_path}/b/runs/x.db"
    for fixed in ("http://127.0.0.1:5000", f"sqlite:///{tmp_path}/c.db", "sqlite:///:memory:"):
        assert tracking_uri(TrackingConfig(uri=fixed)) == fixed
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5001")
    assert tracking_uri(TrackingConfig()) == "http://127.0.0.1:5001"
