"""Data versioning: a DVC-tracked photo folder goes to an S3 remote and comes back byte-identical."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import boto3

from tests.imagegen import make_photo

DVC = str(Path(sys.executable).parent / "dvc")


def _run(cwd, *args):
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def _digest(folder: Path) -> dict:
    return {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_dvc_push_and_pull_through_s3(s3_server, tmp_path):
    boto3.client("s3", endpoint_url=s3_server).create_bucket(Bucket="mobileiqa-data")
    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    for i in range(3):
        make_photo(i).save(repo / "data" / f"photo_{i}.png")
    before = _digest(repo / "data")
    _run(repo, "git", "init", "-q")
    _run(repo, DVC, "init", "-q")
    _run(repo, DVC, "config", "core.analytics", "false")
    _run(repo, DVC, "add", "-q", "data")
    _run(repo, DVC, "remote", "add", "-d", "store", "s3://mobileiqa-data/dvc")
    _run(repo, DVC, "remote", "modify", "store", "endpointurl", s3_server)
    _run(repo, DVC, "push", "-q")
    keys = boto3.client("s3", endpoint_url=s3_server).list_objects_v2(Bucket="mobileiqa-data")["KeyCount"]
    assert keys >= 4  # three files and the directory listing

    shutil.rmtree(repo / "data")
    shutil.rmtree(repo / ".dvc" / "cache")
    _run(repo, DVC, "pull", "-q")
    assert _digest(repo / "data") == before
    assert "up to date" in _run(repo, DVC, "status", "data.dvc")
