"""Classic NR baselines: NIQE and PIQE reproduce pyiqa's published calibration values, BRISQUE (OpenCV, LIVE
model from Debian's opencv-data) its pinned golden values; the registry, input checks, model fetching and
its errors."""

from __future__ import annotations

import hashlib
from importlib import resources

import numpy as np
import pytest
from PIL import Image, ImageFilter

from mobileiqa.eval import baselines as B
from mobileiqa.eval.baselines import brisque as brisque_mod
from mobileiqa.eval.baselines import matlab, niqe
from tests.imagegen import make_photo

NAMES = ("I03", "I04", "I06", "I08", "I19")
# pyiqa's published values ("(ours)" rows of its ResultsCalibra/calibration_summary.csv; /work/shared/DATASETS.md).
PUBLISHED = {
    "niqe": (15.6538, 3.6549, 3.2342, 3.1921, 9.0722),
    "piqe": (100.0, 21.6242, 35.8646, 41.1471, 76.9485),
}
# Our own golden values: OpenCV-contrib 5.0 QualityBRISQUE with opencv-data 4.6.0+dfsg-12's LIVE model.
# (pyiqa's BRISQUE, another model, publishes 94.6421, -0.1076, 0.9929, 5.3583, 72.2617: same ranking.)
BRISQUE_GOLDEN = (84.4627, 0.0, 1.2951, 7.9122, 83.8144)


@pytest.mark.parametrize("metric", ["niqe", "piqe"])
def test_reproduces_pyiqa_published_values(metric, calibration_images):
    baseline = B.get_baseline(metric)
    got = [baseline.score(calibration_images[n]) for n in NAMES]
    np.testing.assert_allclose(got, PUBLISHED[metric], atol=0.01, err_msg=f"{metric} on {NAMES}")


def test_brisque_golden_values(calibration_images, brisque_models):
    baseline = B.get_baseline("brisque", model_path=brisque_models[0], range_path=brisque_models[1])
    got = [baseline.score(calibration_images[n]) for n in NAMES]
    np.testing.assert_allclose(got, BRISQUE_GOLDEN, atol=0.01)


def test_every_baseline_scores_a_blurred_photo_worse_than_the_sharp_one(brisque_models):
    """Lower is better for all three: heavy blur must raise each score (its declared direction)."""
    sharp = make_photo(3, 256, 192)
    blurred = sharp.filter(ImageFilter.GaussianBlur(4))
    options = {"brisque": {"model_path": brisque_models[0], "range_path": brisque_models[1]}}
    for name in B.BASELINES:
        baseline = B.get_baseline(name, **options.get(name, {}))
        assert baseline.name == name and baseline.higher_is_better is False
        assert baseline.score(np.asarray(blurred)) > baseline.score(np.asarray(sharp)), name
    with pytest.raises(ValueError, match="unknown baseline 'ssim'.*niqe"):
        B.get_baseline("ssim")


@pytest.mark.parametrize("name", ["niqe", "piqe", "brisque"])
def test_rejects_anything_but_rgb_uint8(name):
    baseline = B.get_baseline(name)
    with pytest.raises(ValueError, match=f"{name}: expects an RGB uint8"):
        baseline.score(np.zeros((200, 200), np.uint8))
    with pytest.raises(ValueError, match="RGB uint8"):
        baseline.score(np.zeros((200, 200, 3), np.float32))


def test_blur_worsens_every_score(calibration_images, brisque_models):
    """A strong blur of the least distorted image must raise (worsen) all three scores."""
    sharp = calibration_images["I04"]
    blurred = np.asarray(Image.fromarray(sharp).filter(ImageFilter.GaussianBlur(4)))
    for baseline in (B.NIQE(), B.PIQE(), B.BRISQUE(*brisque_models)):
        assert baseline.score(blurred) > baseline.score(sharp) + 1, baseline.name


