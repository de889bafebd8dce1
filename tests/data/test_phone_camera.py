"""Phone camera distortion families (mobileiqa.data.phone.camera): table, determinism, shapes, level ordering by
the simulated annotators, and that each family's visible effect is what it claims."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from mobileiqa.data.annotators import score_batch
from mobileiqa.data.phone import camera
from mobileiqa.data.phone.base import apply_family_from
from mobileiqa.data.phone.camera import FAMILIES
from tests.imagegen import make_photo

BY_NAME = {f.name: f for f in FAMILIES}
NAMES = list(BY_NAME)


def apply(image: np.ndarray, name: str, level: int, photo_key: str = "photo") -> np.ndarray:
    return apply_family_from(BY_NAME, image, name, level, photo_key)


def flat(value: int, h: int = 96, w: int = 128) -> np.ndarray:
    return np.full((h, w, 3), value, np.uint8)


def tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).double().div(255.0).float()


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return np.array(make_photo(0, 256, 192))


@pytest.fixture(scope="module")
def odd_photo() -> np.ndarray:
    return np.array(make_photo(5, 131, 97))


# ------------------------------------------------------------------------------------------------------- table

def test_table_is_well_formed():
    assert len(FAMILIES) >= 5 and len(NAMES) == len(FAMILIES)
    assert {f.group for f in FAMILIES} == {"sensor", "optics"}
    for f in FAMILIES:
        assert isinstance(f.levels, tuple) and len(f.levels) == 5, f.name
        assert f.monotone, f.name
        assert 40 <= len(f.models) <= 400 and f.models.endswith("."), f.name


# ------------------------------------------------------------------------------------- contract of every family

@pytest.mark.parametrize("name", NAMES)
def test_deterministic_and_seeded_by_the_photo_key(name, odd_photo):
    before = odd_photo.copy()
    a, b = apply(odd_photo, name, 3), apply(odd_photo, name, 3)
    assert a.tobytes() == b.tobytes()
    assert np.array_equal(odd_photo, before)  # the input is not modified
    assert not np.array_equal(a, apply(odd_photo, name, 3, photo_key="another photo"))
    assert BY_NAME[name].randomised  # the flag the dataset card and tests read says so
    assert not np.array_equal(a, odd_photo)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(97, 131), (64, 64), (65, 67)])
def test_shape_and_dtype_are_kept(name, shape):
    image = np.array(make_photo(1, shape[1], shape[0]))
    for level in (1, 5):
        out = apply(image, name, level)
        assert out.shape == image.shape and out.dtype == np.uint8


@pytest.fixture(scope="module")
def annotator_scores(photo) -> dict[str, dict[str, np.ndarray]]:
    """Per family, every annotator's oriented scores of levels 1..5 of the test photo."""
    reference = tensor(photo)[None].expand(5, -1, -1, -1).contiguous()
    out = {}
    for name in NAMES:
        distorted = torch.stack([tensor(apply(photo, name, level)) for level in range(1, 6)])
        out[name] = {a: s.numpy() for a, s in score_batch(distorted, reference).items()}
    return out


@pytest.mark.parametrize("name", NAMES)
def test_quality_falls_with_the_level_for_some_annotator(name, annotator_scores):
    scores = annotator_scores[name]
    monotone = [a for a, s in scores.items() if np.all(np.diff(s) < 0)]
    assert monotone, {a: np.round(s, 4).tolist() for a, s in scores.items()}


# ------------------------------------------------------------------------------------------ what each one does

def test_sensor_noise_grows_with_the_gain_and_is_amplified_in_red_and_blue():
    stds = []
    for level in range(1, 6):
        out = apply(flat(128), "sensor_noise_isp", level).astype(np.float64)
        stds.append(out.reshape(-1, 3).std(axis=0))
        # zero-mean noise in linear light: no colour cast; at high gain the sRGB curve darkens it a little
        assert np.all(np.abs(out.reshape(-1, 3).mean(axis=0) - 128) < (1.0 if level <= 2 else 8.0))
    stds = np.array(stds)
    assert np.all(np.diff(stds, axis=0) > 0)
    assert np.all(stds[2:, 0] > stds[2:, 1]) and np.all(stds[2:, 2] > stds[2:, 1])  # white-balance gains


def texture(h: int = 96, w: int = 128, amplitude: float = 12.0) -> np.ndarray:
    """Noise-free, low-contrast fine texture (a smoothed random field, 2-3 px grain) on a grey ramp."""
    rng = np.random.default_rng(11)
    grain = cv2.GaussianBlur(rng.normal(0.0, 1.0, (h, w)), (0, 0), 1.0)
    grain *= amplitude / grain.std()
    base = np.stack([np.tile(np.linspace(60.0, 190.0, w), (h, 1))] * 3, axis=-1)
    return np.rint(np.clip(base + grain[..., None] * (1.0, 0.9, 0.8), 0, 255)).astype(np.uint8)


