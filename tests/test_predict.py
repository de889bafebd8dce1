"""``mobileiqa predict`` and ``mobileiqa.Predictor``: backends from the file, every input kind, EXIF orientation,
streaming over folders/globs, corrupt files reported and skipped, atomic output, registry URIs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import TINY_STUDENT as TINY
from tests.imagegen import make_photo


@pytest.fixture()
def folder(tmp_path):
    """3 good images (one in a subfolder) and 3 bad ones (empty, truncated, not an image)."""
    d = tmp_path / "photos"
    (d / "sub").mkdir(parents=True)
    make_photo(0, 200, 150).save(d / "a.png")
    make_photo(1, 160, 220).save(d / "sub" / "b.jpg", quality=90)
    make_photo(2, 300, 180).save(d / "c.jpeg", quality=90)
    (d / "empty.jpg").write_bytes(b"")
    data = (d / "c.jpeg").read_bytes()
    (d / "sub" / "truncated.jpg").write_bytes(data[: len(data) // 3])
    (d / "notes.png").write_text("not an image")
    (d / "readme.txt").write_text("ignored: not an image suffix")
    return d


def test_python_api_accepts_every_input_kind(model_files, folder):
    import mobileiqa

    for path in model_files:
        predictor = mobileiqa.Predictor.from_path(path)
        file = folder / "a.png"
        img = Image.open(file)
        scores = predictor([file, str(file), file.read_bytes(), img, np.asarray(img.convert("RGB"))])
        assert scores.shape == (5,) and np.allclose(scores, scores[0], atol=1e-6)
        assert all(predictor.scale.contains(s) for s in scores)
        assert predictor.scale.bounded and predictor.scale.higher_is_better
        many = predictor([folder / "a.png", folder / "sub" / "b.jpg", folder / "c.jpeg"])
        assert np.array_equal(many, predictor([folder / "a.png", folder / "sub" / "b.jpg", folder / "c.jpeg"]))
        assert np.ptp(many) > 0
    pt, onnx = (mobileiqa.Predictor.from_path(p) for p in model_files)
    assert (pt.backend_name, onnx.backend_name) == ("torch", "onnx")
    assert pt.policy == onnx.policy and onnx.metadata["model"] == TINY
    files = [folder / "a.png", folder / "c.jpeg"]
    assert np.max(np.abs(pt(files) - onnx(files))) <= 1e-4


def test_predictor_names_bad_image(model_files, folder):
    from mobileiqa.data.images import ImageError
    from mobileiqa.predict import Predictor

    with pytest.raises(ImageError, match="empty.jpg"):
        Predictor.from_path(model_files[1])([folder / "a.png", folder / "empty.jpg"])
    with pytest.raises(ValueError, match="unsupported model file"):
        Predictor.from_path(folder / "a.png")


def test_exif_orientation_is_applied(model_files, tmp_path):
    from mobileiqa.data.images import prepare_image
    from mobileiqa.predict import Predictor

    upright = make_photo(3, 240, 160)
    upright.save(tmp_path / "upright.png")
    # stored rotated; EXIF orientation 6 says "rotate 90 CW to display" -> displays as upright
    exif = Image.Exif()
    exif[0x0112] = 6
    upright.transpose(Image.Transpose.ROTATE_90).save(tmp_path / "tagged.png", exif=exif)
    predictor = Predictor.from_path(model_files[0])
    a = prepare_image(tmp_path / "upright.png", predictor.policy)
    b = prepare_image(tmp_path / "tagged.png", predictor.policy)
    assert a.shape == b.shape == (3, 85, 128) and np.allclose(a, b)  # long side 128, landscape
    scores = predictor([tmp_path / "upright.png", tmp_path / "tagged.png", (tmp_path / "tagged.png").read_bytes()])
    assert np.allclose(scores, scores[0], atol=1e-6)


def test_iter_files_streams_folders_and_globs(folder):
    import types

    from mobileiqa.predict import iter_files

    it = iter_files([folder])
    assert isinstance(it, types.GeneratorType)
    names = [p.name for p in it]
    assert names == ["a.png", "c.jpeg", "empty.jpg", "notes.png", "b.jpg", "truncated.jpg"]
    hits = list(iter_files([str(folder / "**" / "*.jpg"), folder / "missing.png", str(folder / "*.gif")]))
    assert [p.name for p in hits[:3]] == ["empty.jpg", "b.jpg", "truncated.jpg"]
    assert hits[3] == (str(folder / "missing.png"), "no such file or folder")
    assert "matches no image" in hits[4][1]


def test_cli_folder_with_corrupt_files(model_files, folder, tmp_path, capsys):
    from mobileiqa.cli import main

    out = tmp_path / "scores.csv"
    rc = main(["predict", str(folder), "--model", str(model_files[1]), "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 1
    for bad in ("empty.jpg", "truncated.jpg", "notes.png"):
        assert f"FAILED {folder}" in err and bad in err
    lines = out.read_text().splitlines()
    assert lines[0] == "path,score,status,error" and len(lines) == 7  # one row per input, failures included
    rows = {Path(line.split(",")[0]).name: line.split(",", 3)[1:] for line in lines[1:]}
    assert {n for n, r in rows.items() if r[1] == "ok"} == {"a.png", "c.jpeg", "b.jpg"}
    assert all(0 <= float(r[0]) <= 1 and r[2] == "" for r in rows.values() if r[1] == "ok")
    assert rows["empty.jpg"][:2] == ["", "error"] and "empty file" in rows["empty.jpg"][2]
    assert rows["notes.png"][1] == "error" and "not a readable image" in rows["notes.png"][2]
    assert "3 failed" in err and "images/s" in err


def test_cli_json_output_and_exit_zero(model_files, folder, tmp_path, capsys):
    from mobileiqa.cli import main

    out = tmp_path / "scores.json"
    rc = main(["predict", str(folder / "a.png"), str(folder / "sub"), "--model", str(model_files[0]), "--out",
               str(out), "--no-progress"])
    assert rc == 1  # sub/ holds truncated.jpg
    doc = json.loads(out.read_text())
    assert doc["model"] == TINY and doc["scale"] == {"minimum": 0.0, "maximum": 1.0, "higher_is_better": True}
    assert doc["preprocess"]["resize"]["long_side"] == 128 and len(doc["preprocess"]["mean"]) == 3
    rows = doc["results"]
    assert [(Path(r["path"]).name, r["status"]) for r in rows] == [
        ("a.png", "ok"), ("b.jpg", "ok"), ("truncated.jpg", "error")]
    assert rows[2]["score"] is None and "cannot decode" in rows[2]["error"] and rows[0]["error"] is None
    (folder / "sub" / "truncated.jpg").unlink()
    rc = main(["predict", str(folder / "a.png"), str(folder / "sub"), "--model", str(model_files[0]), "--out",
               str(out), "--no-progress"])
    assert rc == 0
    assert rows[:2] == json.loads(out.read_text())["results"]
    assert main(["predict", str(folder), "--model", str(model_files[0]), "--out", str(tmp_path / "s.json"),
                 "--format", "csv"]) == 2
    assert "disagrees" in capsys.readouterr().err


def test_no_partial_output_on_early_failure(model_files, folder, tmp_path, monkeypatch):
    from mobileiqa.cli import main
    from mobileiqa.predict import Predictor

    real = Predictor.score_files

    def crash_after_first(self, files):
        gen = real(self, files)
        yield next(gen)
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(Predictor, "score_files", crash_after_first)
    out = tmp_path / "out" / "scores.csv"
    assert main(["predict", str(folder), "--model", str(model_files[1]), "--out", str(out), "--no-progress"]) == 2
    assert not out.exists() and list(out.parent.iterdir()) == []


def test_registry_uri_picks_fp32_onnx(model_files, tmp_path, monkeypatch):
    import mlflow.artifacts

    from mobileiqa.predict import Predictor

    calls = []

    def fake_download(artifact_uri, dst_path):
        calls.append(artifact_uri)
        root = Path(dst_path) / "artifacts"
        root.mkdir(parents=True)
        shutil.copy(model_files[1], root / "model.int8.onnx")  # an int8 file beside it must not be picked
        shutil.copy(model_files[1], root / "model.onnx")
        return str(Path(dst_path))

    monkeypatch.setattr(mlflow.artifacts, "download_artifacts", fake_download)
    predictor = Predictor.from_path("models:/mobileiqa-student@champion")
    assert calls == ["models:/mobileiqa-student@champion"]
    assert Path(predictor.source).name == "model.onnx" and predictor.backend_name == "onnx"
