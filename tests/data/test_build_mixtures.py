"""Mixtures and regional distortions in the default dataset build: opt-in (the defaults build today's dataset),
2-3 components in camera → edit → compression order, an exact share, reproducible from their recipes, regional
images that change only their region, held out through their components, and KADID's labels unmoved."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from mobileiqa.data import families
from mobileiqa.data import mixtures as mx
from mobileiqa.data.build import _photo_key, build_dataset
from mobileiqa.data.distortions import DISTORTIONS
from mobileiqa.data.manifest import read_manifest
from mobileiqa.data.settings import BuildConfig
from mobileiqa.data.splits import leave_group_out
from mobileiqa.experiments.generalisation import holdout_manifest, present_groups, seen_unseen

FAMS = ("webp", "camera_shake", "tone_mapping_hdr")
N_SINGLE = 25 + len(FAMS)  # per photo: one level per KADID type and phone family (the tiny spec)


def _img(out, rel) -> np.ndarray:
    return np.array(Image.open(out / rel).convert("RGB"))


@pytest.fixture(scope="module")
def mix_build(tiny_dataset, photos_dir, tmp_path_factory):
    _, spec, _ = tiny_dataset
    spec = replace(spec, phone_families=FAMS, mixture_fraction=0.3, regional_fraction=0.3)
    out = tmp_path_factory.mktemp("mix") / "ds"
    report = build_dataset(photos_dir, out, spec, progress=False)
    return out, spec, report, read_manifest(out / "manifest.csv"), json.loads((out / "recipes.json").read_text())


def test_the_defaults_build_todays_dataset(tiny_dataset, photos_dir, tmp_path):
    out, spec, report = tiny_dataset
    explicit = replace(spec, mixture_fraction=0.0, regional_fraction=0.0)
    again = build_dataset(photos_dir, tmp_path / "d", explicit, progress=False)
    assert again["manifest_sha256"] == report["manifest_sha256"]
    assert (tmp_path / "d" / "build_report.json").read_bytes() == (out / "build_report.json").read_bytes()
    # prepare (the fixture) adds the local targets' section to the card that build_dataset writes
    card = (out / "DATASET.md").read_text()
    start = card.index("\n## Local targets")
    end = card.index("\n## ", start + 1)
    assert (tmp_path / "d" / "DATASET.md").read_text() == card[:start] + card[end:]
    assert not (tmp_path / "d" / "recipes.json").exists() and "mixtures" not in again
    assert "mixture_fraction" not in again["spec"]  # opt-in keys are reported (and cache-keyed) only when set
    photo = next(photos_dir.iterdir())
    assert _photo_key(photo, explicit) == _photo_key(photo, spec) != _photo_key(photo, replace(spec,
                                                                                             mixture_fraction=0.3))
    with pytest.raises(ValueError, match="data.build.mixture_fraction"):
        BuildConfig(mixture_fraction=0.95)
    with pytest.raises(ValueError, match="data.build.regional_fraction"):
        BuildConfig(regional_fraction=-0.1)


def test_mixtures_are_an_exact_share_in_slot_order(mix_build):
    out, _, report, df, recipes = mix_build
    n_mix = mx.mixture_count(N_SINGLE, 0.3)
    assert n_mix == round(0.3 * N_SINGLE / 0.7) == 12
    mix = df[df["dist_type"].map(families.is_mixture)]
    assert len(mix) == 3 * n_mix == len(recipes["mixtures"]) == report["mixtures"]["mixtures"]
    assert len(df) == 3 * (N_SINGLE + n_mix) and abs(len(mix) / len(df) - 0.3) < 0.01
    candidates, order = mx.slot_candidates(FAMS), list(mx.SLOTS)
    used = set()
    for row in mix.itertuples():
        assert row.image_id in {f"{row.content_id}_mix{i:02d}" for i in range(n_mix)}
        comps = recipes["mixtures"][row.image_id]["components"]
        slots = [order.index(c["slot"]) for c in comps]
        assert len(comps) in (2, 3) and slots == sorted(set(slots))  # one per slot, camera → edit → compression
        assert all(c["name"] in candidates[c["slot"]] and 1 <= c["level"] <= 5 for c in comps)
        assert row.dist_type == mx.mixture_name(c["name"] for c in comps)
        assert families.components(row.dist_type) == [c["name"] for c in comps]
        assert row.dist_level == max(c["level"] for c in comps) and families.group_of(row.dist_type) == "mixture"
        used.update(c["name"] for c in comps)
    assert set(FAMS) <= used and not any(DISTORTIONS[n].group == "spatial" for n in used if n in DISTORTIONS)
    assert "mixtures" in report["mixtures"]["examples"] and Image.open(out / report["mixtures"]["examples"]).width
    card = (out / "DATASET.md").read_text()
    assert "## Mixtures and regional distortions" in card and f"- {len(mix)} mixtures" in card
    assert report["mixtures"]["labels"]["images"] == len(mix)


def test_every_image_is_reproducible_from_its_recipe(mix_build):
    out, _, _, df, recipes = mix_build
    rows = df.set_index("image_id")
    for image_id, recipe in recipes["mixtures"].items():
        ref = _img(out, f"refs/{rows.loc[image_id, 'content_id']}.png")
        assert np.array_equal(mx.apply_mixture(ref, recipe["components"]), _img(out, rows.loc[image_id, "path"]))
    assert any(c["region"] for r in recipes["mixtures"].values() for c in r["components"])  # regional ones too


def test_rebuild_is_byte_identical(mix_build, photos_dir, tmp_path):
    out, spec, report, _, _ = mix_build
    again = build_dataset(photos_dir, tmp_path / "again", spec, progress=False)
    assert again["manifest_sha256"] == report["manifest_sha256"]
    assert (tmp_path / "again" / "recipes.json").read_bytes() == (out / "recipes.json").read_bytes()
    first = sorted(p.relative_to(out) for p in out.rglob("*.png"))
    assert first == sorted(p.relative_to(tmp_path / "again") for p in (tmp_path / "again").rglob("*.png"))
    assert all((out / p).read_bytes() == (tmp_path / "again" / p).read_bytes() for p in first)


def test_regional_images_change_their_region_only(mix_build):
    out, _, report, df, recipes = mix_build
    regional = df[df["image_id"].str.endswith("_region")]
    assert len(regional) == 3 * round(0.3 * N_SINGLE) == len(recipes["regional"]) == report["mixtures"][
        "regional_images"]
    differs = 0
    for row in regional.itertuples():
        recipe = recipes["regional"][row.image_id]
        assert row.dist_type == recipe["name"] and row.dist_level == recipe["level"]
        assert row.image_id.removesuffix("_region").endswith(f"_{recipe['level']}")
        ref, img = _img(out, f"refs/{row.content_id}.png"), _img(out, row.path)
        mask = mx.region_mask(recipe["region"], *ref.shape[:2])
        assert 0.2 <= mask.mean() <= 0.6 and recipe["coverage"] == round(float(mask.mean()), 4)
        inside, outside = mask == 1, mask == 0
        assert inside.sum() > 0.1 * mask.size and outside.sum() > 0.2 * mask.size
        whole = mx.apply_one(ref, recipe["name"], recipe["level"], recipe["photo_key"])
        assert np.array_equal(img[inside], whole[inside]) and np.array_equal(img[outside], ref[outside])
        differs += not np.array_equal(img[inside], ref[inside])
    assert differs >= 0.9 * len(regional)
    coverages = [c["coverage"] for r in recipes["mixtures"].values() for c in r["components"] if c["region"]]
    assert coverages and all(0.2 <= c <= 0.6 for c in coverages)


def test_a_held_out_group_leaves_training_in_every_mixture(mix_build):
    _, _, _, df, _ = mix_build
    codec = families.types_in("codec")
    has_codec = df["dist_type"].map(lambda t: bool(codec & set(families.components(t))))
    assert (has_codec & df["dist_type"].map(families.is_mixture) & (df["split"] != "test")).any()
    held = leave_group_out(df, "codec")
    train = held[held["split"] != "test"]
    assert not train["dist_type"].map(lambda t: bool(codec & set(families.components(t)))).any()
    assert len(train) == ((df["split"] != "test") & ~has_codec).sum()
    assert set(held.loc[held["split"] == "test", "dist_type"]) == {"webp"}
    # the benchmark agrees: no codec component in training; unseen = webp alone, seen = tests without codec
    kept = holdout_manifest(df, "codec")
    assert kept[kept["split"] != "test"]["image_id"].tolist() == train["image_id"].tolist()
    test = df[df["split"] == "test"]
    seen, unseen = seen_unseen(test, "codec")
    assert set(test.loc[unseen, "dist_type"]) == {"webp"} and not has_codec[test.index[seen]].any()
    assert (~seen & ~unseen).sum() == (has_codec & df["dist_type"].map(families.is_mixture)
                                       & (df["split"] == "test")).sum() > 0
    assert "mixture" not in present_groups(df) and "codec" in present_groups(df)
    with pytest.raises(ValueError, match="unknown distortion type"):
        families.components("mix:webp")
    with pytest.raises(ValueError, match="unknown group"):
        leave_group_out(df, "mixture")


def test_mixtures_do_not_move_kadid_or_phone_labels(tiny_dataset, photos_dir, tmp_path):
    _, spec, _ = tiny_dataset
    phone = replace(spec, phone_families=FAMS)
    build_dataset(photos_dir, tmp_path / "p", phone, progress=False)
    build_dataset(photos_dir, tmp_path / "m", replace(phone, mixture_fraction=0.3), progress=False)
    base = read_manifest(tmp_path / "p" / "manifest.csv").set_index("image_id")
    mixed = read_manifest(tmp_path / "m" / "manifest.csv").set_index("image_id")
    assert len(mixed) - len(base) == 3 * mx.mixture_count(N_SINGLE, 0.3)
    assert np.allclose(mixed.loc[base.index, "mos"], base["mos"], atol=1e-9)  # calibrated on KADID cells only
    assert (tmp_path / "p" / "calibration.json").read_bytes() == (tmp_path / "m" / "calibration.json").read_bytes()
    assert all((tmp_path / "p" / p).read_bytes() == (tmp_path / "m" / p).read_bytes() for p in base["path"])
