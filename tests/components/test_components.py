"""Each component is a thin caller of the same stage function as its DVC stage / CLI command
(``mobileiqa.stages.<name>.run_<name>``), runs in the project image without installing anything, and declares typed
artifacts and an Output[Metrics]."""

from __future__ import annotations

import importlib

import pytest

from mobileiqa import __version__

# component module -> (library call its body makes, input artifacts, output artifacts)
COMPONENTS = {
    "prepare": ("run_prepare(params", set(), {"dataset", "metrics"}),
    "validate": ("run_validate(params", {"dataset"}, {"validation", "metrics"}),
    "train_teacher": ("run_train_teacher(", {"dataset"}, {"teacher", "metrics"}),
    "distill_student": ("run_distill_student(", {"dataset", "teacher"}, {"student", "metrics"}),
    "evaluate": ("run_evaluate(", {"dataset", "teacher", "student"}, {"evaluation", "metrics"}),
    "export": ("run_export(", {"dataset", "student"}, {"exported", "metrics"}),
    "register": ("run_register(", {"evaluation", "exported", "validation"}, {"registration", "metrics"}),
}


@pytest.mark.parametrize("name", sorted(COMPONENTS))
def test_component_contract(name):
    call, inputs, outputs = COMPONENTS[name]
    component = getattr(importlib.import_module(f"components.{name}"), name)
    spec = component.component_spec
    container = spec.implementation.container
    assert container.image == f"ghcr.io/mobileiqa/mobileiqa:{__version__}"
    program = " ".join(container.command)
    assert "pip install" not in program  # kfp and the package come with the image
    assert call in program and "load_params_text(params_yaml, overlay_yaml, overrides)" in program
    assert f"from mobileiqa.stages.{name} import run_{name}" in program
    assert {"params_yaml", "overlay_yaml", "overrides"} <= set(spec.inputs)
    artifact_inputs = {k for k, v in spec.inputs.items() if v.type not in ("String", "List")}
    assert artifact_inputs == inputs
    assert set(spec.outputs) == outputs
    assert spec.outputs["metrics"].type == "system.Metrics@0.0.1"
    body = [line for line in program.split(f"def {name}(", 1)[1].splitlines() if line.strip()]
    assert len(body) < 40, f"{name}: component bodies stay thin (logic belongs in mobileiqa)"
