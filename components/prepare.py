"""prepare: fetch the raw inputs onto the cluster (dvc pull, an S3 prefix or a local folder), build the dataset."""

from kfp import dsl
from kfp.dsl import Dataset, Metrics, Output

from components import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def prepare(params_yaml: str, overlay_yaml: str, overrides: list, data_source: str, dataset: Output[Dataset],
            metrics: Output[Metrics]):
    """Fetch ``data_source`` and run the prepare stage into the ``dataset`` folder."""
    import tempfile

    from mobileiqa.orchestration.artifacts import log_metrics
    from mobileiqa.orchestration.fetch import apply_inputs, fetch_inputs
    from mobileiqa.orchestration.params_text import load_params_text
    from mobileiqa.stages.prepare import run_prepare

    params = load_params_text(params_yaml, overlay_yaml, overrides)
    with tempfile.TemporaryDirectory(prefix="mobileiqa-inputs-") as tmp:
        params, photos_dir = apply_inputs(params, fetch_inputs(data_source, tmp))
        info = run_prepare(params, photos_dir, dataset.path)
    dataset.metadata.update(source=info["source"], manifest_sha256=info["manifest_sha256"])
    log_metrics(metrics, info)
