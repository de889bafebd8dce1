"""``mobileiqa predict`` and ``mobileiqa.Predictor``: backends from the file, every input kind, EXIF orientation,
streaming over folders/globs, corrupt files reported and skipped, atomic output, registry URIs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.imagegen import make_photo

TINY = "mobileiqa_student_mobilenetv3_small_050_tiny"


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    """``(checkpoint, onnx)`` of a tiny student whose scores vary across images."""
    from mobileiqa.export.metadata import ExportMetadata
    from mobileiqa.export.onnx import export_onnx
    from mobileiqa.models.checkpoint import save_model
    from mobileiqa.preprocess import ResolutionPolicy
    from tests.modelgen import spread_model

    model = spread_model(TINY)
    d = tmp_path_factory.mktemp("model")
    policy = ResolutionPolicy(long_side=128)
    ckpt = save_model(model, TINY, d / "model.pt", meta={"resolution": policy.to_dict()})
    meta = ExportMetadata(TINY, "test", model.scale, policy, {"export": "x", "train": None},
                          {"manifest_sha256": None, "source": "checkpoint"}, model.config.to_dict())
    onnx_path = export_onnx(model, d / "model.onnx", meta)
    return ckpt, onnx_path


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
    assert lines[0] == "path,score" and len(lines) == 4
    scored = {Path(line.split(",")[0]).name: float(line.split(",")[1]) for line in lines[1:]}
    assert set(scored) == {"a.png", "c.jpeg", "b.jpg"} and all(0 <= s <= 1 for s in scored.values())
    assert "3 failed" in err


def test_cli_json_output_and_exit_zero(model_files, folder, tmp_path, capsys):
    from mobileiqa.cli import main

    out = tmp_path / "scores.json"
    rc = main(["predict", str(folder / "a.png"), str(folder / "sub"), "--model", str(model_files[0]), "--out",
               str(out), "--no-progress"])
    assert rc == 1  # sub/ holds truncated.jpg
    rows = json.loads(out.read_text())
    assert [Path(r["path"]).name for r in rows] == ["a.png", "b.jpg"]
    (folder / "sub" / "truncated.jpg").unlink()
    rc = main(["predict", str(folder / "a.png"), str(folder / "sub"), "--model", str(model_files[0]), "--out",
               str(out), "--no-progress"])
    assert rc == 0
    assert rows == json.loads(out.read_text())
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
