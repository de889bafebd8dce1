"""export: the student to ONNX / ORT files with embedded metadata and a parity check."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from components import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def export(params_yaml: str, overlay_yaml: str, overrides: list, dataset: Input[Dataset], student: Input[Model],
           exported: Output[Model], metrics: Output[Metrics]):
    """``exported`` is the export stage's folder (model files and export.json)."""
    from mobileiqa.orchestration.artifacts import log_metrics, model_file
    from mobileiqa.orchestration.params_text import load_params_text
    from mobileiqa.stages.export import run_export

    params = load_params_text(params_yaml, overlay_yaml, overrides)
    result = run_export(params, model_file(student.path), dataset.path, exported.path)
    log_metrics(metrics, result)
