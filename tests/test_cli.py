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