def test_night_denoising_smears_what_plain_sensor_noise_keeps():
    lap = np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])

    def fine_detail(image: np.ndarray) -> float:
        return float(np.var(cv2.filter2D(image.astype(np.float64), cv2.CV_64F, lap)))

    image, photons = texture(), 160.0
    noisy = camera._sensor_noise_isp(image, photons, np.random.default_rng(0))
    smeared = camera._night_denoise_smear(image, photons, np.random.default_rng(0))
    assert fine_detail(smeared) < 0.6 * fine_detail(image) and fine_detail(noisy) > fine_detail(image)


@pytest.mark.parametrize("spread", [0.6, 2.5, 8.0])
def test_shake_kernel_is_a_normalised_centred_trajectory_of_the_given_spread(spread):
    k = camera._shake_kernel(spread, np.random.default_rng(3))
    r = k.shape[0] // 2
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    assert k.shape[0] == k.shape[1] == 2 * r + 1 and abs(k.sum() - 1.0) < 1e-12 and k.min() >= 0.0
    assert abs((k * yy).sum()) < 1e-9 and abs((k * xx).sum()) < 1e-9  # centred: the image does not move
    rms = np.sqrt((k * (yy**2 + xx**2)).sum())
    assert spread <= rms <= np.sqrt(spread**2 + 0.5)  # bilinear splatting adds at most 1/2 px² of variance


def test_shake_trajectories_are_curved_not_straight_lines():
    eccentric = []
    for seed in range(8):
        k = camera._shake_kernel(6.0, np.random.default_rng(seed))
        r = k.shape[0] // 2
        yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
        cov = [[(k * yy * yy).sum(), (k * yy * xx).sum()], [(k * yy * xx).sum(), (k * xx * xx).sum()]]
        small, large = np.linalg.eigvalsh(cov)
        eccentric.append(small / large)
    assert max(eccentric) > 0.05  # a straight line has ratio ~0 (a few per cent from its width)


def test_partial_defocus_leaves_part_of_the_frame_sharp():
    def sharpness(image: np.ndarray) -> np.ndarray:
        g = image.astype(np.float64).mean(axis=2)
        energy = np.diff(g, axis=1)[:-1, :] ** 2 + np.diff(g, axis=0)[:, :-1] ** 2
        return energy[:184, :248].reshape(8, 23, 8, 31).mean(axis=(1, 3))  # 8 × 8 blocks

    image = texture(192, 256, 30.0)
    ratio = sharpness(apply(image, "defocus_partial", 5)) / sharpness(image)
    assert ratio.max() > 0.6 and ratio.min() < 0.15


def grid(h: int = 120, w: int = 160, cell: int = 8) -> np.ndarray:
    """Grey checkerboard (R = G = B) without highlights: any colour in a distorted copy comes from the channels
    moving apart."""
    yy, xx = np.mgrid[0:h, 0:w]
    return np.repeat((((yy // cell + xx // cell) % 2) * 120 + 40).astype(np.uint8)[..., None], 3, axis=2)


def test_chromatic_aberration_moves_red_and_blue_apart_more_at_the_border():
    image = grid()
    for level in (3, 5):
        out = apply(image, "chromatic_aberration", level).astype(np.float64)
        fringe = np.abs(out[..., 0] - out[..., 2])
        centre = fringe[52:68, 72:88].mean()
        border = np.concatenate([fringe[:12].ravel(), fringe[-12:].ravel(), fringe[:, :12].ravel(),
                                 fringe[:, -12:].ravel()]).mean()
        assert border > 4.0 * centre + 2.0


def test_purple_fringes_surround_highlights():
    image = flat(20)
    image[60:80, 90:115] = 255  # a highlight off-axis
    out = apply(image, "chromatic_aberration", 5).astype(np.float64)
    ring = out[52:58, 85:120].reshape(-1, 3)  # dark pixels just above the highlight
    assert ring[:, 0].mean() > ring[:, 1].mean() + 3.0 and ring[:, 2].mean() > ring[:, 1].mean() + 3.0


def test_vignetting_darkens_the_corners_more_than_the_centre():
    falloff = []
    for level in range(1, 6):
        out = apply(flat(180), "vignetting", level).astype(np.float64).mean(axis=2)
        centre = out[40:56, 56:72].mean()
        corners = np.mean([out[:6, :6].mean(), out[:6, -6:].mean(), out[-6:, :6].mean(), out[-6:, -6:].mean()])
        assert centre > 175.0
        falloff.append(corners / centre)
    assert falloff[0] < 0.95 and falloff[-1] < 0.45 and np.all(np.diff(falloff) < 0)


def test_lens_smudge_lifts_the_blacks_and_glows_around_bright_areas():
    image = flat(0)
    image[:, 64:] = 255
    lifted = []
    for level in range(1, 6):
        out = apply(image, "lens_smudge", level).astype(np.float64).mean(axis=2)
        lifted.append(out[:, :20].mean())
        assert out[:, 58:64].mean() > out[:, :20].mean() + 3.0  # glow next to the bright half
        assert out[:, 64:].mean() < 255.0
    assert lifted[0] > 5.0 and np.all(np.diff(lifted) > 0)
