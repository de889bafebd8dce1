"""Per-region quality targets of the default dataset: local measures that agree with the scalar annotators,
the labels' calibration, files beside an untouched manifest (resume, staleness), and crop targets."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from scipy.stats import spearmanr

from mobileiqa.atomic import file_digest, write_json
from mobileiqa.config import ConfigError, load_params
from mobileiqa.data import annotators
from mobileiqa.data import local_targets_build as lt
from mobileiqa.data.annotators import ANNOTATORS, ssim_luma
from mobileiqa.data.calibration import AnnotatorMap, Calibration, TypeCorrection
from mobileiqa.data.distortions import DISTORTIONS
from mobileiqa.data.local_targets import LocalTargets, StaleLocalTargetsError, window_target
from mobileiqa.data.local_targets_build import build_local_targets
from mobileiqa.data.manifest import read_manifest, write_manifest
from mobileiqa.data.mixtures import apply_one
from mobileiqa.data.settings import LocalTargetsConfig
from tests.imagegen import make_photo

ROOT = Path(__file__).resolve().parents[2]
BLUR = DISTORTIONS["gaussian_blur"].id
# a hand-made calibration: increasing logistics onto 1-5 for oriented SSIM and (negated) GMSD, Gaussian blur
# corrected downwards
CALIBRATION = Calibration({"ssim": AnnotatorMap((5.0, 1.0, 0.75, 0.1)), "gmsd": AnnotatorMap((5.0, 1.0, -0.12, 0.04))},
                          TypeCorrection({BLUR: (-0.3, 0.9)}))
SERIAL = LocalTargetsConfig(workers=1)


def _tensor(arr: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1).float().div(255).unsqueeze(0).contiguous()


def _half_blurred(ref: np.ndarray) -> np.ndarray:
    out = ref.copy()
    w = ref.shape[1]
    out[:, w // 2:] = cv2.GaussianBlur(ref, (0, 0), 3.0)[:, w // 2:]
    return out


def _dataset(folder: Path, images: dict[str, tuple[np.ndarray, str]], ref: np.ndarray, photo: str = "p0") -> Path:
    """A default-dataset folder by hand: one reference, ``images`` (id -> (array, dist_type)), the hand-made
    calibration."""
    (folder / "refs").mkdir(parents=True)
    Image.fromarray(ref).save(folder / "refs" / f"{photo}.png")
    rows = []
    for image_id, (arr, dist_type) in images.items():
        rel = f"images/{photo}/{image_id}.png"
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(arr).save(folder / rel)
        rows.append(dict(image_id=image_id, path=rel, dataset="default", content_id=photo, split="train", mos=0.5,
                         mos_raw=3.0, mos_transform="scale:1:5", mos_std=0.1, num_ratings=2, width=arr.shape[1],
                         height=arr.shape[0], dist_type=dist_type, dist_level=3))
    write_manifest(pd.DataFrame(rows), folder / "manifest.csv")
    write_json(folder / "calibration.json", CALIBRATION.to_dict())
    return folder


@pytest.fixture
def targets_copy(tiny_dataset, tmp_path):
    """A copy of the tiny default dataset (built by the prepare stage, local targets included) to change."""
    out, _, _ = tiny_dataset
    copy = tmp_path / "ds"
    shutil.copytree(out, copy)
    return copy


# --- local measures ---------------------------------------------------------------------------------------------
def test_whole_image_measures_agree_with_the_scalar_annotators():
    """SSIM: the cells' mean is ssim_luma up to its 5-px border (measured: |diff| <= 0.004 at 512 x 384, <= 0.006
    here). GMSD: the global deviation of gms_map is piq's gmsd (4e-8); the mean local deviation (32-px box) ranks
    images like piq's gmsd (SRCC 0.95 over KADID's 25 types x 3 levels at 512 x 384) and reads lower (median ratio
    0.85, mean |diff| 0.011 on GMSD's 0-0.23 range there)."""
    ref = np.array(make_photo(3, 256, 192))
    names = ["gaussian_blur", "white_noise", "jpeg", "contrast_change", "pixelate", "saturation_hsv"]
    ssim_diff, piq_values, local_values = [], [], []
    for name in names:
        for level in (1, 3, 5):
            dist = apply_one(ref, name, level, "p")
            a, b = lt.luma(dist), lt.luma(ref)
            ssim_diff.append(abs(lt.cell_means(annotators.ssim_map(a, b), 4).mean()
                                 - float(ssim_luma(_tensor(dist), _tensor(ref))[0])))
            piq_gmsd = float(ANNOTATORS["gmsd"].measure(_tensor(dist), _tensor(ref))[0])
            assert lt.gms_map(a, b).std() == pytest.approx(piq_gmsd, abs=1e-6)
            piq_values.append(piq_gmsd)
            local_values.append(lt.cell_means(lt.local_gmsd_map(a, b, 32), 4).mean())
    piq_values, local_values = np.array(piq_values), np.array(local_values)
    some = piq_values > 1e-3
    ratio = np.median(local_values[some] / piq_values[some])
    print(f"\nSSIM cells vs ssim_luma: max |diff| {max(ssim_diff):.4f}; local vs piq GMSD: SRCC "
          f"{spearmanr(piq_values, local_values).statistic:.3f}, mean |diff| "
          f"{np.abs(piq_values - local_values).mean():.4f}, median ratio {ratio:.3f}")
    assert max(ssim_diff) < 0.008
    assert spearmanr(piq_values, local_values).statistic > 0.9
    assert np.abs(piq_values - local_values).mean() < 0.02
    assert (local_values <= piq_values + 1e-9).mean() > 0.8  # a box sees less variety than the whole image


def test_a_half_blurred_image_scores_lower_on_its_blurred_half():
    ref = np.array(make_photo(1, 192, 128))
    cells = lt.measure_cells(_half_blurred(ref), ref, ("ssim", "gmsd"), 4, 32)
    target = lt.calibrated_target(cells, CALIBRATION, BLUR)
    for m in (*cells.values(), target):
        wc = m.shape[1]
        left, right = m[:, : wc // 2 - 4], m[:, wc // 2 + 4:]  # away from the seam (GMSD's box straddles it)
        assert left.mean() > right.mean() + 0.05 * (abs(left.mean()) + 1e-3)
    assert target[:, : 20].mean() > 0.7 > 0.5 > target[:, -20:].mean()  # the blur's correction caps it at 0.8


def test_calibrated_targets_follow_the_calibration_and_lie_in_0_1():
    rng = np.random.default_rng(0)
    u = rng.uniform(0, 1, (12, 16))
    cells = {"ssim": 1.2 * u - 0.2, "gmsd": 0.4 * u - 0.4}
    for type_id in (BLUR, 0):
        target = lt.calibrated_target(cells, CALIBRATION, type_id)
        assert target.shape == (12, 16) and target.min() >= 0 and target.max() <= 1
        if type_id == 0:  # the identity correction reaches both ends (clipped)
            assert target.min() < 0.01 and target.max() > 0.9
        # each cell is the scalar labels' path: annotator maps, type correction, clip to 1-5, normalise, mean
        raw = pd.DataFrame({n: c.ravel() for n, c in cells.items()})
        scores = CALIBRATION.annotator_scores(raw, np.full(len(raw), type_id))
        assert np.allclose(target.ravel(), (scores.mean(axis=1) - 1) / 4)
    # monotone: a better raw value never gives a lower target (one annotator, sorted)
    ssim = np.sort(rng.uniform(0.3, 1.0, 200))[None]
    out = lt.calibrated_target({"ssim": ssim}, CALIBRATION, BLUR).ravel()
    assert np.all(np.diff(out) >= 0) and out[-1] > out[0]
    # the type correction moves the blur's targets below the identity's
    assert lt.calibrated_target(cells, CALIBRATION, BLUR).mean() < lt.calibrated_target(cells, CALIBRATION, 0).mean()
    assert lt.type_id_of("gaussian_blur") == BLUR and lt.type_id_of("camera_shake") == lt.type_id_of("mix:a+b") == 0


def test_calibration_round_trips_through_its_dict():
    assert Calibration.from_dict(json.loads(json.dumps(CALIBRATION.to_dict()))) == CALIBRATION


# --- files beside the dataset -----------------------------------------------------------------------------------
def test_prepare_writes_targets_beside_an_untouched_manifest(tiny_dataset, targets_copy):
    out, _, report = tiny_dataset
    info = json.loads((out / "dataset.json").read_text())
    assert info["manifest_sha256"] == report["manifest_sha256"] == file_digest(out / "manifest.csv")
    assert info["local_targets"]["images"] == report["images"]
    assert "## Local targets" in (out / "DATASET.md").read_text()
    # build_local_targets never touches manifest.csv
    shutil.rmtree(targets_copy / "local_targets")
    before = (targets_copy / "manifest.csv").read_bytes()
    built = build_local_targets(targets_copy, SERIAL, progress=False)
    assert (targets_copy / "manifest.csv").read_bytes() == before
    assert built["written"] == built["photos"] == 3
    # deterministic bytes: the prepare stage's files again
    for f in sorted((out / "local_targets").iterdir()):
        assert (targets_copy / "local_targets" / f.name).read_bytes() == f.read_bytes(), f.name
    index = json.loads((out / "local_targets" / "index.json").read_text())
    assert index["manifest_sha256"] == report["manifest_sha256"] and index["stride"] == 4
    assert sum(index["splits"].values()) == report["images"]
    targets = LocalTargets.load(out)
    df = read_manifest(out / "manifest.csv")
    assert len(targets) == len(df) and df["image_id"][0] in targets and "nope" not in targets
    means = []
    for image_id, w, h in zip(df["image_id"], df["width"], df["height"], strict=True):
        m = targets.get(image_id)
        assert m.dtype == np.float32 and m.shape == lt.cells_shape(h, w, 4) and m.min() >= 0 and m.max() <= 1
        means.append(m.mean())
    srcc = spearmanr(means, df["mos"]).statistic
    print(f"\ntiny dataset: SRCC(map mean, mos) {srcc:.3f}, mean(map mean - mos) {np.mean(means - df['mos']):+.3f}")
    assert srcc > 0.8
    with pytest.raises(KeyError, match="nope"):
        targets.get("nope")


def test_a_second_build_rewrites_nothing_and_an_interrupted_one_resumes(targets_copy):
    folder = targets_copy / "local_targets"
    mtimes = {f.name: f.stat().st_mtime_ns for f in folder.iterdir()}
    again = build_local_targets(targets_copy, SERIAL, progress=False)
    assert again["written"] == 0
    assert {f.name: f.stat().st_mtime_ns for f in folder.iterdir()} == mtimes
    first = sorted(folder.glob("*.npz"))[0]
    first.unlink()  # killed before this photo's file was written
    (folder / f".{first.name}.x.tmp").write_bytes(b"half")  # unrelated leftovers are not read as maps
    resumed = build_local_targets(targets_copy, SERIAL, progress=False)
    assert resumed["written"] == 1 and first.is_file()
    assert {f.name: f.stat().st_mtime_ns for f in folder.iterdir() if f.name in mtimes and f != first} == \
           {k: v for k, v in mtimes.items() if k != first.name}


def test_changed_settings_rebuild_and_a_stale_index_is_refused(targets_copy):
    coarse = build_local_targets(targets_copy, replace(SERIAL, stride=8), progress=False)
    assert coarse["written"] == 3
    targets = LocalTargets.load(targets_copy)
    df = read_manifest(targets_copy / "manifest.csv")
    assert targets.stride == 8
    assert targets.get(df["image_id"][0]).shape == lt.cells_shape(df["height"][0], df["width"][0], 8)
    # the manifest moved on (a rebuilt dataset): load names the index and what to run
    manifest = targets_copy / "manifest.csv"
    manifest.write_bytes(manifest.read_bytes().replace(b"train", b"val", 1))
    with pytest.raises(StaleLocalTargetsError, match=r"index\.json is stale.*manifest\.csv.*mobileiqa prepare"):
        LocalTargets.load(targets_copy)
    # a split is not what shapes a map: the files stay, the index follows the manifest
    assert build_local_targets(targets_copy, replace(SERIAL, stride=8), progress=False)["written"] == 0
    assert LocalTargets.load(targets_copy).stride == 8
    (targets_copy / "local_targets" / "index.json").unlink()
    with pytest.raises(StaleLocalTargetsError, match=r"index\.json not found"):
        LocalTargets.load(targets_copy)


def test_a_rebuild_that_fails_half_way_leaves_no_index(targets_copy):
    df = read_manifest(targets_copy / "manifest.csv")
    (targets_copy / df["path"].iloc[-1]).write_bytes(b"not a png")
    with pytest.raises(ValueError, match=df["image_id"].iloc[-1]):
        build_local_targets(targets_copy, replace(SERIAL, window=16), progress=False)
    with pytest.raises(StaleLocalTargetsError, match=r"index\.json not found"):
        LocalTargets.load(targets_copy)


def test_a_dataset_without_references_is_skipped(tmp_path):
    ref = np.array(make_photo(0, 64, 48))
    _dataset(tmp_path, {"p0_09_3": (ref, "gaussian_blur")}, ref)
    shutil.rmtree(tmp_path / "refs")
    report = build_local_targets(tmp_path, SERIAL, progress=False)
    assert "refs/" in report["skipped"] and not (tmp_path / "local_targets").exists()
    assert LocalTargets.load(tmp_path) is None


def test_config_errors_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"data\.local_targets.*data\.local_targets\.stride must be in 1\.\.64"):
        load_params(ROOT / "params.yaml", overrides=["data.local_targets.stride=0"])
    with pytest.raises(ConfigError, match=r"data\.local_targets\.window must be an even"):
        load_params(ROOT / "params.yaml", overrides=["data.local_targets.window=15"])
    ref = np.array(make_photo(0, 64, 48))
    _dataset(tmp_path, {"p0_09_3": (ref, "gaussian_blur")}, ref)
    with pytest.raises(ValueError, match=r"data\.local_targets\.annotators: \['vsi'\]"):
        build_local_targets(tmp_path, LocalTargetsConfig(annotators=("ssim", "vsi")), progress=False)


def test_cost_per_image_at_512_px(tmp_path):
    """Printed, not asserted: the time per image of a build at the default dataset's size (512 x 384)."""
    ref = np.array(make_photo(5, 512, 384))
    kinds = ["gaussian_blur", "white_noise", "jpeg", "contrast_change", "pixelate", "motion_blur", "jpeg2000",
             "saturation_hsv"]
    images = {f"p0_{DISTORTIONS[k].id:02d}_3": (apply_one(ref, k, 3, "p0"), k) for k in kinds}
    _dataset(tmp_path, images, ref)
    t0 = time.perf_counter()
    report = build_local_targets(tmp_path, SERIAL, progress=False)
    seconds = time.perf_counter() - t0
    print(f"\nlocal targets at 512 x 384: {1000 * seconds / len(images):.0f} ms per image (one process), "
          f"{report['bytes'] / len(images) / 1e3:.1f} kB per image")
    assert LocalTargets.load(tmp_path).get("p0_09_3").shape == (96, 128)


# --- crop targets -----------------------------------------------------------------------------------------------
def test_window_targets_land_where_the_crop_and_its_flips_are():
    cells = np.add.outer(100.0 * np.arange(8), np.arange(12))  # value = 100 * row + column
    assert np.array_equal(window_target(cells, (32, 48), (0, 0, 32, 48), grid=4),
                          cells.reshape(4, 2, 4, 3).mean(axis=(1, 3)))  # whole image: area means
    crop = cells[2:6, 4:8]  # pixels y 8-23, x 16-31 at stride 4
    assert np.array_equal(window_target(cells, (32, 48), (8, 16, 16, 16), grid=4), crop)
    assert np.array_equal(window_target(cells, (32, 48), (8, 16, 16, 16), hflip=True, grid=4), crop[:, ::-1])
    assert np.array_equal(window_target(cells, (32, 48), (8, 16, 16, 16), vflip=True, grid=4), crop[::-1])
    assert np.array_equal(window_target(cells, (32, 48), (8, 16, 16, 16), True, True, grid=4), crop[::-1, ::-1])
    # the image as fed to the model is twice the dataset image: the same crop in its pixels
    assert np.array_equal(window_target(cells, (64, 96), (16, 32, 32, 32), grid=4), crop)
    # fewer cells than the grid: each cell fills its share; more: area means
    assert np.array_equal(window_target(cells, (32, 48), (8, 16, 8, 8), grid=4), np.kron(cells[2:4, 4:6],
                                                                                         np.ones((2, 2))))
    assert np.allclose(window_target(cells, (32, 48), (8, 16, 16, 16), grid=2), crop.reshape(2, 2, 2, 2).mean((1, 3)))
    out = window_target(cells.astype(np.float16), (32, 48), (0, 0, 32, 48))
    assert out.dtype == np.float32 and out.shape == (8, 8) and out.flags.c_contiguous
    with pytest.raises(ValueError, match="does not lie inside the 32x48 image"):
        window_target(cells, (32, 48), (24, 0, 16, 16))
