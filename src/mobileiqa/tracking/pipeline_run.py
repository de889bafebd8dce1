"""One MLflow story per pipeline execution: every stage's run carries the tag ``pipeline_run`` and is a child of
one parent run ``pipeline <key>``, so the MLflow UI shows an execution's stages grouped under one row.

The key is a hash of what defines the execution — the git commit (``+dirty`` when tracked files differ), every
params section except ``tracking`` (where runs go never changes what is computed), and the version of the raw data
(:func:`data_version`) — so the stages of one ``dvc repro`` (separate processes, no shared state) compute the same
key without talking to each other. ``$MOBILEIQA_PIPELINE_RUN`` overrides it (a Kubeflow run id, a CI job id).
A stage that DVC skips keeps its run in the execution that computed it: after ``dvc exp run -S evaluate.n_boot=100``
the new group holds ``evaluate`` and ``register`` only.

The parent is looked up by its tag and created by the first stage that needs it; two stages starting at the same
instant on a new key (parallel Kubeflow steps) may each create one — both then carry the same ``pipeline_run``
tag, which stays the reliable filter: ``tags.pipeline_run = '<key>'``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import yaml

PIPELINE_RUN_TAG = "pipeline_run"
PIPELINE_ENV = "MOBILEIQA_PIPELINE_RUN"
#: tag marking the parent run of an execution (its children carry ``mlflow.parentRunId``)
PARENT_TAG = "mobileiqa.pipeline_parent"
KEY_LENGTH = 12
#: the DVC file that versions the raw photos of the default dataset
DATA_DVC = "data.dvc"


def data_version(root: str | os.PathLike = ".") -> str:
    """The raw data's version: the md5 DVC recorded in ``root/data.dvc`` (``"unversioned"`` without one)."""
    path = Path(root) / DATA_DVC
    if not path.is_file():
        return "unversioned"
    try:
        outs = yaml.safe_load(path.read_text()).get("outs") or []
        return str(outs[0].get("md5") or outs[0].get("hash") or "unversioned")
    except (yaml.YAMLError, AttributeError, IndexError, KeyError):
        return "unversioned"


def pipeline_run_key(flat_params: dict, source: str, data: str) -> str:
    """The execution's key: a hash of the source state, the params (``tracking.*`` dropped) and the data version;
    ``$MOBILEIQA_PIPELINE_RUN`` when set."""
    if os.environ.get(PIPELINE_ENV):
        return os.environ[PIPELINE_ENV]
    kept = {k: v for k, v in flat_params.items() if not k.startswith("tracking.")}
    text = json.dumps({"source": source, "params": kept, "data": data}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:KEY_LENGTH]


def parent_run_id(client, experiment_id: str, key: str, tags: dict[str, str]) -> str:
    """The id of the execution's parent run, created (finished, with ``tags``) when none exists yet."""
    found = client.search_runs([experiment_id], f"tags.`{PIPELINE_RUN_TAG}` = '{key}' and tags.`{PARENT_TAG}` = 'true'",
                               max_results=1, order_by=["attributes.start_time ASC"])
    if found:
        return found[0].info.run_id
    run = client.create_run(experiment_id, run_name=f"pipeline {key}",
                            tags={**tags, PIPELINE_RUN_TAG: key, PARENT_TAG: "true"})
    client.set_terminated(run.info.run_id, "FINISHED")
    return run.info.run_id
