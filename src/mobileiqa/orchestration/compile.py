"""Compile the pipeline of ``pipelines/mobileiqa_pipeline.py`` to its committed YAML files, one per compute
profile (``cpu``: ``pipelines/mobileiqa_pipeline.yaml``; ``paper``: ``pipelines/mobileiqa_pipeline_paper.yaml``,
GPU training steps), and tell whether a committed file is stale (CI fails then: run ``mobileiqa kfp compile``).

The pipeline and its components live at the project root (``pipelines/``, ``components/``), outside the package,
so they are imported with the project root on ``sys.path``. The profile and the component image are compile-time
choices: they reach the modules through ``MOBILEIQA_KFP_PROFILE`` / ``MOBILEIQA_KFP_IMAGE``, set for one fresh
import (cached imports of those modules are dropped first), so ``--image REGISTRY/NAME:TAG`` needs no source edit.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import os
import sys
import tempfile
from pathlib import Path

from mobileiqa.atomic import write_text

PIPELINE_MODULE = "pipelines.mobileiqa_pipeline"
PIPELINE_FUNC = "mobileiqa_pipeline"
PROFILES = ("cpu", "paper")
COMPILED = {"cpu": Path("pipelines") / "mobileiqa_pipeline.yaml",
            "paper": Path("pipelines") / "mobileiqa_pipeline_paper.yaml"}


def _check_root(root: Path) -> Path:
    root = root.resolve()
    if not (root / "pipelines" / "mobileiqa_pipeline.py").is_file() or not (root / "components").is_dir():
        raise FileNotFoundError(f"{root} is not the mobileiqa project root (pipelines/mobileiqa_pipeline.py and "
                                "components/ not found): run from the project root or pass --root")
    return root


@contextlib.contextmanager
def _on_path(root: Path, profile: str = "cpu", image: str | None = None):
    """``root`` on ``sys.path`` and the compile-time choices in the environment, with fresh imports of the
    pipeline and component modules (they read both when imported)."""
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
    saved = {k: os.environ.get(k) for k in ("MOBILEIQA_KFP_PROFILE", "MOBILEIQA_KFP_IMAGE")}
    os.environ["MOBILEIQA_KFP_PROFILE"] = profile
    if image:
        os.environ["MOBILEIQA_KFP_IMAGE"] = image
    else:
        os.environ.pop("MOBILEIQA_KFP_IMAGE", None)
    for name in [m for m in sys.modules if m.split(".")[0] in ("pipelines", "components")]:
        del sys.modules[name]
    sys.path.insert(0, str(root))
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(str(root))
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def load_pipeline(root: str | os.PathLike = ".", profile: str = "cpu", image: str | None = None):
    """The ``@dsl.pipeline`` function of the project at ``root``, for ``profile`` and the component ``image``
    (default: ``components.DEFAULT_IMAGE``)."""
    root = _check_root(Path(root))
    with _on_path(root, profile, image):
        module = importlib.import_module(PIPELINE_MODULE)
    if not str(Path(module.__file__).resolve()).startswith(str(root)):
        raise ImportError(f"{PIPELINE_MODULE} was imported from {module.__file__}, not from {root}")
    return getattr(module, PIPELINE_FUNC)


def compiled_text(root: str | os.PathLike = ".", profile: str = "cpu", image: str | None = None) -> str:
    """The pipeline compiled to IR YAML, as text."""
    from kfp import compiler

    pipeline = load_pipeline(root, profile, image)
    with tempfile.TemporaryDirectory(prefix="mobileiqa-kfp-") as tmp:
        out = Path(tmp) / "pipeline.yaml"
        compiler.Compiler().compile(pipeline, str(out))
        return out.read_text()


def compile_pipeline(out: str | os.PathLike | None = None, root: str | os.PathLike = ".", profile: str = "cpu",
                     image: str | None = None) -> Path:
    """Write the compiled pipeline to ``out`` (default: the profile's committed file under ``pipelines/``)."""
    out = Path(out) if out is not None else Path(root) / COMPILED[profile]
    return write_text(out, compiled_text(root, profile, image))


def stale_diff(root: str | os.PathLike = ".", compiled: str | os.PathLike | None = None, profile: str = "cpu") -> str:
    """A unified diff from a committed YAML (default: the profile's) to a fresh compile with the default image;
    empty when the committed file is current."""
    path = Path(compiled) if compiled is not None else Path(root) / COMPILED[profile]
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run `mobileiqa kfp compile` and commit it")
    fresh = compiled_text(root, profile)
    return "".join(difflib.unified_diff(path.read_text().splitlines(True), fresh.splitlines(True),
                                        str(path), "compiled now"))
