"""DVC sees the real code dependencies: each stage of dvc.yaml lists (as a file or a folder above it) every
project module its stage module ``mobileiqa.stages.<stage>`` imports, directly or through others, at module level
or inside a function. The CLI command in ``cmd`` is a thin caller of that module and is not a dependency."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest
import yaml

from tests.architecture.imports import SRC, closure, imports, modules

ROOT = SRC.parent
STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def _is_docstring_only(path: Path) -> bool:
    body = ast.parse(path.read_text()).body
    return all(isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) for n in body)


@functools.cache
def _edges():
    return imports()


def needed_files(stage: str) -> set[str]:
    """Repository paths of the modules ``mobileiqa.stages.<stage>`` runs (docstring-only packages left out)."""
    known = modules()
    return {known[m].relative_to(ROOT).as_posix() for m in closure(f"mobileiqa.stages.{stage}", _edges())
            if m in known and not (known[m].name == "__init__.py" and _is_docstring_only(known[m]))}


def uncovered(files: set[str], deps: list[str]) -> list[str]:
    return sorted(f for f in files if not any(f == d or f.startswith(d.rstrip("/") + "/") for d in deps))


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_stage_deps_cover_its_imports(stage):
    assert (SRC / "mobileiqa" / "stages" / f"{stage}.py").is_file(), f"dvc stage {stage} has no stage module"
    deps = [d for d in STAGES[stage].get("deps", []) if isinstance(d, str)]
    missing = uncovered(needed_files(stage), deps)
    assert missing == [], f"dvc.yaml stage {stage!r} misses code it imports; add to its deps: {missing}"


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_stage_code_deps_exist(stage):
    code = [d for d in STAGES[stage].get("deps", []) if isinstance(d, str) and d.startswith("src/")]
    assert [d for d in code if not (ROOT / d).exists()] == []


def test_a_missing_dep_is_found():
    files = needed_files("evaluate")
    assert "src/mobileiqa/preprocess.py" in files and "src/mobileiqa/stages/evaluate.py" in files
    assert uncovered(files, ["src/mobileiqa/stages", "src/mobileiqa/eval"]) != []
    assert uncovered({"src/mobileiqa/eval/plots.py"}, ["src/mobileiqa/eval"]) == []
    assert uncovered({"src/mobileiqa/evaluate.py"}, ["src/mobileiqa/eval"]) == ["src/mobileiqa/evaluate.py"]