def test_niqe_needs_two_blocks_and_piqe_pads_odd_sizes(calibration_images):
    img = calibration_images["I06"]
    with pytest.raises(ValueError, match=r"two 96x96 blocks; the image is 150x95"):
        B.NIQE().score(img[:95, :150])
    assert np.isfinite(B.NIQE().score(img[:96, :192]))
    odd = B.PIQE().score(img[:381, :509])  # padded to 384x512 by replicating the last row/column
    assert 0 <= odd <= 100 and abs(odd - PUBLISHED["piqe"][2]) < 5
    assert B.PIQE().score(np.zeros((64, 64, 3), np.uint8)) == 100.0  # nothing active: the +1 terms only


def test_vendored_niqe_parameters():
    data = resources.files("mobileiqa.eval.baselines").joinpath(niqe.PARAMS_FILE).read_bytes()
    assert hashlib.sha256(data).hexdigest() == niqe.PARAMS_SHA256
    mu, cov = niqe.pristine_params()
    assert mu.shape == (36,) and cov.shape == (36, 36) and np.allclose(cov, cov.T)
    notice = resources.files("mobileiqa.eval.baselines").joinpath("NOTICE").read_text()
    assert niqe.PARAMS_SHA256 in notice and "Apache" in notice


def test_matlab_imresize_half():
    """MATLAB's antialiased bicubic halving keeps constants and linear ramps (away from the borders) and
    rounds the size up."""
    assert matlab.imresize(np.full((9, 10), 7.0), 0.5).shape == (5, 5)
    np.testing.assert_allclose(matlab.imresize(np.full((9, 10), 7.0), 0.5), 7.0)
    ramp = np.tile(np.arange(40, dtype=float), (40, 1))
    out = matlab.imresize(ramp, 0.5)
    np.testing.assert_allclose(out[:, 3:-3], np.tile(2 * np.arange(20) + 0.5, (20, 1))[:, 3:-3], atol=1e-9)


def test_score_images_reads_files_in_order(tmp_path, calibration_images):
    paths = []
    for name in ("I19", "I04"):
        paths.append(tmp_path / f"{name}.png")
        Image.fromarray(calibration_images[name]).save(paths[-1])
    np.testing.assert_allclose(B.score_images("piqe", paths, progress=False), [76.9485, 21.6242], atol=0.01)
    small = tmp_path / "small.png"
    Image.fromarray(calibration_images["I04"][:50, :50]).save(small)
    with pytest.raises(ValueError, match=r"small\.png: niqe failed"):
        B.score_images("niqe", [paths[0], small], progress=False)


# --- fetching the BRISQUE model files -------------------------------------------------------------------

def test_brisque_models_are_reused_without_apt(tmp_path, brisque_models, monkeypatch):
    out = brisque_mod._models_dir(tmp_path)
    out.mkdir(parents=True)
    for path in brisque_models:
        (out / path.name).write_bytes(path.read_bytes())

    def no_download(*a, **k):
        raise AssertionError("downloaded although verified files were cached")

    monkeypatch.setattr(brisque_mod, "download_packages", no_download)
    assert B.ensure_brisque_models(tmp_path) == (out / "brisque_model_live.yml", out / "brisque_range_live.yml")


def test_brisque_empty_apt_lists_say_run_apt_get_update(tmp_path, monkeypatch):
    (tmp_path / "lists" / "partial").mkdir(parents=True)
    (tmp_path / "lists" / "lock").touch()
    monkeypatch.setattr(brisque_mod, "APT_LISTS", tmp_path / "lists")
    with pytest.raises(B.BrisqueModelError, match=r"opencv-data=4\.6\.0\+dfsg-12.*apt-get update"):
        B.ensure_brisque_models(tmp_path / "cache")


def test_brisque_corrupt_deb_is_named(tmp_path):
    deb = tmp_path / "opencv-data_4.6.0+dfsg-12_all.deb"
    deb.write_bytes(b"not a deb")
    with pytest.raises(B.BrisqueModelError, match=r"opencv-data_4\.6\.0\+dfsg-12_all\.deb: SHA-256 .* delete"):
        B.ensure_brisque_models(tmp_path)


def test_brisque_needs_both_model_paths(tmp_path):
    with pytest.raises(ValueError, match="both model_path and range_path"):
        B.BRISQUE(model_path=tmp_path / "m.yml")
