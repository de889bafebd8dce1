"""The import rule of docs/ARCHITECTURE.md, read from the source: commands → stages → config → domain → leaf
utilities, imports running downward only, no cycles, function-level imports only where a comment says why, and
reading params.yaml without torch."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.architecture.imports import SRC, cycles, imports, local_imports, modules

# Top to bottom. A module imports modules of its own layer or of the layers below it, never above.
LAYERS: dict[str, tuple[str, ...]] = {
    "commands": ("mobileiqa.cli", "mobileiqa.__main__", "mobileiqa.orchestration"),
    "stages": ("mobileiqa.stages", "mobileiqa.experiments"),
    "config": ("mobileiqa.config",),
    "domain": ("mobileiqa.data", "mobileiqa.models", "mobileiqa.train", "mobileiqa.eval", "mobileiqa.export",
               "mobileiqa.tracking", "mobileiqa.predict"),
    "leaf": ("mobileiqa.atomic", "mobileiqa.environment", "mobileiqa.explain_spec", "mobileiqa.preprocess",
             "mobileiqa.scale", "mobileiqa.schema"),
}
RANK = {layer: rank for rank, layer in enumerate(reversed(LAYERS))}
# Inside the domain, bottom up: a package imports only the packages before it.
DOMAIN_ORDER = ("mobileiqa.data", "mobileiqa.models", "mobileiqa.eval", "mobileiqa.train", "mobileiqa.export",
                "mobileiqa.predict", "mobileiqa.tracking")
FACE = "mobileiqa"  # the package itself: its version and the lazy ``mobileiqa.Predictor``
LAZY = "# lazy:"  # the comment a function-level project import carries, with its reason
# The heavy optional dependencies a function may import where it needs them, and why they stay out of module level.
HEAVY = {
    "torch": "the ONNX scoring path and the measurement child processes run without it",
    "timm": "backbones are built on demand",
    "mlflow": "tracking and the registry only when a run logs or a version is read",
    "onnx": "editing exported graphs only",
    "onnxruntime": "sessions only where a file is scored or quantised",
    "matplotlib": "plots only when drawn (a non-interactive backend is chosen first)",
    "kfp": "the Kubeflow SDK only for compile, submit and local runs",
    "kfp_server_api": "the Kubeflow API client only for submit",
    "great_expectations": "the validation gate only when it runs",
    "boto3": "the S3 client only when inputs come from S3",
    "cv2": "OpenCV only for the distortions and BRISQUE that use it",
    "piq": "the full-reference annotators only while the dataset is built",
    "openpyxl": "Excel labels only for the datasets that ship them",
}


def unit(module: str) -> str:
    """The layer entry a module belongs to (``mobileiqa.eval.metrics`` → ``mobileiqa.eval``)."""
    for entries in LAYERS.values():
        for entry in entries:
            if module == entry or module.startswith(entry + "."):
                return entry
    raise KeyError(module)


def layer(module: str) -> str:
    entry = unit(module)
    return next(name for name, entries in LAYERS.items() if entry in entries)


EDGES = [e for e in imports() if FACE not in (e.source, e.target)]


def test_every_module_has_a_layer():
    assert [m for m in modules() if m != FACE and not any(m == e or m.startswith(e + ".")
                                                          for es in LAYERS.values() for e in es)] == []


def test_imports_run_downward():
    upward = [f"{e.source}:{e.line} imports {e.target} ({layer(e.source)} -> {layer(e.target)})" for e in EDGES
              if RANK[layer(e.source)] < RANK[layer(e.target)]]
    assert upward == []


def test_domain_packages_import_neither_config_nor_stages_nor_commands():
    domain = set(LAYERS["domain"]) | set(LAYERS["leaf"])
    bad = [f"{e.source}:{e.line} -> {e.target}" for e in EDGES
           if unit(e.source) in domain and layer(e.target) in ("config", "stages", "commands")]
    assert bad == []


def test_domain_packages_import_only_those_below_them():
    assert sorted(DOMAIN_ORDER) == sorted(LAYERS["domain"])
    upward = [f"{e.source}:{e.line} -> {e.target}" for e in EDGES
              if unit(e.source) in DOMAIN_ORDER and unit(e.target) in DOMAIN_ORDER and unit(e.source) != unit(e.target)
              and DOMAIN_ORDER.index(unit(e.source)) < DOMAIN_ORDER.index(unit(e.target))]
    assert upward == []


def test_no_import_cycles():
    """Neither between modules nor between the packages of the domain layer (function-level imports count)."""
    by_module: dict[str, set[str]] = {}
    by_unit: dict[str, set[str]] = {}
    for e in EDGES:
        by_module.setdefault(e.source, set()).add(e.target)
        if unit(e.source) != unit(e.target):
            by_unit.setdefault(unit(e.source), set()).add(unit(e.target))
    assert cycles(by_module) == []
    assert cycles(by_unit) == []


def test_function_level_imports_say_why():
    """A project import inside a function is there for a heavy optional dependency (torch on a torch-free path,
    mlflow, kfp...) or to keep the CLI parser fast: its line says which, after ``# lazy:``."""
    silent = [f"{e.source}:{e.line} -> {e.target}" for e in EDGES if e.local and not e.comment.startswith(LAZY)]
    assert silent == []


def test_only_heavy_optional_dependencies_are_imported_inside_functions():
    """Everything else (the standard library, numpy, pandas, scipy, PIL, tqdm...) is imported at module level."""
    light = [f"{i.source}:{i.line} imports {i.module}" for i in local_imports()
             if i.module != "mobileiqa" and i.module not in HEAVY]
    assert light == []


def test_the_rule_sees_a_violation(tmp_path):
    """The checks above read real imports: an upward, unexplained function-level import is found."""
    pkg = tmp_path / "mobileiqa"
    (pkg / "data").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "config.py").write_text("X = 1\n")
    (pkg / "data" / "__init__.py").write_text("")
    (pkg / "data" / "build.py").write_text("def f():\n    import json\n"
                                           "    from mobileiqa.config import X\n    return X\n")
    assert [(i.source, i.module) for i in local_imports(tmp_path)] == [("mobileiqa.data.build", "json"),
                                                                       ("mobileiqa.data.build", "mobileiqa")]
    found = imports(tmp_path)
    assert [(e.source, e.target, e.local, e.comment) for e in found] == [
        ("mobileiqa.data.build", "mobileiqa.config", True, "")]
    assert layer(found[0].source) == "domain" and layer(found[0].target) == "config"


def test_reading_params_imports_no_torch():
    code = ("import os, sys; import mobileiqa.config as c; c.load_params('params.yaml', ['params/tiny.yaml']); "
            "heavy = [m for m in ('torch', 'timm', 'mlflow', 'kfp', 'onnxruntime') if m in sys.modules]; "
            "assert not heavy, heavy; assert 'HF_HUB_OFFLINE' not in os.environ")
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=SRC.parent, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.mark.parametrize("module", ["mobileiqa.cli", "mobileiqa.config"])
def test_light_entry_points_stay_light(module):
    """Building the CLI parser (every ``mobileiqa`` call) imports none of the heavy frameworks."""
    code = (f"import sys, {module}; heavy = [m for m in ('torch', 'mlflow', 'kfp', 'great_expectations') "
            "if m in sys.modules]; assert not heavy, heavy")
    proc = subprocess.run([sys.executable, "-c", code], cwd=SRC.parent, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
