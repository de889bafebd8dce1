"""register: a new version of the registered model in MLflow (alias @challenger), with its model card."""

from kfp import dsl
from kfp.dsl import Artifact, Input, Metrics, Model, Output

from components import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def register(params_yaml: str, overlay_yaml: str, overrides: list, evaluation: Input[Artifact],
             exported: Input[Model], validation: Input[Artifact], registration: Output[Artifact],
             metrics: Output[Metrics]):
    """``registration`` is a JSON file: name, version, run_id, model_uri, alias."""
    from mobileiqa.atomic import write_json
    from mobileiqa.orchestration.artifacts import log_metrics
    from mobileiqa.orchestration.params_text import load_params_text
    from mobileiqa.stages.register import run_register

    params = load_params_text(params_yaml, overlay_yaml, overrides)
    info = run_register(params, evaluation.path, exported.path, validation.path)
    write_json(registration.path, info)
    registration.metadata.update({k: str(v) for k, v in info.items()})
    log_metrics(metrics, {"version": int(info["version"])})
