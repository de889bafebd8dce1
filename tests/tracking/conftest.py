"""Session-scoped servers for the registry tests, all on 127.0.0.1: PostgreSQL (run as an unprivileged user, data
in a temporary folder), and ``mlflow server`` with the PostgreSQL backend store and an S3 artifact store (the moto
server of ``tests/conftest.py``). Also a tiny exported student (ONNX + ORT) and the stage folders that ``register``
reads.

Without PostgreSQL the server tests are skipped with the reason, except under ``CI=true`` where they fail
(``scripts/install-services.sh`` installs it).
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import pytest

from tests.procs import stop, wait_until

TINY_STUDENT = "mobileiqa_student_mobilenetv3_small_050_tiny"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _missing(reason: str):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: the server tests must run; see scripts/install-services.sh)")
    pytest.skip(f"{reason}; run scripts/install-services.sh (as root) to install it")


def _pg_bin(tool: str) -> str | None:
    found = shutil.which(tool)
    if found:
        return found
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (folder / tool).is_file():
            return str(folder / tool)
    return None


@pytest.fixture(scope="session")
def postgres_url():
    """A PostgreSQL server (database ``mlflow``, trust auth on 127.0.0.1) for the session; yields its SQLAlchemy
    URL (driver psycopg 3)."""
    initdb, postgres = _pg_bin("initdb"), _pg_bin("postgres")
    if not initdb or not postgres:
        _missing("PostgreSQL (initdb/postgres) is not installed")
    try:
        import psycopg
    except ImportError:
        _missing("the PostgreSQL driver psycopg 3 is not installed (pip install 'psycopg[binary]')")
    user = {}
    folder = Path(tempfile.mkdtemp(prefix="mobileiqa-pg-"))
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        nobody = pwd.getpwnam("nobody")
        os.chown(folder, nobody.pw_uid, nobody.pw_gid)
        user = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}
    env = {"PATH": os.environ.get("PATH", ""), "LANG": "C", "LC_ALL": "C"}
    data, log = folder / "data", folder / "postgres.log"
    r = subprocess.run([initdb, "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"],
                       capture_output=True, text=True, cwd=folder, env=env, **user)
    if r.returncode:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(f"initdb failed: {r.stderr[-2000:]}")
    port = _free_port()
    with open(log, "w") as fh:
        proc = subprocess.Popen([postgres, "-D", str(data), "-h", "127.0.0.1", "-p", str(port), "-k", str(folder),
                                 "-c", "fsync=off", "-c", "max_connections=100"],
                                stdout=fh, stderr=subprocess.STDOUT, cwd=folder, env=env, **user)

    def connect():
        return psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres", connect_timeout=2,
                               autocommit=True)

    wait_until(lambda: connect().close(), "PostgreSQL", proc, 60, log)
    with connect() as conn:
        conn.execute("CREATE DATABASE mlflow")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/mlflow"
    finally:
        stop(proc)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def mlflow_server(postgres_url, s3_server, tmp_path_factory):
    """``mlflow server`` (PostgreSQL backend store, S3 artifacts on the moto server, proxied artifact access) on
    127.0.0.1; yields its URL. Clients need no S3 credentials: the server holds them (from its environment)."""
    import boto3

    bucket = "mobileiqa-mlflow"
    boto3.client("s3", endpoint_url=s3_server).create_bucket(Bucket=bucket)
    exe = shutil.which("mlflow", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.fail("the mlflow command is missing from the venv: run scripts/setup.sh")
    port = _free_port()
    log = tmp_path_factory.mktemp("mlflow-server") / "server.log"
    env = {**os.environ, "MLFLOW_S3_ENDPOINT_URL": s3_server, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with open(log, "w") as fh:
        proc = subprocess.Popen([exe, "server", "--backend-store-uri", postgres_url, "--artifacts-destination",
                                 f"s3://{bucket}/artifacts", "--host", "127.0.0.1", "--port", str(port),
                                 "--workers", "1"], stdout=fh, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: urllib.request.urlopen(url + "/health", timeout=2), "mlflow server", proc, 120, log)
    try:
        yield url
    finally:
        stop(proc)


@pytest.fixture(scope="session")
def tiny_export(tmp_path_factory):
    """An export folder of the tiny student: model.onnx and model.ort (random weights), export.json."""
    from tests.tracking.helpers import make_export

    return make_export(tmp_path_factory.mktemp("export"), TINY_STUDENT)


@pytest.fixture(scope="session")
def sample_jpegs(tmp_path_factory) -> list[Path]:
    from tests.imagegen import make_photo

    folder = tmp_path_factory.mktemp("jpegs")
    paths = []
    for i in range(3):
        path = folder / f"photo_{i}.jpg"
        make_photo(i, 160 + 16 * i, 120).save(path, quality=90)
        paths.append(path)
    return paths


def write_stage_dirs(root: Path, *, srcc: float, plcc: float, split: str = "test", dataset: str = "d" * 64,
                     validation: bool = True) -> tuple[Path, Path]:
    """Evaluate and validate stage folders (metrics.json, summary.json) with the given figures."""
    eval_dir, val_dir = root / "eval", root / "validation"
    eval_dir.mkdir(parents=True, exist_ok=True)
    val_dir.mkdir(parents=True, exist_ok=True)
    model = {"srcc": srcc, "plcc": plcc, "krcc": srcc * 0.8, "ci95": {"srcc": [srcc - 0.05, srcc + 0.04]}}
    (eval_dir / "metrics.json").write_text(json.dumps({
        "split": split, "n": 24, "dataset_sha256": dataset, "model": model,
        "baselines": {"niqe": {"srcc": 0.41, "plcc": 0.39, "krcc": 0.3}}}))
    (val_dir / "summary.json").write_text(json.dumps({"success": validation, "rows": 24}))
    return eval_dir, val_dir
