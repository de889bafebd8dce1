"""KADID-10k distortions (mobileiqa.data.distortions): table, shapes, determinism, seeding, level ordering."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

from mobileiqa.data.distortions import (
    DISTORTIONS,
    GROUPS,
    RANDOMISED,
    SUBSTITUTES,
    apply_distortion,
    distortion_seed,
)

NAMES = list(DISTORTIONS)
MONOTONE = [name for name, d in DISTORTIONS.items() if d.monotone]


def synthetic_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Seeded test picture: colour gradient, 30 flat disks/rectangles, two scales of smooth texture, fine noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.stack([40 + 160 * xx / w, 60 + 140 * yy / h, 200 - 120 * (xx + yy) / (h + w)], axis=-1)
    for _ in range(30):
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(3, max(4.0, min(h, w) / 6))
        if rng.random() < 0.5:
            img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.uniform(0, 255, 3)
        else:
            img[(abs(yy - cy) < r) & (abs(xx - cx) < 1.5 * r)] = rng.uniform(0, 255, 3)
    for cell, amp in ((16, 30.0), (4, 20.0)):
        coarse = rng.normal(0, amp, (h // cell + 3, w // cell + 3, 3))
        smooth = cv2.resize(coarse, (w + 3 * cell, h + 3 * cell), interpolation=cv2.INTER_CUBIC)
        img += smooth[cell:cell + h, cell:cell + w]
    img += rng.normal(0, 5, img.shape)
    return np.rint(np.clip(img, 0, 255)).astype(np.uint8)


@pytest.fixture(scope="module")
def odd_image() -> np.ndarray:
    return synthetic_image(97, 131, seed=7)


def mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))


# ------------------------------------------------------------------------------------------------ the table

def test_table_has_kadid_ids_in_order_and_seven_groups():
    assert [d.id for d in DISTORTIONS.values()] == list(range(1, 26))
    assert all(key == d.name for key, d in DISTORTIONS.items())
    assert {d.group for d in DISTORTIONS.values()} == set(GROUPS) and len(GROUPS) == 7
    assert [d.group for d in DISTORTIONS.values()] == sorted((d.group for d in DISTORTIONS.values()),
                                                              key=GROUPS.index)  # groups are contiguous id ranges
    assert all(isinstance(d.levels, tuple) and len(d.levels) == 5 for d in DISTORTIONS.values())
    assert {name for name, d in DISTORTIONS.items() if not d.monotone} == {"mean_shift", "contrast_change"}
    assert DISTORTIONS["gaussian_blur"].levels == (0.1, 0.5, 1, 2, 5)
    assert DISTORTIONS["jpeg"].levels == (43, 36, 24, 7, 4)
    assert DISTORTIONS["contrast_change"].levels == (0, 0.15, -0.4, 0.3, -0.6)


def test_distortions_are_frozen():
    with pytest.raises(AttributeError):
        DISTORTIONS["jpeg"].levels = (1, 2, 3, 4, 5)


def test_substitutes_describe_known_types_in_one_sentence():
    assert set(SUBSTITUTES) <= set(DISTORTIONS)
    assert {"denoise", "jpeg2000", "color_quantization"} <= set(SUBSTITUTES)
    for name, text in SUBSTITUTES.items():
        assert text.endswith(".") and text.count(". ") == 0, name


def test_randomised_names_are_distortions():
    assert set(DISTORTIONS) >= RANDOMISED


# ------------------------------------------------------------------------------------------------- seeding

def test_seed_is_stable_and_hash_based():
    seed = distortion_seed("photo-001", "white_noise", 3)
    assert seed == 6763079702328428317  # pinned: must never change between runs, machines or versions
    assert 0 <= seed < 2**64
    others = {distortion_seed("photo-002", "white_noise", 3), distortion_seed("photo-001", "jpeg", 3),
              distortion_seed("photo-001", "white_noise", 4)}
    assert seed not in others and len(others) == 3


# --------------------------------------------------------------------------------------- shapes and dtypes

@pytest.mark.parametrize("name", NAMES)
def test_every_level_keeps_shape_and_dtype(name, odd_image):
    for level in range(1, 6):
        out = apply_distortion(odd_image, name, level, "odd")
        assert out.shape == odd_image.shape and out.dtype == np.uint8, (name, level)
        assert out.flags.c_contiguous


@pytest.mark.parametrize("shape", [(1, 1, 3), (5, 7, 3), (20, 13, 3)])
def test_tiny_images_work(shape):
    image = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    for name in NAMES:
        out = apply_distortion(image, name, 5, "tiny")
        assert out.shape == shape and out.dtype == np.uint8, name


# ------------------------------------------------------------------------------------------- determinism

@pytest.mark.parametrize("name", NAMES)
def test_byte_identical_on_repeat_and_on_a_copy(name, odd_image):
    before = odd_image.copy()
    first = apply_distortion(odd_image, name, 3, "photo-a")
    assert np.array_equal(odd_image, before), "input was modified"
    assert first.tobytes() == apply_distortion(odd_image, name, 3, "photo-a").tobytes()
    assert first.tobytes() == apply_distortion(odd_image.copy(), name, 3, "photo-a").tobytes()


def test_non_contiguous_input_gives_the_same_bytes(odd_image):
    padded = np.zeros((97, 131 * 2, 3), dtype=np.uint8)
    padded[:, ::2] = odd_image
    view = padded[:, ::2]
    for name in ("motion_blur", "jitter", "jpeg2000", "color_shift"):
        assert apply_distortion(view, name, 4, "k").tobytes() == apply_distortion(odd_image, name, 4, "k").tobytes()


@pytest.mark.parametrize("name", NAMES)
def test_photo_key_matters_exactly_for_random_types(name, odd_image):
    a = apply_distortion(odd_image, name, 3, "photo-a")
    b = apply_distortion(odd_image, name, 3, "photo-b")
    if name in RANDOMISED:
        assert not np.array_equal(a, b)
    else:
        assert np.array_equal(a, b)


# -------------------------------------------------------------------------------------------- level order

@pytest.fixture(scope="module")
def fidelity_images() -> list[np.ndarray]:
    return [synthetic_image(120, 160, seed) for seed in range(3)]


@pytest.mark.parametrize("name", MONOTONE)
def test_fidelity_falls_from_level_1_to_5(name, fidelity_images):
    keys = ("k0", "k1", "k2") if name in RANDOMISED else ("k0",)
    errors = [np.mean([mse(apply_distortion(img, name, level, f"{key}-{i}"), img)
                       for i, img in enumerate(fidelity_images) for key in keys]) for level in range(1, 6)]
    assert errors[4] > 1.5 * errors[0] + 5.0, (name, errors)  # level 5 clearly worse than level 1
    for weaker, stronger in itertools.pairwise(errors):
        assert stronger >= 0.9 * weaker - 0.5, (name, errors)  # never clearly better as the level rises


def test_first_levels_that_are_identities_by_table(fidelity_images):
    img = fidelity_images[0]
    for name in ("mean_shift", "contrast_change", "saturation_lab"):  # offset 0, c = 0, a/b × 1
        assert np.abs(apply_distortion(img, name, 1, "k").astype(int) - img).max() <= 1, name


def test_non_monotone_types_alternate_in_sign(fidelity_images):
    img = fidelity_images[0]
    mean = img.mean()
    shifted = [apply_distortion(img, "mean_shift", level, "k").mean() for level in range(1, 6)]
    assert shifted[1] > mean > shifted[2] and shifted[3] > shifted[1] and shifted[4] < shifted[2]
    spread = [apply_distortion(img, "contrast_change", level, "k").std() for level in range(1, 6)]
    assert spread[1] > spread[0] > spread[2] > spread[4] and spread[3] > spread[1]


# ----------------------------------------------------------------------------------- what each type does

def test_colour_distortions_do_what_they_say(fidelity_images):
    img = fidelity_images[0]
    grey = apply_distortion(img, "saturation_hsv", 4, "k")  # S × 0
    assert np.array_equal(grey[..., 0], grey[..., 1]) and np.array_equal(grey[..., 1], grey[..., 2])
    quantised = apply_distortion(img, "color_quantization", 5, "k")  # 8 colours
    assert len(np.unique(quantised.reshape(-1, 3), axis=0)) <= 8
    levels = apply_distortion(img, "quantization", 5, "k")  # 7 levels per channel
    assert all(len(np.unique(levels[..., c])) <= 7 for c in range(3))
    shifted = apply_distortion(img, "color_shift", 5, "k")
    assert np.array_equal(shifted[..., [0, 2]], img[..., [0, 2]]) and not np.array_equal(shifted, img)


def test_impulses_and_blocks(fidelity_images):
    img = fidelity_images[0]
    noisy = apply_distortion(img, "impulse_noise", 5, "k")
    changed = noisy != img
    assert set(np.unique(noisy[changed])) <= {0, 255}
    assert 0.02 < changed.mean() < 0.04  # density 0.03 (minus values that already were 0 or 255)
    blocks = apply_distortion(img, "color_block", 1, "k")
    changed = (blocks != img).any(axis=-1)
    assert 0 < changed.sum() <= 2 * 32 * 32  # two 32-px squares
    assert len(np.unique(blocks[changed], axis=0)) <= 2  # each of one flat colour


def test_brighten_and_darken_move_the_mean(fidelity_images):
    img = fidelity_images[0]
    assert apply_distortion(img, "brighten", 1, "k").mean() > img.mean()
    assert apply_distortion(img, "darken", 1, "k").mean() < img.mean()


# ------------------------------------------------------------------------------------------------- errors

@pytest.mark.parametrize("name", ["gaussian", "JPEG", "", "white noise"])
def test_unknown_name_lists_the_choices(name, odd_image):
    with pytest.raises(ValueError, match="gaussian_blur.*contrast_change"):
        apply_distortion(odd_image, name, 1, "k")


@pytest.mark.parametrize("level", [0, 6, -1, 2.0, 2.5, True, "3", None])
def test_bad_level_is_rejected(level, odd_image):
    with pytest.raises(ValueError, match=r"1\.\.5"):
        apply_distortion(odd_image, "jpeg", level, "k")


def test_numpy_integer_level_is_accepted(odd_image):
    assert np.array_equal(apply_distortion(odd_image, "jpeg", np.int64(2), "k"),
                          apply_distortion(odd_image, "jpeg", 2, "k"))


@pytest.mark.parametrize("image", [np.zeros((8, 8), np.uint8), np.zeros((8, 8, 4), np.uint8),
                                   np.zeros((8, 8, 3), np.float32), np.zeros((0, 8, 3), np.uint8), [[0, 0, 0]]])
def test_bad_image_is_rejected(image):
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
        apply_distortion(image, "jpeg", 1, "k")
