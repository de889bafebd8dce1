"""validate: the data validation gate on the prepared dataset (fails the run when the data is bad)."""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Metrics, Output

from components import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def validate(params_yaml: str, overlay_yaml: str, overrides: list, dataset: Input[Dataset],
             validation: Output[Artifact], metrics: Output[Metrics]):
    """Run the gate; ``validation`` holds report.html and summary.json."""
    from mobileiqa.orchestration.artifacts import log_metrics
    from mobileiqa.orchestration.params_text import load_params_text
    from mobileiqa.stages.validate import run_validate

    params = load_params_text(params_yaml, overlay_yaml, overrides)
    summary = run_validate(params, dataset.path, validation.path)
    log_metrics(metrics, summary)
