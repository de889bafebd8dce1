"""Phone-camera families in the default dataset build: opt-in by name, labelled with the per-annotator maps alone
(KADID's labels do not move), described in the card with a contact sheet each, and held out as groups."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from mobileiqa.data.build import build_dataset
from mobileiqa.data.families import group_of, phone_families, types_in
from mobileiqa.data.manifest import read_manifest
from mobileiqa.data.phone import FAMILIES
from mobileiqa.data.splits import leave_group_out

FAMS = ("webp", "banding")


@pytest.fixture(scope="module")
def phone_build(tiny_dataset, photos_dir, tmp_path_factory):
    _, spec, _ = tiny_dataset
    spec = replace(spec, phone_families=FAMS, levels_per_type=2)
    out = tmp_path_factory.mktemp("phone")
    return out, spec, build_dataset(photos_dir, out, spec, progress=False)


def test_phone_families_add_rows_without_moving_kadid_labels(phone_build, photos_dir, tmp_path):
    out, spec, report = phone_build
    df = read_manifest(out / "manifest.csv")
    phone = df[df["dist_type"].isin(FAMS)]
    assert len(phone) == 3 * len(FAMS) * 2 == report["images"] - 3 * 25 * 2
    expected = phone["content_id"] + "_" + phone["dist_type"] + "_" + phone["dist_level"].astype(str)
    assert (phone["image_id"] == expected).all()
    assert phone["mos"].between(0, 1).all() and (phone["mos"] < df["mos"].max()).all()
    kadid_only = build_dataset(photos_dir, tmp_path, replace(spec, phone_families=()), progress=False)
    base = read_manifest(tmp_path / "manifest.csv").set_index("image_id")
    assert kadid_only["images"] == len(base) == report["images"] - len(phone)
    kadid = df[~df["dist_type"].isin(FAMS)].set_index("image_id")
    assert np.allclose(kadid.loc[base.index, "mos"], base["mos"], atol=1e-9)  # calibrated on KADID cells only
    assert "0" not in json.loads((out / "calibration.json").read_text())["types"]


def test_the_card_describes_each_family_with_its_labels_and_a_contact_sheet(phone_build):
    out, _, report = phone_build
    labels = report["phone_families"]["labels"]
    assert set(labels) == set(FAMS) and all(0 <= s["mos_falls_with_level"] <= 1 for s in labels.values())
    card = (out / "DATASET.md").read_text()
    assert "## Phone-camera families" in card and "| webp | codec |" in card and FAMILIES["banding"].models in card
    for name in FAMS:
        sheet = Image.open(out / report["phone_families"]["contact_sheets"][name])
        assert sheet.width == 1200 and sheet.height > 96  # six tiles: the whole photo and a 100 % crop each


def test_groups_cover_both_registries_and_leave_group_out_holds_out_a_phone_group(phone_build):
    out, _, _ = phone_build
    df = read_manifest(out / "manifest.csv")
    assert group_of("webp") == "codec" and group_of("jpeg") == "compression" and "webp" in types_in("codec")
    held = leave_group_out(df, "codec")
    assert set(held.loc[held["split"] == "test", "dist_type"]) == {"webp"}
    assert "webp" not in set(held.loc[held["split"] != "test", "dist_type"])
    with pytest.raises(ValueError, match="unknown family 'nosuch'"):
        phone_families(("nosuch",))
    assert phone_families(("all",)) == list(FAMILIES)
