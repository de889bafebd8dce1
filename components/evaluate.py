"""evaluate: score the student and teacher (and the classic baselines) on the evaluated split."""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output

from components import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def evaluate(params_yaml: str, overlay_yaml: str, overrides: list, dataset: Input[Dataset], teacher: Input[Model],
             student: Input[Model], evaluation: Output[Artifact], metrics: Output[Metrics]):
    """``evaluation`` holds metrics.json, predictions.csv, report.md and plots/."""
    from mobileiqa.orchestration.artifacts import log_metrics, model_file
    from mobileiqa.orchestration.params_text import load_params_text
    from mobileiqa.stages.evaluate import run_evaluate

    params = load_params_text(params_yaml, overlay_yaml, overrides)
    result = run_evaluate(params, dataset.path, model_file(student.path), evaluation.path,
                          teacher_path=model_file(teacher.path))
    log_metrics(metrics, result["model"], prefix="student_")
    log_metrics(metrics, result.get("teacher"), prefix="teacher_")
