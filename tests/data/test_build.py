"""The default dataset build: content-disjoint splits, calibrated labels, byte-stable rebuilds, resume."""

from __future__ import annotations

import shutil
from dataclasses import replace

import pytest

from mobileiqa.data.build import build_dataset, levels_for, select_photos
from mobileiqa.data.distortions import DISTORTIONS
from mobileiqa.data.manifest import read_manifest
from mobileiqa.data.settings import BuildConfig


def test_build_writes_a_complete_manifest(tiny_dataset):
    out, spec, report = tiny_dataset
    df = read_manifest(out / "manifest.csv")
    assert len(df) == report["images"] == 3 * 25 * spec.levels_per_type
    assert set(df["dist_type"]) == set(DISTORTIONS)
    assert df["mos"].between(0, 1).all() and df["mos_std"].ge(0).all()
    assert (df.groupby("content_id")["split"].nunique() == 1).all()
    assert set(df["split"]) == {"train", "val", "test"}
    assert sorted(c for c in df.columns if c.startswith("annotator_")) == [f"annotator_{n}" for n in
                                                                         sorted(spec.annotators)]
    # MOS is the mean of the annotators (normalised)
    ann = df[[f"annotator_{n}" for n in spec.annotators]].mean(axis=1)
    assert (ann - df["mos"]).abs().max() < 1e-5
    assert all((out / p).is_file() for p in df["path"])
    assert (out / "DATASET.md").read_text().startswith("# The mobileiqa default dataset")
    assert report["calibration_quality"]["cells"] == df.groupby(["dist_type", "dist_level"]).ngroups


def test_labels_fall_with_the_level_of_a_monotone_distortion(photos_dir, tmp_path):
    spec = BuildConfig(long_side=96, max_photos=3, levels_per_type=5, annotators=("ssim", "gmsd"), workers=1)
    build_dataset(photos_dir, tmp_path, spec, progress=False)
    df = read_manifest(tmp_path / "manifest.csv")
    blur = df[df["dist_type"] == "gaussian_blur"].groupby("dist_level")["mos"].mean()
    assert blur[1] > blur[3] > blur[5]


def test_rebuild_is_byte_identical_and_resumes_from_cache(tiny_dataset, photos_dir, tmp_path):
    out, spec, report = tiny_dataset
    again = build_dataset(photos_dir, tmp_path / "b", spec, progress=False)
    assert again["manifest_sha256"] == report["manifest_sha256"]
    first = sorted(p.relative_to(out) for p in (out / "images").rglob("*.png"))
    assert first == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b" / "images").rglob("*.png"))
    some = first[0]
    assert (out / some).read_bytes() == (tmp_path / "b" / some).read_bytes()
    # an interrupted build: drop one photo's images, keep the cache of the others
    shutil.rmtree(tmp_path / "b" / "images" / some.parts[1])
    resumed = build_dataset(photos_dir, tmp_path / "b", spec, progress=False)
    assert resumed["manifest_sha256"] == report["manifest_sha256"]


def test_selection_and_levels_are_seeded_and_order_independent(photos_dir):
    photos = sorted(photos_dir.iterdir())
    spec = BuildConfig(max_photos=3)
    assert select_photos(photos, spec) == select_photos(list(reversed(photos)), spec)
    assert select_photos(photos, spec) != select_photos(photos, replace(spec, seed=1)) or len(photos) == 3
    lv = levels_for("p", "jpeg", BuildConfig(levels_per_type=3))
    assert lv == levels_for("p", "jpeg", BuildConfig(levels_per_type=3)) and len(set(lv)) == 3


def test_bad_specs_and_folders_are_named(tmp_path):
    with pytest.raises(ValueError, match="levels_per_type"):
        BuildConfig(levels_per_type=6)
    with pytest.raises(FileNotFoundError, match="photos folder not found"):
        build_dataset(tmp_path / "nope", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no photos"):
        build_dataset(tmp_path / "empty", tmp_path / "out")


def test_a_corrupt_photo_stops_the_build_naming_it(photos_dir, tmp_path):
    d = tmp_path / "photos"
    shutil.copytree(photos_dir, d)
    (d / "gen_0.png").write_bytes(b"")
    with pytest.raises(ValueError, match=r"gen_0\.png: empty file"):
        build_dataset(d, tmp_path / "out", BuildConfig(long_side=96, max_photos=4, levels_per_type=1, workers=1),
                      progress=False)
