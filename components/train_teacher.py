"""train_teacher: train the teacher on the prepared dataset (a GPU node on the cluster)."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from components import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def train_teacher(params_yaml: str, overlay_yaml: str, overrides: list, dataset: Input[Dataset],
                  teacher: Output[Model], metrics: Output[Metrics]):
    """``teacher`` is the stage's output folder (model.pt, metrics.json, training_curves.png)."""
    from mobileiqa.orchestration.artifacts import log_metrics
    from mobileiqa.orchestration.params_text import load_params_text
    from mobileiqa.stages.train_teacher import run_train_teacher

    params = load_params_text(params_yaml, overlay_yaml, overrides)
    result = run_train_teacher(params, dataset.path, teacher.path)
    teacher.metadata["model"] = params.models.teacher
    log_metrics(metrics, result)
