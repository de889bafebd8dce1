"""Compile the pipeline of ``pipelines/mobileiqa_pipeline.py`` to its committed YAML, and tell whether the
committed file is stale (CI fails then: run ``mobileiqa kfp compile``).

The pipeline and its components live at the project root (``pipelines/``, ``components/``), outside the package,
so they are imported with the project root on ``sys.path``.
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
COMPILED = Path("pipelines") / "mobileiqa_pipeline.yaml"


def _check_root(root: Path) -> Path:
    root = root.resolve()
    if not (root / "pipelines" / "mobileiqa_pipeline.py").is_file() or not (root / "components").is_dir():
        raise FileNotFoundError(f"{root} is not the mobileiqa project root (pipelines/mobileiqa_pipeline.py and "
                                "components/ not found): run from the project root or pass --root")
    return root


@contextlib.contextmanager
def _on_path(root: Path):
    sys.path.insert(0, str(root))
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(str(root))


def load_pipeline(root: str | os.PathLike = "."):
    """The ``@dsl.pipeline`` function of the project at ``root``."""
    root = _check_root(Path(root))
    with _on_path(root):
        module = importlib.import_module(PIPELINE_MODULE)
    if not str(Path(module.__file__).resolve()).startswith(str(root)):
        raise ImportError(f"{PIPELINE_MODULE} was imported from {module.__file__}, not from {root}")
    return getattr(module, PIPELINE_FUNC)


def compiled_text(root: str | os.PathLike = ".") -> str:
    """The pipeline compiled to IR YAML, as text."""
    from kfp import compiler

    pipeline = load_pipeline(root)
    with tempfile.TemporaryDirectory(prefix="mobileiqa-kfp-") as tmp:
        out = Path(tmp) / "pipeline.yaml"
        compiler.Compiler().compile(pipeline, str(out))
        return out.read_text()


def compile_pipeline(out: str | os.PathLike | None = None, root: str | os.PathLike = ".") -> Path:
    """Write the compiled pipeline to ``out`` (default: the committed ``pipelines/mobileiqa_pipeline.yaml``)."""
    out = Path(out) if out is not None else Path(root) / COMPILED
    return write_text(out, compiled_text(root))


def stale_diff(root: str | os.PathLike = ".", compiled: str | os.PathLike | None = None) -> str:
    """A unified diff from the committed YAML to a fresh compile; empty when the committed file is current."""
    path = Path(compiled) if compiled is not None else Path(root) / COMPILED
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run `mobileiqa kfp compile` and commit it")
    fresh = compiled_text(root)
    return "".join(difflib.unified_diff(path.read_text().splitlines(True), fresh.splitlines(True),
                                        str(path), "compiled now"))
