"""The pipeline's first step on a cluster: bring the raw inputs (the reference photos, or a real dataset folder)
into the pod, from one of three sources given as the ``data_source`` pipeline parameter:

    dvc              ``dvc pull`` of ``data.dvc`` from the DVC remote (``DVC_REMOTE_URL``, else the remote of the
                     project's ``.dvc/config``), endpoint ``AWS_ENDPOINT_URL`` for S3-compatible stores
    s3://bucket/pfx  every object under the prefix (boto3; endpoint ``AWS_ENDPOINT_URL``, keys ``AWS_*``)
    /a/local/folder  used as it is (local runs with ``kfp.local``, or a volume mounted into the pod)

:func:`apply_inputs` then points the prepare stage at the folder: the photos of ``data.source=default``, or
``data.root`` of a real dataset.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from tqdm import tqdm

from mobileiqa.config import Params

DVC_FILE = "data.dvc"


def fetch_inputs(source: str, dest: str | os.PathLike, repo_dir: str | os.PathLike = ".") -> Path:
    """Bring the inputs named by ``source`` into ``dest`` (or use a local folder as is); returns the folder."""
    source = (source or "").strip()
    if source == "dvc":
        return dvc_pull(repo_dir, dest, os.environ.get("DVC_REMOTE_URL") or None,
                        os.environ.get("AWS_ENDPOINT_URL") or None)
    if source.startswith("s3://"):
        return s3_download(source, dest)
    if source and Path(source).is_dir():
        return Path(source)
    raise ValueError(f"data_source {source!r}: expected 'dvc', an s3://bucket/prefix, or an existing local folder")


def apply_inputs(params: Params, folder: str | os.PathLike) -> tuple[Params, str | None]:
    """``(params, photos_dir)`` for :func:`mobileiqa.data.prepare.prepare`: the fetched folder is the photos folder
    of the default dataset, or replaces ``data.root`` for a real dataset."""
    if params.data.source == "default":
        return params, str(folder)
    data = dataclasses.replace(params.data, root=str(folder))
    return dataclasses.replace(params, data=data), None


def _dvc_config(repo_dir: Path, remote_url: str | None, endpoint_url: str | None) -> str:
    if remote_url is None:
        config = repo_dir / ".dvc" / "config"
        text = config.read_text() if config.is_file() else ""
        if "remote" not in text:
            raise ValueError(f"data_source=dvc: no DVC remote: set DVC_REMOTE_URL (e.g. s3://bucket/prefix) or add a "
                             f"default remote to {config}")
        return text
    lines = ["[core]", "    remote = pipeline", "    analytics = false", "['remote \"pipeline\"']",
             f"    url = {remote_url}"]
    if endpoint_url and remote_url.startswith("s3://"):
        lines.append(f"    endpointurl = {endpoint_url}")
    return "\n".join(lines) + "\n"


def dvc_pull(repo_dir: str | os.PathLike, dest: str | os.PathLike, remote_url: str | None = None,
             endpoint_url: str | None = None) -> Path:
    """``dvc pull data.dvc`` into a scratch DVC project in ``dest`` (the project itself is never modified)."""
    repo_dir, dest = Path(repo_dir), Path(dest)
    pointer = repo_dir / DVC_FILE
    if not pointer.is_file():
        raise FileNotFoundError(f"{pointer} not found: data_source=dvc needs the project's {DVC_FILE} (the component "
                                "image has it in its working directory)")
    outs = (yaml.safe_load(pointer.read_text()) or {}).get("outs") or []
    if len(outs) != 1 or "path" not in outs[0]:
        raise ValueError(f"{pointer}: expected exactly one output with a path")
    (dest / ".dvc").mkdir(parents=True, exist_ok=True)
    (dest / ".dvc" / "config").write_text(_dvc_config(repo_dir, remote_url, endpoint_url))
    (dest / ".dvc" / "config.local").write_text("[core]\n    no_scm = true\n")
    shutil.copyfile(pointer, dest / DVC_FILE)
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    proc = subprocess.run([sys.executable, "-m", "dvc", "pull", DVC_FILE], cwd=dest, env=env, capture_output=True,
                          text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"dvc pull {DVC_FILE} from {remote_url or 'the project remote'} failed (check the remote "
                           f"URL, AWS_ENDPOINT_URL and the AWS_* keys):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return dest / outs[0]["path"]


def s3_download(uri: str, dest: str | os.PathLike) -> Path:
    """Download every object under ``s3://bucket/prefix`` into ``dest`` (keys relative to the prefix)."""
    import boto3
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    if not bucket:
        raise ValueError(f"data_source {uri!r}: expected s3://bucket/prefix")
    prefix = prefix.rstrip("/") + "/" if prefix else ""
    client = boto3.client("s3")  # endpoint from AWS_ENDPOINT_URL, keys from AWS_* (Kubernetes secret)
    keys = [obj["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for obj in page.get("Contents", []) if not obj["Key"].endswith("/")]
    if not keys:
        raise FileNotFoundError(f"data_source {uri!r}: no objects under this prefix")
    dest = Path(dest)
    for key in tqdm(keys, desc=f"download {uri}", unit="file"):
        target = dest / key[len(prefix):]
        if ".." in Path(key[len(prefix):]).parts:
            raise ValueError(f"{uri}: object key {key!r} escapes the download folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.part")
        client.download_file(bucket, key, str(tmp))
        os.replace(tmp, target)
    return dest
