"""distill_student: distil the student from the trained teacher (a GPU node on the cluster)."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from components import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def distill_student(params_yaml: str, overlay_yaml: str, overrides: list, dataset: Input[Dataset],
                    teacher: Input[Model], student: Output[Model], metrics: Output[Metrics]):
    """``student`` is the stage's output folder (model.pt, metrics.json, training_curves.png)."""
    from mobileiqa.orchestration.artifacts import log_metrics, model_file
    from mobileiqa.orchestration.params_text import load_params_text
    from mobileiqa.stages.distill_student import run_distill_student

    params = load_params_text(params_yaml, overlay_yaml, overrides)
    result = run_distill_student(params, dataset.path, model_file(teacher.path), student.path)
    student.metadata["model"] = params.models.student
    log_metrics(metrics, result)
