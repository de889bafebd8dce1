"""Safe decoding of awkward and broken images: every case is converted correctly or rejected naming the file."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mobileiqa.data.images import ImageError, load_image, load_rgb_array, probe_image
from tests.imagegen import make_photo


@pytest.fixture
def photo():
    return make_photo(7, 64, 48)


def _save(img: Image.Image, path, **kw):
    img.save(path, **kw)
    return path


def test_greyscale_palette_cmyk_alpha_become_rgb(photo, tmp_path):
    cases = {
        "grey.png": photo.convert("L"),
        "palette.png": photo.convert("P"),
        "cmyk.jpg": photo.convert("CMYK"),
        "alpha.png": photo.convert("RGBA"),
        "la.png": photo.convert("LA"),
    }
    for name, img in cases.items():
        out = load_image(_save(img, tmp_path / name))
        assert out.mode == "RGB" and out.size == (64, 48), name


def test_transparent_pixels_are_composited_on_white(tmp_path):
    img = Image.new("RGBA", (70, 70), (255, 0, 0, 0))
    arr = load_rgb_array(_save(img, tmp_path / "clear.png"))
    assert (arr == 255).all()


def test_sixteen_bit_images_are_scaled_not_clipped(tmp_path):
    ramp = (np.linspace(0, 65535, 80 * 70).reshape(70, 80)).astype(np.uint16)
    arr = load_rgb_array(_save(Image.fromarray(ramp), tmp_path / "deep.png"))
    assert arr.dtype == np.uint8 and arr.min() == 0 and arr.max() == 255
    assert 120 < arr.mean() < 135  # a full ramp keeps its mid-grey mean


def test_exif_orientation_is_applied(photo, tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    path = _save(photo, tmp_path / "rotated.jpg", exif=exif, quality=95)
    assert probe_image(path) == (48, 64)
    assert load_image(path).size == (48, 64)


@pytest.mark.parametrize("kind", ["zero", "text", "truncated", "missing"])
def test_broken_files_raise_naming_the_file(photo, tmp_path, kind):
    path = tmp_path / f"bad_{kind}.jpg"
    if kind == "zero":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("not an image at all")
    elif kind == "truncated":
        _save(make_photo(1, 400, 300), path, quality=95)
        path.write_bytes(path.read_bytes()[:3000])
    with pytest.raises(ImageError) as info:
        load_image(path)
    assert info.value.path == str(path) and str(path) in str(info.value)


def test_decompression_bombs_are_refused(tmp_path):
    path = _save(Image.new("L", (2000, 2000)), tmp_path / "big.png")
    with pytest.raises(ImageError, match="pixel limit"):
        load_image(path, max_pixels=1_000_000)
    assert load_image(path, max_pixels=5_000_000).size == (2000, 2000)
