"""Backbone weights policy: local files, explicit hub opt-in, offline by default."""

from __future__ import annotations

import subprocess
import sys

import pytest
import timm
import torch
from safetensors.torch import save_file

from mobileiqa.models import create_model
from mobileiqa.models.backbone import create_backbone, stage_channels

NAME = "mobilenetv3_small_050"


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_local_weight_file_is_loaded(tmp_path, suffix):
    torch.manual_seed(123)
    full = timm.create_model(NAME, pretrained=False)
    path = tmp_path / f"w{suffix}"
    sd = {k: v.contiguous() for k, v in full.state_dict().items()}
    save_file(sd, path) if suffix == ".safetensors" else torch.save(sd, path)
    backbone = create_backbone(NAME, pretrained=path)
    assert torch.equal(backbone.state_dict()["conv_stem.weight"], full.state_dict()["conv_stem.weight"])
    fresh = create_backbone(NAME)
    assert not torch.equal(fresh.state_dict()["conv_stem.weight"], full.state_dict()["conv_stem.weight"])
    net = create_model("mobileiqa_student_mobilenetv3_small_050_tiny", pretrained=str(path))
    assert torch.equal(net.backbone.state_dict()["conv_stem.weight"], full.state_dict()["conv_stem.weight"])


def test_missing_or_wrong_weight_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.safetensors"):
        create_backbone(NAME, pretrained=tmp_path / "nope.safetensors")
    bad = tmp_path / "weights.txt"
    bad.write_text("x")
    with pytest.raises(ValueError, match="unsupported suffix"):
        create_backbone(NAME, pretrained=bad)


def test_hub_needs_an_explicit_opt_in(monkeypatch):
    monkeypatch.delenv("MOBILEIQA_ALLOW_DOWNLOADS", raising=False)
    with pytest.raises(RuntimeError, match="MOBILEIQA_ALLOW_DOWNLOADS=1"):
        create_backbone(NAME, pretrained="hub")


def test_channels_come_from_feature_info():
    assert stage_channels(create_backbone("mobilenetv3_large_100")) == [16, 24, 40, 112, 960]


def _run(code: str, **env) -> subprocess.CompletedProcess:
    import os

    full_env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "MOBILEIQA_ALLOW_DOWNLOADS")}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**full_env, **env})


def test_import_goes_offline_before_timm_and_needs_only_torch_and_timm():
    code = """
import sys, os
for name in ('mlflow', 'dvc', 'kfp', 'great_expectations', 'onnx', 'onnxruntime', 'boto3', 'yaml'):
    sys.modules[name] = None  # as if not installed: importing it raises ImportError
import mobileiqa.models as m
import torch
assert os.environ['HF_HUB_OFFLINE'] == '1'
net = m.create_model('mobileiqa_student_mobilenetv3_small_050_tiny').eval()
print(net(torch.rand(1, 3, 64, 64)).shape)
"""
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr
    assert "torch.Size([1])" in proc.stdout


def test_opt_in_leaves_the_hub_online():
    proc = _run("import os, mobileiqa.models; print(os.environ.get('HF_HUB_OFFLINE'))", MOBILEIQA_ALLOW_DOWNLOADS="1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "None"
