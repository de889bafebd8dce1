"""Submit the compiled pipeline to a Kubeflow Pipelines API (``kfp.Client``, REST ``/apis/v2beta1``): one run with
params.yaml (+ overlays, overrides) as its parameters, or an upload of the package as a named pipeline.

Authentication: ``KFP_TOKEN`` (a bearer token, e.g. a service-account token) when set; kfp's own settings
(``KF_PIPELINES_*`` environment variables, ``~/.config/kfp/context.json``) otherwise.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import urllib3

from mobileiqa.orchestration.params_text import load_params_text

DEFAULT_EXPERIMENT = "mobileiqa"


def _client(host: str, namespace: str | None):
    import kfp

    if not host.startswith(("http://", "https://")):
        raise ValueError(f"--host {host!r}: expected the KFP API URL, e.g. http://localhost:8080")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # "only works with KFP v2.0.0-beta.2 and later"
        return kfp.Client(host=host.rstrip("/"), namespace=namespace or "kubeflow",
                          existing_token=os.environ.get("KFP_TOKEN") or None)


def _package(package: str | os.PathLike) -> str:
    if not Path(package).is_file():
        raise FileNotFoundError(f"{package} not found: run `mobileiqa kfp compile` first")
    return str(package)


@contextlib.contextmanager
def _api_errors(host: str) -> Iterator[None]:
    """KFP API and connection failures as a RuntimeError naming the host (the CLI prints it)."""
    import kfp_server_api

    try:
        yield
    except kfp_server_api.ApiException as exc:
        raise RuntimeError(f"KFP API at {host} answered {exc.status} {exc.reason}: {str(exc.body)[:500]}") from None
    except urllib3.exceptions.HTTPError as exc:
        raise RuntimeError(f"KFP API at {host} unreachable ({exc}); check --host and the port-forward") from None


def run_arguments(params_yaml: str, overlay_yaml: str = "", overrides: Sequence[str] = (),
                  data_source: str = "dvc") -> dict:
    """The pipeline parameters of one run; params are validated here so that a bad file fails before submission."""
    load_params_text(params_yaml, overlay_yaml, overrides)
    return {"params_yaml": params_yaml, "overlay_yaml": overlay_yaml, "overrides": list(overrides),
            "data_source": data_source}


def submit(host: str, package: str | os.PathLike, arguments: dict, run_name: str | None = None,
           experiment: str = DEFAULT_EXPERIMENT, namespace: str | None = None, enable_caching: bool | None = None
           ) -> dict:
    """Create a run of ``package`` on the KFP API at ``host``; returns ``{run_id, run_name, experiment, url}``."""
    package = _package(package)
    with _api_errors(host):
        client = _client(host, namespace)
        result = client.create_run_from_pipeline_package(package, arguments=arguments, run_name=run_name,
                                                         experiment_name=experiment, namespace=namespace,
                                                         enable_caching=enable_caching)
    return {"run_id": result.run_id, "run_name": run_name, "experiment": experiment,
            "url": f"{host.rstrip('/')}/#/runs/details/{result.run_id}"}


def upload(host: str, package: str | os.PathLike, name: str, description: str | None = None,
           namespace: str | None = None) -> dict:
    """Upload ``package`` as pipeline ``name`` (for runs started from the KFP UI); returns ``{pipeline_id, name}``."""
    package = _package(package)
    with _api_errors(host):
        client = _client(host, namespace)
        pipeline = client.upload_pipeline(package, pipeline_name=name, description=description, namespace=namespace)
    return {"pipeline_id": pipeline.pipeline_id, "name": name}
