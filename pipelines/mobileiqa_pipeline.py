"""The mobileiqa Kubeflow Pipelines v2 pipeline: the DVC DAG prepare → validate → train_teacher → distill_student →
evaluate → export → register, on a cluster.

Cluster settings live here: caching (off for register, which has a side effect), retries for transient failures,
S3/MLflow credentials from the Kubernetes secrets ``mobileiqa-s3`` / ``mobileiqa-mlflow`` and endpoints from the
ConfigMap ``mobileiqa-pipeline`` (infra/k8s), and the compute profile's resources: ``cpu`` (the default profile:
CPU and memory requests only) or ``paper`` (one GPU, a GPU node selector and toleration on the two training
steps). The profile is chosen at compile time (``MOBILEIQA_KFP_PROFILE``, set by ``mobileiqa kfp compile
--profile``), like the image (``MOBILEIQA_KFP_IMAGE``, ``--image``). Compile with ``mobileiqa kfp compile``
(writes pipelines/mobileiqa_pipeline.yaml and pipelines/mobileiqa_pipeline_paper.yaml, both committed; a test
fails when one is stale), submit with ``mobileiqa kfp submit --host URL``, run locally with ``mobileiqa kfp
run-local``. The DAG is dvc.yaml's, less ``models`` (a report of model sizes, not a pipeline product) and with
``baselines`` inside ``evaluate`` (docs/CLUSTER.md).
"""

import os

from components.distill_student import distill_student
from components.evaluate import evaluate
from components.export import export
from components.prepare import prepare
from components.register import register
from components.train_teacher import train_teacher
from components.validate import validate
from kfp import dsl, kubernetes

PIPELINE_NAME = "mobileiqa"
S3_SECRET = "mobileiqa-s3"
MLFLOW_SECRET = "mobileiqa-mlflow"
CONFIG_MAP = "mobileiqa-pipeline"
GPU_RESOURCE = "nvidia.com/gpu"
GPU_NODE_LABEL = ("nvidia.com/gpu.present", "true")  # set by NVIDIA's GPU feature discovery on GPU nodes
CONFIG_ENV = ("AWS_ENDPOINT_URL", "MLFLOW_S3_ENDPOINT_URL", "AWS_DEFAULT_REGION", "DVC_REMOTE_URL")
PROFILES = ("cpu", "paper")
PROFILE = os.environ.get("MOBILEIQA_KFP_PROFILE") or "cpu"
if PROFILE not in PROFILES:
    raise ValueError(f"MOBILEIQA_KFP_PROFILE must be one of {PROFILES}, got {PROFILE!r}")


def _cluster_settings(task: dsl.PipelineTask, retries: int = 2, cache: bool = True) -> dsl.PipelineTask:
    """Credentials, endpoints, caching and retries shared by every step."""
    kubernetes.use_secret_as_env(task, S3_SECRET, {"AWS_ACCESS_KEY_ID": "AWS_ACCESS_KEY_ID",
                                                   "AWS_SECRET_ACCESS_KEY": "AWS_SECRET_ACCESS_KEY"})
    kubernetes.use_secret_as_env(task, MLFLOW_SECRET, {"MLFLOW_TRACKING_URI": "MLFLOW_TRACKING_URI"})
    kubernetes.use_secret_as_env(task, MLFLOW_SECRET, {"MLFLOW_TRACKING_USERNAME": "MLFLOW_TRACKING_USERNAME",
                                                       "MLFLOW_TRACKING_PASSWORD": "MLFLOW_TRACKING_PASSWORD"},
                                 optional=True)  # only an authenticating MLflow server needs them
    kubernetes.use_config_map_as_env(task, CONFIG_MAP, {key: key for key in CONFIG_ENV}, optional=True)
    task.set_caching_options(cache)
    task.set_retry(num_retries=retries, backoff_duration="30s", backoff_factor=2.0, backoff_max_duration="600s")
    return task


def _training(task: dsl.PipelineTask) -> dsl.PipelineTask:
    """The training steps' resources: on the ``paper`` profile one GPU, a GPU node and its taint tolerated; on
    ``cpu`` CPU and memory only (any node)."""
    if PROFILE == "cpu":
        return task.set_cpu_request("2").set_memory_request("8G").set_memory_limit("16G")
    task.set_accelerator_type(GPU_RESOURCE).set_accelerator_limit(1)
    task.set_cpu_request("4").set_memory_request("16G").set_memory_limit("32G")
    kubernetes.add_node_selector(task, *GPU_NODE_LABEL)
    kubernetes.add_toleration(task, key=GPU_RESOURCE, operator="Exists", effect="NoSchedule")
    kubernetes.empty_dir_mount(task, volume_name="dshm", mount_path="/dev/shm", medium="Memory")
    return task


@dsl.pipeline(name=PIPELINE_NAME, description="MobileIQA: data → validation → teacher → distilled student → "
              "evaluation → mobile export → MLflow registry (alias @challenger)")
def mobileiqa_pipeline(params_yaml: str, overlay_yaml: str = "", overrides: list = [],  # noqa: B006 (KFP default)
                       data_source: str = "dvc"):
    """``params_yaml``: the text of params.yaml; ``overlay_yaml``: profile overlays (YAML documents, merged in
    order); ``overrides``: ``section.key=value`` strings; ``data_source``: ``dvc`` | ``s3://bucket/prefix`` | a
    local folder (see mobileiqa.orchestration.fetch)."""
    cfg = dict(params_yaml=params_yaml, overlay_yaml=overlay_yaml, overrides=overrides)
    data = _cluster_settings(prepare(data_source=data_source, **cfg).set_display_name("prepare"))
    data.set_cpu_request("2").set_memory_request("4G")
    dataset = data.outputs["dataset"]
    checked = _cluster_settings(validate(dataset=dataset, **cfg).set_display_name("validate"))
    teacher = _training(_cluster_settings(train_teacher(dataset=dataset, **cfg).set_display_name("train_teacher"),
                                        retries=1))
    teacher.after(checked)  # train only on data that passed the gate
    student = _training(_cluster_settings(distill_student(dataset=dataset, teacher=teacher.outputs["teacher"], **cfg)
                                        .set_display_name("distill_student"), retries=1))
    scored = _cluster_settings(evaluate(dataset=dataset, teacher=teacher.outputs["teacher"],
                                        student=student.outputs["student"], **cfg).set_display_name("evaluate"))
    shipped = _cluster_settings(export(dataset=dataset, student=student.outputs["student"], **cfg)
                                .set_display_name("export"))
    shipped.after(scored)
    _cluster_settings(register(evaluation=scored.outputs["evaluation"], exported=shipped.outputs["exported"],
                               validation=checked.outputs["validation"], **cfg).set_display_name("register"),
                      cache=False)
