"""Kubeflow Pipelines v2 components of mobileiqa, one file per stage (prepare → validate → train_teacher →
distill_student → evaluate → export → register). Each is a lightweight Python component that runs in the image
built from infra/Dockerfile and calls the same library function as the DVC stage and the CLI; params arrive as
the text of params.yaml plus overlay text and ``key=value`` overrides (mobileiqa.orchestration.params_text)."""

import os

from mobileiqa import __version__

#: the default component image (infra/Dockerfile), tagged with the package version
DEFAULT_IMAGE = f"ghcr.io/mobileiqa/mobileiqa:{__version__}"
#: the image the components run in: `mobileiqa kfp compile --image REGISTRY/NAME:TAG` sets it for one compile
#: (through this variable; the components are decorated when imported), no source edit needed
IMAGE = os.environ.get("MOBILEIQA_KFP_IMAGE") or DEFAULT_IMAGE
