"""Params from text: Kubeflow components receive ``params.yaml`` and the overlay as strings (pipeline parameters),
not as files; this turns them into the same typed :class:`mobileiqa.config.Params` that ``load_params`` builds.

``overlay_yaml`` may hold several YAML documents (separated by ``---``); each is deep-merged in order, like
repeated ``--overlay`` files. ``overrides`` are ``section.key=value`` strings, like ``--set``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import yaml

from mobileiqa.config import ConfigError, Params, load_params

PARAMS_LABEL = "pipeline parameter params_yaml"
OVERLAY_LABEL = "pipeline parameter overlay_yaml"


def overlay_documents(overlay_yaml: str) -> list[str]:
    """Split ``overlay_yaml`` into its non-empty YAML documents (each one overlay)."""
    try:
        docs = [d for d in yaml.safe_load_all(overlay_yaml or "") if d is not None]
    except yaml.YAMLError as exc:
        raise ConfigError(f"{OVERLAY_LABEL}: not valid YAML ({exc})") from None
    return [yaml.safe_dump(d, sort_keys=False) for d in docs]


def load_params_text(params_yaml: str, overlay_yaml: str = "", overrides: Sequence[str] = ()) -> Params:
    """Build :class:`Params` from the text of ``params.yaml``, overlay text and ``key=value`` overrides.

    Errors are :class:`ConfigError` naming the pipeline parameter and dotted key at fault."""
    if not params_yaml or not params_yaml.strip():
        raise ConfigError(f"{PARAMS_LABEL} is empty: pass the text of params.yaml (`mobileiqa kfp submit` does)")
    overlays = overlay_documents(overlay_yaml)
    with tempfile.TemporaryDirectory(prefix="mobileiqa-params-") as tmp:
        base = Path(tmp) / "params.yaml"
        base.write_text(params_yaml)
        files = []
        for i, doc in enumerate(overlays):
            files.append(Path(tmp) / f"overlay_{i}.yaml")
            files[-1].write_text(doc)
        try:
            return load_params(base, files, list(overrides))
        except ConfigError as exc:
            # keys are checked after merging, so a bad key may come from either text
            label = PARAMS_LABEL if not files else "pipeline parameters params_yaml + overlay_yaml"
            message = str(exc).replace(str(base), label)
            for i, f in enumerate(files):
                message = message.replace(str(f), f"{OVERLAY_LABEL} (document {i + 1})")
            raise ConfigError(message) from None


def read_texts(params: str, overlays: Sequence[str] = ()) -> tuple[str, str]:
    """Read a params file and overlay files into the two pipeline parameters (overlays joined as documents)."""
    params_yaml = Path(params).read_text()
    overlay_yaml = "".join(f"---\n{Path(o).read_text()}" for o in overlays)
    return params_yaml, overlay_yaml
