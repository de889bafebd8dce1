"""``mobileiqa predict`` at the edges: phone photos of 12-200 MP (reduced JPEG decoding, the pixel limit, a
torch-free ONNX path in bounded memory), tiny images, every kind of path argument, and outputs (one row per
input, nothing written when nothing scored, the user's umask, bounded memory on long streams)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, JpegImagePlugin

from tests.imagegen import make_photo

ROOT = Path(__file__).resolve().parents[1]


def _run_predict(args: list[str], tmp_path: Path) -> dict:
    """``mobileiqa predict ARGS`` in a fresh interpreter: exit code, stderr, whether torch/timm were imported, and
    the process's peak RSS in MB (VmHWM: unlike ru_maxrss, not inherited across exec)."""
    code = textwrap.dedent("""
        import json, sys
        from mobileiqa.cli import main
        from mobileiqa.environment import status_kb
        rc = main(sys.argv[1:])
        print(json.dumps({"rc": rc, "torch": "torch" in sys.modules, "timm": "timm" in sys.modules,
                          "rss_mb": status_kb("VmHWM") / 1024}))
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run([sys.executable, "-c", code, "predict", *args, "--no-progress"], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=300)
    assert proc.stdout.strip(), proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]) | {"stderr": proc.stderr}


# ------------------------------------------------------------------------------------------- large photos
@pytest.fixture(scope="module")
def big_jpeg(tmp_path_factory):
    """A 4000x3000 (12 MP) phone-size JPEG: a synthetic photo upscaled, with fine grain on top."""
    rng = np.random.default_rng(0)
    img = np.asarray(make_photo(7, 400, 300).resize((4000, 3000), Image.Resampling.BICUBIC), dtype=np.int16)
    img = np.clip(img + rng.integers(-6, 7, img.shape), 0, 255).astype(np.uint8)
    path = tmp_path_factory.mktemp("big") / "phone.jpg"
    Image.fromarray(img).save(path, quality=92)
    return path


def test_a_reduced_decode_scores_within_0_01_of_a_full_decode(model_files, big_jpeg, monkeypatch):
    from mobileiqa.predict import Predictor

    drafts = []
    real = JpegImagePlugin.JpegImageFile.draft
    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft",
                        lambda self, mode, size: drafts.append(size) or real(self, mode, size))
    for path in model_files:
        reduced = Predictor.from_path(path)
        full = Predictor.from_path(path, reduced_decode=False)
        drafts.clear()
        a = reduced([big_jpeg])[0]
        assert drafts == [(128, 96)]  # asked for the policy's size (long side 128); libjpeg gives >= it (1/8)
        drafts.clear()
        b = full([big_jpeg])[0]
        assert drafts == []
        assert abs(a - b) <= 0.01, (path.suffix, a, b)
        assert reduced.prepare(big_jpeg).shape == full.prepare(big_jpeg).shape == (3, 96, 128)


def test_the_dataset_readers_never_decode_at_a_reduced_size(photos_dir, tmp_path, monkeypatch):
    """The build, training and evaluation decode in full: with libjpeg's reduced decoding made to fail, a dataset
    built from JPEG photos has the same manifest hash as one built normally."""
    from mobileiqa.data.build import build_dataset
    from mobileiqa.data.images import load_image, prepare_image
    from mobileiqa.data.settings import BuildConfig
    from mobileiqa.preprocess import ResolutionPolicy

    jpegs = tmp_path / "jpegs"
    jpegs.mkdir()
    for p in sorted(photos_dir.iterdir())[:3]:
        Image.open(p).resize((800, 600)).save(jpegs / f"{p.stem}.jpg", quality=90)
    spec = BuildConfig(long_side=96, max_photos=3, levels_per_type=1, annotators=("ssim", "gmsd"), workers=1)
    normal = build_dataset(jpegs, tmp_path / "a", spec, progress=False)

    def refuse(self, mode, size):
        raise AssertionError("reduced decoding in a dataset reader")

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", refuse)
    again = build_dataset(jpegs, tmp_path / "b", spec, progress=False)
    assert again["manifest_sha256"] == normal["manifest_sha256"]
    one = next(jpegs.iterdir())
    assert load_image(one).size == (800, 600)
    assert prepare_image(one, ResolutionPolicy(long_side=96)).shape == (3, 72, 96)  # full decode by default
    with pytest.raises(AssertionError, match="reduced decoding"):
        prepare_image(one, ResolutionPolicy(long_side=96), reduce=True)


def test_a_200_megapixel_jpeg_scores_torch_free_in_bounded_memory(model_files, tmp_path):
    path = tmp_path / "200mp.jpg"
    Image.new("RGB", (16320, 12240), (120, 140, 90)).save(path, quality=80)  # 199.8 MP, as a 200 MP sensor
    out = tmp_path / "s.csv"
    run = _run_predict([str(path), "--model", str(model_files[1]), "--out", str(out)], tmp_path)
    assert run["rc"] == 0, run["stderr"]
    assert not run["torch"] and not run["timm"]  # the ONNX path imports neither
    assert run["rss_mb"] < 2048, run  # the decoded image alone would be 600 MB at full size
    assert out.read_text().splitlines()[1].endswith(",ok,")
    # above the limit: refused from the header, naming the size and the option
    run = _run_predict([str(path), "--model", str(model_files[1]), "--max-pixels", "100000000"], tmp_path)
    assert run["rc"] == 1 and "16320x12240 (199.8 MP) exceeds the 100,000,000-pixel limit" in run["stderr"]
    assert "--max-pixels" in run["stderr"]


def test_the_pixel_limit_applies_to_every_input_kind(model_files, tmp_path):
    from mobileiqa.data.images import ImageError
    from mobileiqa.predict import Predictor

    predictor = Predictor.from_path(model_files[1], max_pixels=100 * 100)
    img = make_photo(0, 120, 100)
    img.save(tmp_path / "a.png")
    for item in (tmp_path / "a.png", (tmp_path / "a.png").read_bytes(), img):
        with pytest.raises(ImageError, match="120x100 .* exceeds the 10,000-pixel limit"):
            predictor([item])
    assert predictor([make_photo(0, 100, 100)]).shape == (1,)


# ------------------------------------------------------------------------------------------- small images
def test_small_images_are_upscaled_with_a_warning_and_tiny_ones_refused(model_files, tmp_path, capsys):
    from mobileiqa.cli import main
    from mobileiqa.data.images import ImageError, SmallImageWarning
    from mobileiqa.predict import Predictor

    for name, size in {"8x8.png": (8, 8), "strip.png": (300, 20), "7x7.png": (7, 7), "5x900.png": (5, 900)}.items():
        make_photo(1, *size).save(tmp_path / name)
    predictor = Predictor.from_path(model_files[1])
    assert predictor.prepare(tmp_path / "8x8.png", warn=lambda m: None).shape == (3, 64, 64)
    assert predictor.prepare(tmp_path / "strip.png", warn=lambda m: None).shape == (3, 64, 960)  # aspect kept
    with pytest.warns(SmallImageWarning, match=r"8x8.png: 8x8 is below the models' 64 px minimum side; upscaled"):
        predictor([tmp_path / "8x8.png"])
    with pytest.raises(ImageError, match="7x7 is too small to score"):
        predictor([tmp_path / "7x7.png"])
    rc = main(["predict", str(tmp_path), "--model", str(model_files[1]), "--out", str(tmp_path / "s.csv"),
               "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 1
    assert f"WARNING {tmp_path / '8x8.png'}: 8x8 is below" in err and f"WARNING {tmp_path / 'strip.png'}" in err
    assert f"FAILED {tmp_path / '7x7.png'}: 7x7 is too small" in err and "5x900 is too small" in err
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a big enough image warns of nothing
        predictor([make_photo(1, 64, 64)])


# ------------------------------------------------------------------------------------------- paths
def test_every_kind_of_path_argument_is_scored_or_named(model_files, tmp_path, capsys):
    from mobileiqa.cli import main
    from mobileiqa.predict import iter_files

    d = tmp_path / "in"
    (d / "album" / "deep").mkdir(parents=True)
    (d / ".hidden_dir").mkdir()
    (d / "empty").mkdir()
    (d / "x.jpg").mkdir()  # a folder named like an image
    make_photo(0, 120, 90).save(d / "album" / "a.jpg")
    make_photo(1, 120, 90).save(d / "album" / "deep" / "b.png")
    make_photo(2, 120, 90).save(d / "album" / ".c.png")  # hidden: skipped in walks, scored when named
    make_photo(3, 120, 90).save(d / ".hidden_dir" / "d.png")
    make_photo(4, 120, 90).save(tmp_path / "outside.png")
    (d / "album" / "link.png").symlink_to(tmp_path / "outside.png")  # a symlink to a file is followed
    (d / "album" / "linked_dir").symlink_to(d / "album" / "deep", target_is_directory=True)  # not entered
    (d / "dangling.png").symlink_to(d / "gone.png")
    (d / "loop.png").symlink_to(d / "loop.png")

    walked = list(iter_files([d / "album"]))
    assert [p.relative_to(d) for p in walked] == [Path("album/a.jpg"), Path("album/link.png"),
                                                  Path("album/deep/b.png")]
    args = [d / "album", d / "album" / ".c.png", d / "empty", d / "x.jpg", d / "dangling.png", d / "loop.png",
            d / "missing.jpg", str(d / "*.webp")]
    out = tmp_path / "s.csv"
    rc = main(["predict", *map(str, args), "--model", str(model_files[1]), "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 1
    rows = {line.split(",")[0]: line.split(",", 3)[2:] for line in out.read_text().splitlines()[1:]}
    ok = {Path(p).name for p, (status, _) in rows.items() if status == "ok"}
    assert ok == {"a.jpg", "link.png", "b.png", ".c.png"} and "d.png" not in err
    reasons = {Path(p).name: e for p, (status, e) in rows.items() if status == "error"}
    assert "holding no image file" in reasons["empty"]
    assert "a folder named like an image (.jpg) holding no image file" in reasons["x.jpg"]
    assert "dangling symlink" in reasons["dangling.png"] and "gone.png" in reasons["dangling.png"]
    assert reasons["loop.png"] == "symlink loop"
    assert reasons["missing.jpg"] == "no such file or folder"
    assert reasons["*.webp"] == "the pattern matches no image file"
    assert all(f"FAILED {d / n}" in err for n in ("empty", "x.jpg", "dangling.png", "loop.png", "missing.jpg"))
    # walks report broken symlinks with an image suffix too
    assert ("dangling" in dict(x for x in iter_files([d]) if isinstance(x, tuple))[str(d / "dangling.png")])


# ------------------------------------------------------------------------------------------- outputs
def test_when_nothing_scores_no_output_is_written(model_files, tmp_path, capsys):
    from mobileiqa.cli import main

    (tmp_path / "zero_byte.jpg").write_bytes(b"")
    out = tmp_path / "s.csv"
    assert main(["predict", str(tmp_path / "zero_byte.jpg"), "--model", str(model_files[1]), "--out", str(out),
                 "--no-progress"]) == 1
    assert not out.exists() and "nothing written" in capsys.readouterr().err
    out.write_text("an earlier run's scores\n")
    assert main(["predict", str(tmp_path / "zero_byte.jpg"), "--model", str(model_files[1]), "--out", str(out),
                 "--no-progress"]) == 1
    assert out.read_text() == "an earlier run's scores\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.csv", "zero_byte.jpg"]  # no temporary left over


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_artifacts_are_written_with_the_users_umask(tmp_path, umask):
    from mobileiqa.atomic import write_json, write_text

    old = os.umask(umask)
    try:
        paths = [write_text(tmp_path / "a.txt", "x"), write_json(tmp_path / "b.json", {"a": 1})]
        expected = 0o666 & ~umask
        open(tmp_path / "plain.txt", "w").close()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode) == expected
    assert [stat.S_IMODE(p.stat().st_mode) for p in paths] == [expected, expected]


def test_writing_scores_keeps_no_row_in_memory(tmp_path):
    """100,000 results stream through the writer: traced memory stays far below what holding the rows needs."""
    from mobileiqa.predict import write_scores
    from mobileiqa.predict.predictor import Result

    n = 100_000
    results = (Result(f"/photos/{i:06d}.jpg", score=i / n) for i in range(n))
    tracemalloc.start()
    try:
        summary = write_scores(results, tmp_path / "s.json", "json", header={"model": "m"}, progress=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert summary.scored == n and summary.failures == [] and summary.images_per_s > 0
    assert peak < 2_000_000, peak  # 100,000 Result objects alone take ~15 MB
    doc = json.loads((tmp_path / "s.json").read_text())
    assert len(doc["results"]) == n and doc["results"][-1] == {
        "path": "/photos/099999.jpg", "score": 0.99999, "status": "ok", "error": None}
