"""params.yaml → typed config: strict keys and types, overlays, overrides."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from mobileiqa.config import ConfigError, Params, as_flat_dict, load_params, write_defaults
from mobileiqa.models import get_spec

ROOT = Path(__file__).resolve().parents[1]


def test_the_committed_params_and_profiles_load_and_name_registered_models():
    for overlays in [(), ("params/tiny.yaml",), ("params/paper.yaml",)]:
        p = load_params(ROOT / "params.yaml", [ROOT / o for o in overlays])
        assert isinstance(p, Params)
        assert get_spec(p.models.teacher).role == "teacher"
        assert get_spec(p.models.student).role == "student"
    assert load_params(ROOT / "params.yaml", [ROOT / "params/paper.yaml"]).models.student.endswith("large_100")


def test_defaults_equal_the_committed_params():
    assert load_params(ROOT / "params.yaml") == Params()


def test_params_yaml_is_written_from_the_typed_defaults(tmp_path):
    """params.yaml is what `mobileiqa profile defaults` writes from the dataclasses, byte for byte; a default
    changed in one place is written to both training sections."""
    copy = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", copy)
    assert write_defaults(copy) == []
    assert copy.read_bytes() == (ROOT / "params.yaml").read_bytes()
    copy.write_text(re.sub(r"(?m)^( +)lr: 0\.002", r"\1lr: 0.1", copy.read_text()))
    assert write_defaults(copy) == ["distill_student.train.lr", "train_teacher.lr"]
    assert copy.read_bytes() == (ROOT / "params.yaml").read_bytes()


def test_unknown_key_names_file_and_key(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("models:\n  studnet: x\n")
    with pytest.raises(ConfigError, match=r"p\.yaml\.models: unknown key\(s\) \['studnet'\]"):
        load_params(f)


def test_wrong_type_names_the_dotted_key(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("summary:\n  height: tall\n")
    with pytest.raises(ConfigError, match=r"summary\.height: expected int"):
        load_params(f)


def test_overrides_and_overlays_merge_deeply(tmp_path):
    base = tmp_path / "p.yaml"
    base.write_text("models:\n  teacher: a\n  student: b\nsummary:\n  height: 10\n  width: 20\n")
    over = tmp_path / "o.yaml"
    over.write_text("summary:\n  width: 30\n")
    p = load_params(base, [over], ["summary.height=99", "models.student_weights=w.safetensors"])
    assert (p.summary.height, p.summary.width, p.models.teacher) == (99, 30, "a")
    assert as_flat_dict(p)["models.student_weights"] == "w.safetensors"
    with pytest.raises(ConfigError, match="section.key=value"):
        load_params(base, overrides=["oops"])


def test_missing_and_malformed_files_are_named(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_params(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_params(bad)


def test_apply_profile_writes_the_same_params_as_the_overlay_and_keeps_comments(tmp_path):
    from mobileiqa.config import apply_profile

    target = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", target)
    changed = apply_profile(target, [ROOT / "params/tiny.yaml"], ["train_teacher.epochs=1"])
    assert load_params(target) == load_params(ROOT / "params.yaml", [ROOT / "params/tiny.yaml"],
                                              ["train_teacher.epochs=1"])
    assert "models.student" in changed and "train_teacher.epochs" in changed and "export.opset" not in changed
    text = target.read_text()
    assert "# the split every accuracy number is reported on" in text and "&id0" not in text and "*id0" not in text
    assert apply_profile(target, [ROOT / "params/tiny.yaml"], ["train_teacher.epochs=1"]) == []  # idempotent


def test_apply_profile_with_a_bad_key_leaves_the_file_untouched(tmp_path):
    from mobileiqa.config import apply_profile

    target = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", target)
    before = target.read_bytes()
    bad = tmp_path / "bad.yaml"
    bad.write_text("train_teacher:\n  epochz: 3\n")
    with pytest.raises(ConfigError, match="epochz"):
        apply_profile(target, [bad])
    assert target.read_bytes() == before
