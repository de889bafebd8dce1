"""Phone processing families (mobileiqa.data.phone.processing): table, shapes, determinism, seeding, monotone levels
by a simulated annotator, and each family's visible effect."""

from __future__ import annotations

import hashlib
import itertools
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from mobileiqa.data.distortions import DISTORTIONS, apply_distortion
from mobileiqa.data.phone.base import apply_family_from
from mobileiqa.data.phone.processing import FAMILIES
from tests.imagegen import make_photo

BY_NAME = {f.name: f for f in FAMILIES}
NAMES = list(BY_NAME)
#: families that draw from the seeded generator (the rest ignore ``photo_key``)
RANDOMISED = {f.name for f in FAMILIES if f.randomised}
CODECS = ["webp", "avif", "messenger_chain"]
ROOT = Path(__file__).resolve().parents[2]


def apply(image: np.ndarray, name: str, level: int, key: str = "photo") -> np.ndarray:
    return apply_family_from(BY_NAME, image, name, level, key)


def levels(image: np.ndarray, name: str, key: str = "photo") -> list[np.ndarray]:
    return [apply(image, name, lv, key) for lv in range(1, 6)]


def grey(h: int, w: int, value: float) -> np.ndarray:
    return np.full((h, w, 3), value, np.uint8)


def strictly_increasing(values) -> bool:
    return all(a < b for a, b in itertools.pairwise(values))


@pytest.fixture(scope="module")
def odd_image() -> np.ndarray:
    return np.array(make_photo(7, 131, 97))


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return np.array(make_photo(3, 256, 192))


# ------------------------------------------------------------------------------------------------ the table

def test_table():
    assert len(FAMILIES) >= 5 and len(NAMES) == len(set(NAMES))
    assert {f.group for f in FAMILIES} == {"tone", "enhance", "codec"}
    assert not set(NAMES) & set(DISTORTIONS)  # new families, none of KADID's 25
    for f in FAMILIES:
        assert isinstance(f.levels, tuple) and len(f.levels) == 5, f.name
        assert f.monotone, f.name
        assert 40 < len(f.models) < 400 and f.models.endswith("."), f.name
    assert set(RANDOMISED) | set(CODECS) <= set(NAMES)


# ----------------------------------------------------------------------------------- shapes and determinism

@pytest.mark.parametrize("name", NAMES)
def test_shape_dtype_and_bytes_repeat(name, odd_image):
    before = odd_image.copy()
    for level in (1, 3, 5):
        a, b = apply(odd_image, name, level), apply(odd_image.copy(), name, level)
        assert a.shape == odd_image.shape and a.dtype == np.uint8
        assert a.tobytes() == b.tobytes(), (name, level)
    assert np.array_equal(odd_image, before)  # the input is left alone


@pytest.mark.parametrize("name", NAMES)
def test_smallest_images_work(name):
    image = np.array(make_photo(1, 64, 64))
    assert apply(image, name, 5).shape == (64, 64, 3)


@pytest.mark.parametrize("name", NAMES)
def test_photo_key_matters_exactly_for_randomised_families(name, odd_image):
    a, b = apply(odd_image, name, 3, "one"), apply(odd_image, name, 3, "two")
    assert (not np.array_equal(a, b)) == (name in RANDOMISED)


def test_codecs_are_byte_identical_in_a_fresh_process(odd_image):
    """libwebp, libaom (one thread, fixed speed) and libjpeg give the same bytes in another process."""
    code = ("import hashlib, numpy as np; from tests.imagegen import make_photo; "
            "from mobileiqa.data.phone.base import apply_family_from; "
            "from mobileiqa.data.phone.processing import FAMILIES; F = {f.name: f for f in FAMILIES}; "
            "img = np.array(make_photo(7, 131, 97)); "
            f"print(hashlib.sha256(b''.join(apply_family_from(F, img, n, lv, 'photo').tobytes() for n in {CODECS!r} "
            "for lv in (1, 5))).hexdigest())")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    here = hashlib.sha256(b"".join(apply(odd_image, n, lv).tobytes() for n in CODECS for lv in (1, 5))).hexdigest()
    assert proc.stdout.strip() == here


# ------------------------------------------------------------------------- monotone by a simulated annotator

@pytest.fixture(scope="module")
def annotator_scores(photo) -> dict[str, dict[str, list[float]]]:
    """Every annotator's oriented score of levels 1..5 of every family on one photo, in one batch."""
    import torch

    from mobileiqa.data.annotators import score_batch

    outs = np.stack([out for name in NAMES for out in levels(photo, name)])
    distorted = torch.from_numpy(outs).permute(0, 3, 1, 2).float().div(255.0).contiguous()
    reference = torch.from_numpy(photo).permute(2, 0, 1).float().div(255.0)[None].expand_as(distorted).contiguous()
    scores = score_batch(distorted, reference)
    return {name: {a: s[5 * i:5 * i + 5].tolist() for a, s in scores.items()} for i, name in enumerate(NAMES)}


@pytest.mark.parametrize("name", NAMES)
def test_an_annotator_scores_fall_strictly_from_level_1_to_5(name, annotator_scores):
    falling = [a for a, s in annotator_scores[name].items() if strictly_increasing(s[::-1])]
    assert falling, (name, annotator_scores[name])


# ------------------------------------------------------------------------------------ what each one does

