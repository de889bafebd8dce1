"""The prepare → validate stages end to end through the CLI, on the default source and on a real layout."""

from __future__ import annotations

import json
from pathlib import Path

from mobileiqa.cli import main
from tests.data.fixtures import build_koniq

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--params", str(ROOT / "params.yaml"), "--overlay", str(ROOT / "params/tiny.yaml")]


def test_default_source_prepare_and_validate(photos_dir, tmp_path, capsys):
    out = tmp_path / "dataset"
    assert main(["prepare", *TINY, "--photos", str(photos_dir), "--out", str(out)]) == 0
    info = json.loads((out / "dataset.json").read_text())
    assert info["source"] == "default" and info["images"] == 75
    assert main(["validate", *TINY, "--dataset", str(out), "--report", str(tmp_path / "v")]) == 0
    assert json.loads((tmp_path / "v" / "summary.json").read_text())["success"]


def test_a_real_layout_chosen_by_params(tmp_path, capsys):
    root = tmp_path / "koniq"
    build_koniq(root)
    (root / "1024x768" / "1037.jpg").write_bytes(b"")  # one corrupt file: listed, not silently dropped
    out = tmp_path / "dataset"
    args = [*TINY, "--set", "data.source=koniq10k", "--set", f"data.root={root}"]
    assert main(["prepare", *args, "--out", str(out)]) == 0
    problems = json.loads((out / "problems.json").read_text())
    assert [p["path"] for p in problems] == ["1024x768/1037.jpg"]
    small = ["--set", "validate.min_width=16", "--set", "validate.min_height=16"]
    assert main(["validate", *args, *small, "--dataset", str(out), "--report", str(tmp_path / "v")]) == 0
    summary = json.loads((tmp_path / "v" / "summary.json").read_text())
    assert summary["rows"] == 11 and summary["splits"] == {"train": 7, "val": 2, "test": 2}  # official KonIQ sets
    # the default minimum resolution rejects KonIQ's 32x24 fixture images, naming them
    assert main(["validate", *args, "--dataset", str(out), "--report", str(tmp_path / "v2")]) == 2
    assert "between(width)" in capsys.readouterr().err


def test_unknown_source_is_named(tmp_path, capsys):
    assert main(["prepare", *TINY, "--set", "data.source=imagenet", "--out", str(tmp_path / "o")]) == 2
    assert "imagenet" in capsys.readouterr().err
