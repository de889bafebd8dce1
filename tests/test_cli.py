"""The mobileiqa command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mobileiqa.cli import main
from mobileiqa.models import list_models
from mobileiqa.models.checkpoint import load_model
from tests.models.reference_oracle import OracleNet

ROOT = Path(__file__).resolve().parents[1]


def test_models_lists_every_registered_model(capsys):
    assert main(["models", "--width", "512", "--height", "384"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in list_models())
    assert "GMACs @512x384" in out


def test_models_with_params_writes_json(tmp_path, capsys):
    out = tmp_path / "summary.json"
    rc = main(["models", "--params", str(ROOT / "params.yaml"), "--overlay", str(ROOT / "params/tiny.yaml"),
               "--out", str(out)])
    assert rc == 0
    data = json.loads(out.read_text())
    assert [r["role"] for r in data["models"]] == ["teacher", "student"]
    assert data["resolution"] == {"height": 256, "width": 384}
    assert all(r["params_m"] > 0 and r["gmacs"] > 0 for r in data["models"])


def test_errors_name_the_cause_and_exit_2(tmp_path, capsys):
    assert main(["models", "--params", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml" in capsys.readouterr().err
    assert main(["models", "--params", str(ROOT / "params.yaml"), "--set", "models.student=nope"]) == 2
    assert "unknown model 'nope'" in capsys.readouterr().err


def test_convert_reference_refuses_a_non_reference_file(tmp_path, capsys):
    f = tmp_path / "x.pkl"
    torch.save({"foo.weight": torch.zeros(1)}, f)
    assert main(["convert-reference", str(f)]) == 2
    assert "global_vit" in capsys.readouterr().err


@pytest.mark.slow
def test_convert_reference_writes_a_loadable_checkpoint(tmp_path, capsys):
    oracle = OracleNet("student", backbone="mobilenetv3_large_100", pool=2, sigmoid=True)
    f = tmp_path / "student.pkl"
    torch.save(oracle.state_dict(), f)
    assert main(["convert-reference", str(f), "--out", str(tmp_path / "s.pt")]) == 0
    model, info = load_model(tmp_path / "s.pt")
    assert info["model"] == "mobileiqa_student_mobilenetv3_large_100"
    x = torch.rand(1, 3, 64, 80)
    with torch.no_grad():
        torch.testing.assert_close(model(x), oracle.eval()(x)[3], atol=1e-5, rtol=1e-5)



def _parsers():
    """Every (sub)command parser of ``mobileiqa``, by its command path."""
    import argparse

    from mobileiqa.cli import build_parser

    out, todo = {}, [("mobileiqa", build_parser())]
    while todo:
        name, parser = todo.pop()
        out[name] = parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                todo.extend((f"{name} {sub}", p) for sub, p in action.choices.items())
    return out


def test_version(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out.strip() == f"mobileiqa {version('mobileiqa')}"


def test_every_option_has_help_and_shows_its_default():
    parsers = _parsers()
    assert {"mobileiqa predict", "mobileiqa kfp compile", "mobileiqa benchmark ablation"} <= set(parsers)
    missing, no_default = [], []
    for name, parser in parsers.items():
        for action in parser._actions:
            if not action.option_strings or action.dest in ("help", "version"):
                continue
            if not action.help:
                missing.append(f"{name} {action.option_strings[0]}")
            shown = parser.formatter_class(prog=name)._get_help_string(action) or ""
            if action.default not in (None, False, [], ()) and "default" not in shown:
                no_default.append(f"{name} {action.option_strings[0]}")
    assert missing == [] and no_default == []


def test_overlays_and_overrides_are_honoured_or_rejected(capsys):
    assert main(["models", "--overlay", "params/tny.yaml"]) == 2  # no --params: rejected, not ignored
    assert "--overlay params/tny.yaml need(s) a params file" in capsys.readouterr().err
    assert main(["models", "--params", str(ROOT / "params.yaml"), "--overlay", "params/tny.yaml"]) == 2
    assert "params file not found: params/tny.yaml" in capsys.readouterr().err
    assert main(["models", "--params", str(ROOT / "params.yaml"), "--set", "models.student=nosuch"]) == 2
    assert "unknown model 'nosuch'" in capsys.readouterr().err


@pytest.mark.parametrize("assignment, message", [
    ("evaluate.nboot=3", "--set evaluate.nboot=3: unknown key: section 'evaluate' has no key 'nboot'; did you mean "
                         "'evaluate.n_boot'?"),
    ("modles.student=x", "--set modles.student=x: unknown key: there is no section 'modles'; did you mean "
                         "'models.student'?"),
    ("train_teacher.epochs=abc", "--set train_teacher.epochs=abc: expected int, got 'abc'"),
    ("train_teacher.epochs=-1", "epochs (-1) and head_epochs (0) must be >= 0 and not both 0 (set by --set "
                                "train_teacher.epochs=-1)"),
])
def test_a_bad_set_is_named_as_the_set(assignment, message, capsys):
    assert main(["models", "--params", str(ROOT / "params.yaml"), "--set", assignment]) == 2
    err = capsys.readouterr().err
    assert message in err and "params.yaml.evaluate: unknown" not in err
    # a mapping's free sub-keys are keys too
    from mobileiqa.config import load_params

    assert load_params(ROOT / "params.yaml", overrides=["models.variant_weights.x=package:y"]).models.variant_weights[
        "x"] == "package:y"
