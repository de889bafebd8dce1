"""Kubeflow Pipelines v2 components of mobileiqa, one file per stage (prepare → validate → train_teacher →
distill_student → evaluate → export → register). Each is a lightweight Python component that runs in the image
built from infra/Dockerfile and calls the same library function as the DVC stage and the CLI; params arrive as
the text of params.yaml plus overlay text and ``key=value`` overrides (mobileiqa.orchestration.params_text)."""

from mobileiqa import __version__

# the component image (infra/Dockerfile), tagged with the package version; kfp comes with requirements/lock.txt
IMAGE = f"ghcr.io/mobileiqa/mobileiqa:{__version__}"
