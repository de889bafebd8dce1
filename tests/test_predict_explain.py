"""Explanations through ``mobileiqa.Predictor`` and ``mobileiqa predict``: the quality map and the spread from
``.pt``, ``.onnx`` and ``.ort`` alike, in every result and in the CSV/JSON output; ``--maps`` figures (orientation,
colours, one PNG per scored image, atomic); a clear error for a model without heads; the ONNX path torch-free."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import TINY_STUDENT as TINY
from tests.imagegen import make_photo


@pytest.fixture(scope="module")
def explained_files(tmp_path_factory):
    """``(checkpoint, onnx, ort)`` of the tiny student with explanation heads (policy: long side 128)."""
    from mobileiqa.export.metadata import ExportMetadata
    from mobileiqa.export.onnx import export_onnx
    from mobileiqa.export.ort_mobile import convert_to_ort
    from mobileiqa.models.checkpoint import save_model
    from mobileiqa.preprocess import ResolutionPolicy
    from tests.export.heads import explained_model

    model = explained_model()
    d = tmp_path_factory.mktemp("explained")
    policy = ResolutionPolicy(long_side=128)
    ckpt = save_model(model, TINY, d / "model.pt", meta={"resolution": policy.to_dict()})
    meta = ExportMetadata(TINY, "test", model.scale, policy, {"export": "x", "train": None},
                          {"manifest_sha256": None, "source": "checkpoint"}, model.config.to_dict())
    onnx_path = export_onnx(model, d / "model.onnx", meta)
    ort_path, _, _ = convert_to_ort(onnx_path, d)
    return ckpt, onnx_path, ort_path


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    d = tmp_path_factory.mktemp("photos")
    make_photo(0, 200, 150).save(d / "a.png")
    make_photo(1, 150, 220).save(d / "b.jpg", quality=90)
    (d / "sub").mkdir()
    make_photo(2, 260, 180).save(d / "sub" / "a.jpg", quality=90)  # the same stem as a.png
    return d


def _grid(path) -> int:
    from mobileiqa.models.checkpoint import load_model

    return load_model(path)[0].config.grid


def test_every_backend_explains_alike(explained_files, photos):
    from mobileiqa.predict import Predictor

    files = [photos / "a.png", photos / "b.jpg"]
    g = _grid(explained_files[0])
    got = {}
    for path in explained_files:
        predictor = Predictor.from_path(path)
        assert predictor.explains and predictor.explain_outputs.grid == g
        e = predictor.explain(files)
        assert e.score.shape == (2,) and e.quality_map.shape == (2, g, g) and e.spread.shape == (2,)
        assert e.quality_map.min() >= 0 and e.quality_map.max() <= 1 and e.spread.min() >= 0
        assert np.allclose(e.score, predictor(files), atol=1e-6)  # the plain score is the same
        got[predictor.backend_name] = e
    assert set(got) == {"torch", "onnx", "ort"}
    for name in ("onnx", "ort"):
        for key in ("score", "quality_map", "spread"):
            assert np.max(np.abs(getattr(got[name], key) - getattr(got["torch"], key))) <= 1e-4, (name, key)
    assert got["torch"].quality_map[0].std() > 0.01  # a map, not a constant


def test_results_carry_the_spread_and_the_grid(explained_files, model_files, photos):
    from mobileiqa.predict import Predictor

    g = _grid(explained_files[0])
    for path in explained_files:
        predictor = Predictor.from_path(path)
        ok, bad = predictor.score_files([photos / "a.png", ("missing.jpg", "no such file")])
        assert isinstance(ok.spread, float) and ok.spread >= 0
        assert len(ok.quality_map) == g and all(len(row) == g for row in ok.quality_map)
        assert all(isinstance(v, float) for row in ok.quality_map for v in row)
        e = predictor.explain([photos / "a.png"])
        assert np.allclose(ok.quality_map, e.quality_map[0]) and ok.spread == pytest.approx(e.spread[0])
        assert bad.spread is None and bad.quality_map is None
    for path in model_files:  # no heads: no explanation fields, and explain() says what to do
        plain = Predictor.from_path(path)
        assert not plain.explains
        result = next(plain.score_files([photos / "a.png"]))
        assert result.spread is None and result.quality_map is None
        with pytest.raises(ValueError, match="no explanation heads.*distill_student.explain.enabled"):
            plain.explain([photos / "a.png"])


def test_a_file_whose_outputs_disagree_with_its_metadata_is_refused(explained_files, tmp_path):
    import onnx

    from mobileiqa.predict import Predictor

    proto = onnx.load(str(explained_files[1]))
    props = [p for p in proto.metadata_props if p.key != "mobileiqa.outputs"]
    del proto.metadata_props[:]
    proto.metadata_props.extend(props)
    onnx.save(proto, str(tmp_path / "undeclared.onnx"))
    with pytest.raises(ValueError, match="undeclared.onnx: the model's outputs and its declared explanation"):
        Predictor.from_path(tmp_path / "undeclared.onnx")


def test_cli_json_and_csv_carry_the_explanations(explained_files, photos, tmp_path, capsys):
    from mobileiqa.cli import main

    g = _grid(explained_files[0])
    out = tmp_path / "s.json"
    assert main(["predict", str(photos), "--model", str(explained_files[1]), "--out", str(out),
                 "--no-progress"]) == 0
    doc = json.loads(out.read_text())
    assert doc["explain"]["grid"] == g and "not a confidence interval" in doc["explain"]["spread"]
    assert "row 0 = top" in doc["explain"]["quality_map"]
    rows = doc["results"]
    assert len(rows) == 3 and all(r["status"] == "ok" for r in rows)
    for r in rows:
        assert set(r) == {"path", "score", "status", "error", "spread", "quality_map"}
        assert r["spread"] >= 0 and len(r["quality_map"]) == g and all(len(row) == g for row in r["quality_map"])
    csv_out = tmp_path / "s.csv"
    assert main(["predict", str(photos / "a.png"), "--model", str(explained_files[2]), "--out", str(csv_out),
                 "--no-progress"]) == 0
    header, line = csv_out.read_text().splitlines()
    assert header == "path,score,status,error,spread"
    assert float(line.split(",")[4]) == pytest.approx(rows[0]["spread"], abs=1e-4)
    capsys.readouterr()


def test_cli_maps_draws_one_figure_per_scored_image(explained_files, photos, tmp_path, capsys):
    from mobileiqa.cli import main

    maps, out = tmp_path / "maps", tmp_path / "s.json"
    rc = main(["predict", str(photos), str(tmp_path / "missing.jpg"), "--model", str(explained_files[0]), "--maps",
               str(maps), "--out", str(out), "--no-progress"])
    assert rc == 1  # the missing file
    err = capsys.readouterr().err
    assert f"quality maps in {maps}" in err
    rows = json.loads(out.read_text())["results"]
    files = [r["map_file"] for r in rows]
    assert files[-1] is None and rows[-1]["status"] == "error"
    assert sorted(Path(f).name for f in files[:-1]) == ["a_map-2.png", "a_map.png", "b_map.png"]
    assert sorted(p.name for p in maps.iterdir()) == ["a_map-2.png", "a_map.png", "b_map.png"]  # no temp files
    for row in rows[:-1]:
        with Image.open(row["path"]) as src:
            w, h = src.size
        photo = (1024, round(1024 * h / w)) if w >= h else (round(1024 * w / h), 1024)  # long side 1024
        with Image.open(row["map_file"]) as img:
            assert img.format == "PNG" and abs(img.width - photo[0]) <= 1
            assert img.height > photo[1] + 20  # the colour bar panel under the photo
            assert img.getpixel((2, 2)) == (0, 0, 0)  # the score box, top left
    csv_out = tmp_path / "s.csv"
    main(["predict", str(photos / "b.jpg"), "--model", str(explained_files[1]), "--maps", str(maps), "--out",
          str(csv_out), "--no-progress"])
    assert csv_out.read_text().splitlines()[0] == "path,score,status,error,spread,map_file"
    assert csv_out.read_text().splitlines()[1].endswith(str(maps / "b_map.png"))


def test_maps_for_a_model_without_heads_is_a_clear_error(model_files, photos, tmp_path, capsys):
    from mobileiqa.cli import main

    maps = tmp_path / "maps"
    for path in model_files:
        assert main(["predict", str(photos / "a.png"), "--model", str(path), "--maps", str(maps),
                     "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert f"{path}: this model has no explanation heads" in err
        assert "the model needs them: retrain with distill_student.explain.enabled" in err
    assert not maps.exists()


def test_the_overlay_keeps_row_0_on_top_and_low_quality_bright():
    from mobileiqa.predict.maps import ALPHA_BEST, ALPHA_WORST, colours, figure, overlay
    from mobileiqa.scale import UNIT

    grey = Image.new("RGB", (300, 200), (128, 128, 128))
    q = np.ones((6, 6))
    q[0] = 0.0  # the top row is the worst
    shown = np.asarray(overlay(grey, q), np.float64)
    top, bottom = shown[:10].mean(axis=(0, 1)), shown[-40:].mean(axis=(0, 1))
    assert top.sum() > bottom.sum() + 100 and top[0] > top[2]  # bright, warm on top; dark below
    assert np.allclose(bottom, 128 * (1 - ALPHA_BEST) + colours(1.0) * ALPHA_BEST, atol=2)
    assert np.allclose(shown[0, 150], 128 * (1 - ALPHA_WORST) + colours(0.0) * ALPHA_WORST, atol=2)
    canvas = figure(grey, q, 0.5, 0.1, UNIT)
    assert canvas.width == 300 and canvas.height > 200


def test_the_colour_ramp_is_inferno_reversed():
    from mobileiqa.predict.maps import colours

    matplotlib = pytest.importorskip("matplotlib")
    v = np.linspace(0, 1, 101)
    want = np.round(255 * matplotlib.colormaps["inferno"](1 - v)[:, :3])
    assert np.max(np.abs(colours(v).astype(float) - want)) <= 8
    luminance = colours(v) @ np.array([0.2126, 0.7152, 0.0722])
    assert np.all(np.diff(luminance) < 0.5)  # monotone: brighter = worse


def test_the_onnx_path_explains_and_draws_maps_without_torch(explained_files, photos, tmp_path):
    from tests.test_predict_inputs import _run_predict

    out, maps = tmp_path / "s.json", tmp_path / "maps"
    run = _run_predict([str(photos / "a.png"), "--model", str(explained_files[1]), "--maps", str(maps), "--out",
                        str(out)], tmp_path)
    assert run["rc"] == 0, run["stderr"]
    assert not run["torch"] and not run["timm"]
    row = json.loads(out.read_text())["results"][0]
    assert row["spread"] is not None and row["quality_map"] and Path(row["map_file"]).is_file()
