"""Phone-camera families in the default dataset build: opt-in by name, labelled with the per-annotator maps alone
(KADID's labels do not move), described in the card with a contact sheet each, and held out as groups."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mobileiqa.data import families
from mobileiqa.data.build import build_dataset, types_for
from mobileiqa.data.distortions import DISTORTIONS
from mobileiqa.data.families import group_of, phone_families, types_in
from mobileiqa.data.manifest import read_manifest
from mobileiqa.data.phone import FAMILIES
from mobileiqa.data.settings import BuildConfig
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


def test_types_per_photo_spreads_a_seeded_subset_of_all_types_over_the_photos(tiny_dataset, photos_dir, tmp_path):
    _, spec, _ = tiny_dataset
    spec = replace(spec, phone_families=("all",), types_per_photo=6)
    report = build_dataset(photos_dir, tmp_path, spec, progress=False)
    df = read_manifest(tmp_path / "manifest.csv")
    per_photo = df.groupby("content_id")["dist_type"].agg(lambda t: tuple(sorted(t)))
    assert all(len(t) == len(set(t)) == 6 for t in per_photo) and per_photo.nunique() == len(per_photo) == 3
    every = [n for n in DISTORTIONS] + phone_families(("all",))
    assert set(df["dist_type"]) <= set(every) and report["images"] == 3 * 6
    for photo, chosen in per_photo.items():  # the same draw again, and independent of the other photos
        assert tuple(sorted(types_for(photo, every, spec))) == chosen
    assert types_for("p", every, replace(spec, types_per_photo=0)) == every
    assert "Types per photo: 6" in (tmp_path / "DATASET.md").read_text()
    with pytest.raises(ValueError, match="types_per_photo"):
        BuildConfig(types_per_photo=-1)


def test_kinds_and_held_out_sets_of_every_phone_or_kadid_group(phone_build):
    out, _, _ = phone_build
    df = read_manifest(out / "manifest.csv")
    assert families.kind_of("jpeg") == "kadid" and families.kind_of("webp") == "phone"
    assert families.kind_of("mix:camera_shake+jpeg") == "mixture" == families.type_label("mix:webp+jpeg")
    assert families.type_label("webp") == "webp" and families.types_in("phone") == set(FAMILIES)
    assert families.touches("mix:camera_shake+jpeg", "phone") and families.touches("mix:camera_shake+jpeg", "kadid")
    assert not families.touches("jpeg", "phone")
    held = leave_group_out(df, "phone")  # "new families only": trained without any phone family
    assert set(held.loc[held["split"] == "test", "dist_type"]) == set(FAMS)
    assert not held.loc[held["split"] != "test", "dist_type"].isin(FAMS).any()
    with pytest.raises(ValueError, match="'phones'"):
        families.groups_in("phones")


def test_label_sanity_reads_the_level_trend_across_photos_when_each_has_one_level():
    from mobileiqa.data.build import phone_label_sanity

    levels = np.array([1, 2, 3, 4, 5, 1, 3, 5])
    df = pd.DataFrame({"image_id": [f"p{i}_webp_{lv}" for i, lv in enumerate(levels)], "dist_type": "webp",
                       "content_id": [f"p{i}" for i in range(len(levels))], "dist_level": levels,
                       "mos_raw": 5.0 - 0.7 * levels + np.linspace(0, 0.1, len(levels))})
    scores = pd.DataFrame({"a": df["mos_raw"], "b": df["mos_raw"] + 0.01 * np.arange(len(df))})
    s = phone_label_sanity(df, scores)["webp"]
    assert s["mos_falls_with_level"] is None and s["level_mos_srcc"] < -0.95  # one level per photo: no steps
    rising = phone_label_sanity(df.assign(mos_raw=1.0 + 0.7 * levels), scores)["webp"]
    assert rising["level_mos_srcc"] > 0.95