def test_tone_mapping_flattens_the_large_scale_and_leaves_halos():
    h, w = 96, 192
    image = grey(h, w, 40)
    image[:, w // 2:] = 215  # a dark and a bright half
    ref_ratio = 215 / 40
    ratios = []
    for out in levels(image, "tone_mapping_hdr"):
        luma = out.astype(np.float64).mean(axis=2)
        ratios.append(luma[:, w - 20:].mean() / luma[:, :20].mean())
    assert ratios[0] < ref_ratio and strictly_increasing(ratios[::-1])  # the halves' contrast compressed
    luma = apply(image, "tone_mapping_hdr", 5).astype(np.float64).mean(axis=2)
    assert luma[:, w // 2 - 4].mean() < luma[:, 10].mean() - 5  # dark halo on the dark side of the edge
    assert luma[:, w // 2 + 3].mean() > luma[:, w - 10].mean() + 5  # bright halo on the bright side


def test_white_balance_tints_a_grey_card_and_keeps_its_luminance():
    card = grey(64, 64, 128)
    tints = []
    for out in levels(card, "white_balance_error"):
        mean = out.reshape(-1, 3).mean(axis=0)
        tints.append(float(mean.max() - mean.min()))
        assert abs(0.2126 * mean[0] + 0.7152 * mean[1] + 0.0722 * mean[2] - 128) < 6
    assert tints[0] > 2 and tints[4] > 25 and tints[4] > 3 * tints[0]


def test_exposure_clipping_clips_more_each_level_in_linear_light(photo):
    clipped = [float((out == 255).any(axis=2).mean()) for out in levels(photo, "exposure_clipping")]
    assert strictly_increasing(clipped) and clipped[4] > 0.3
    # exactly a gain of 2^stops in linear light: sRGB 100 (linear 0.1274) at 2.2 stops is linear 0.5856, sRGB 201
    assert apply(grey(64, 64, 100), "exposure_clipping", 5)[0, 0].tolist() == [201, 201, 201]


def test_banding_posterises_a_smooth_gradient_coarsest_in_the_shadows():
    ramp = np.repeat(np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 64, axis=0), 3, axis=2)
    distinct = [len(np.unique(out[0, :, 0])) for out in levels(ramp, "banding")]
    assert distinct[0] < 256 and strictly_increasing(distinct[::-1]) and distinct[4] < 40
    steps = np.diff(apply(ramp, "banding", 5)[0, :, 0].astype(int))
    assert steps[:85].max() > 2 * steps[170:].max()  # bands widest in the shadows, unlike uniform quantisation


def test_oversharpen_halo_is_wide_unlike_kadids_sharpening():
    image = grey(64, 128, 90)
    image[:, 64:] = 140  # a vertical step edge
    overshoot = [float(out[:, 64:, 1].max()) - 140 for out in levels(image, "oversharpen_halo")]
    assert overshoot[0] > 0 and strictly_increasing(overshoot)
    ours = apply(image, "oversharpen_halo", 3)[32, :, 1].astype(int)
    kadid = apply_distortion(image, "high_sharpen", 3, "photo")[32, :, 1].astype(int)
    assert ours[68] - 140 >= 3 and ours[59] - 90 <= -3  # still well away from the plateau 4-5 px from the edge
    assert abs(kadid[68] - 140) <= 1 and abs(kadid[59] - 90) <= 1  # σ = 1: the halo is gone by then


def test_fusion_ghosting_leaves_discrete_copies():
    image = grey(96, 96, 0)
    image[40:56, 40:56] = 255  # a white square on black
    outside = np.ones((96, 96), bool)
    outside[40:56, 40:56] = False
    lit = [int((out[..., 0][outside] > 0).sum()) for out in levels(image, "fusion_ghosting")]
    assert 0 < lit[0] < lit[4]
    out = apply(image, "fusion_ghosting", 5)[..., 0]
    ghosts = np.unique(out[outside])
    assert len(ghosts) <= 4 and ghosts.max() >= 0.15 * 255  # a few flat ghost levels, not a continuous smear


def test_digital_zoom_loses_fine_detail():
    stripes = grey(96, 128, 60)
    stripes[:, 1::4] = 200
    stripes[:, 2::4] = 200  # 4-px period
    pattern = stripes[20:-20, 20:-20, 0] - stripes[20:-20, 20:-20, 0].mean()
    # how much of the stripes survives (what aliases into another frequency does not count)
    kept = [float(np.mean(out[20:-20, 20:-20, 0] * pattern) / np.mean(pattern**2))
            for out in levels(stripes, "digital_zoom")]
    assert kept[0] > 0.9 and kept[0] > kept[1] > kept[2] > 0.05 > max(abs(kept[3]), abs(kept[4]))  # gone at 3.5×


@pytest.mark.parametrize("name", CODECS)
def test_codecs_change_the_pixels_more_at_stronger_levels(name, photo):
    error = [float(np.abs(out.astype(np.float64) - photo).mean()) for out in levels(photo, name)]
    assert error[0] > 0.2 and strictly_increasing(error)


def test_avif_smears_chroma_at_level_5(photo):
    smooth = cv2.GaussianBlur(photo, (0, 0), 1.5)  # without the photo's pixel noise, which 4:2:0 drops at any level

    def chroma_error(out: np.ndarray) -> float:
        d = out.astype(np.float64) - smooth
        cb, cr = d[..., 2] - 0.5 * (d[..., 0] + d[..., 1]), d[..., 0] - d[..., 1]
        return float(np.mean(cb**2 + cr**2))

    first, last = (chroma_error(apply(smooth, "avif", lv)) for lv in (1, 5))
    assert last > 5 * first
