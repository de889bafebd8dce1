"""Dataset adapters read miniature copies of each public dataset in its published layout (tests/data/fixtures.py):
normalised MOS from the published scale, official or seeded content-disjoint splits, unusable images listed as
problems, and every metadata error raised with its file and row named."""

from __future__ import annotations

import contextlib
import csv
import math

import numpy as np
import pandas as pd
import pytest

from mobileiqa.data.adapters import ADAPTERS, load_dataset
from mobileiqa.data.adapters.kadid import DISTORTION_TYPES
from mobileiqa.data.manifest import COLUMNS, ManifestError, read_manifest, write_manifest
from tests.data import fixtures as fx

pytest.importorskip("openpyxl")

FOLDER = {"csv": "labels.csv", "image_column": "image", "mos_column": "score", "scale_low": 0, "scale_high": 10}


def assert_manifest_schema(df: pd.DataFrame) -> None:
    assert list(df.columns) == list(COLUMNS)
    assert df["mos"].between(0, 1).all()
    assert df["split"].isin(["train", "val", "test"]).all()
    assert df["image_id"].is_unique and df["path"].is_unique
    assert (df["width"] > 0).all() and (df["height"] > 0).all()


def assert_content_disjoint(df: pd.DataFrame) -> None:
    assert (df.groupby("content_id")["split"].nunique() == 1).all()


@contextlib.contextmanager
def raises_at(file: str, row: str):
    """Expect a ManifestError whose message names ``file`` and ``row``."""
    with pytest.raises(ManifestError) as info:
        yield info
    assert file in str(info.value) and row in str(info.value), str(info.value)


# --- registry -----------------------------------------------------------------------------------------------
def test_registry_names_and_unknown_inputs(tmp_path):
    assert set(ADAPTERS) == {"koniq10k", "spaq", "livec", "bid", "uhdiqa", "kadid10k", "folder_csv"}
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("koniq", tmp_path)
    fx.build_kadid(tmp_path)
    with pytest.raises(TypeError, match="unknown option"):
        load_dataset("kadid10k", tmp_path, image_folder="images")
    with pytest.raises(ManifestError, match="not a directory"):
        load_dataset("kadid10k", tmp_path / "nowhere")


# --- KonIQ-10k ----------------------------------------------------------------------------------------------
def test_koniq_official_split_mos_sd_and_votes(tmp_path):
    records = fx.build_koniq(tmp_path)
    res = load_dataset("koniq10k", tmp_path)
    df = res.frame
    assert_manifest_schema(df)
    assert len(df) == 12 and res.problems == []
    assert df["split"].tolist() == ["train"] * 8 + ["val"] * 2 + ["test"] * 2
    raw = np.array([r["MOS"] for r in records])
    np.testing.assert_allclose(df["mos"], (raw - 1) / 4)
    np.testing.assert_allclose(df["mos_raw"], raw)
    np.testing.assert_allclose(df["mos_std"], np.array([r["SD"] for r in records]) / 4)
    assert df["num_ratings"].tolist() == [r["c_total"] for r in records]
    assert df["path"].iloc[0] == "1024x768/1000.jpg" and df["image_id"].iloc[0] == "1000"
    assert (df["content_id"] == df["image_id"]).all()
    assert set(df["mos_transform"]) == {"scale:1:5"} and set(df["dataset"]) == {"koniq10k"}
    assert (df["width"] == 32).all() and (df["height"] == 24).all()
    assert (df["dist_type"] == "").all() and (df["dist_level"] == 0).all()
    assert res.info["split"].startswith("official")


def test_koniq_known_mos_values_normalise_exactly(tmp_path):
    def plant(records):
        records[0].update(MOS=1.0, SD=0.4)
        records[1].update(MOS=5.0)
        records[2].update(MOS=3.0)
    fx.build_koniq(tmp_path, edit=plant)
    df = load_dataset("koniq10k", tmp_path).frame
    assert df["mos"].iloc[:3].tolist() == [0.0, 1.0, 0.5]
    assert df["mos_std"].iloc[0] == pytest.approx(0.1)


def test_koniq_scores_file_only_gets_seeded_split(tmp_path):
    fx.build_koniq(tmp_path, sets=False)
    res = load_dataset("koniq10k", tmp_path, split_seed=3)
    assert len(res.frame) == 12 and res.info["split"].startswith("seeded")
    assert set(res.frame["split"]) == {"train", "val", "test"}


def test_official_split_can_be_replaced_by_seeded_one(tmp_path):
    fx.build_koniq(tmp_path)
    a = load_dataset("koniq10k", tmp_path, official_split=False, split_seed=1).frame
    b = load_dataset("koniq10k", tmp_path, official_split=False, split_seed=1).frame
    assert a["split"].tolist() == b["split"].tolist()  # deterministic for a seed
    assert a["split"].tolist() != ["train"] * 8 + ["val"] * 2 + ["test"] * 2


# --- unusable images ----------------------------------------------------------------------------------------
def test_unusable_images_are_listed_as_problems_not_dropped_or_fatal(tmp_path):
    fx.build_koniq(tmp_path)
    broken = {"1000.jpg": "missing", "1037.jpg": "empty", "1074.jpg": "truncated", "1111.jpg": "header",
              "1148.jpg": "text"}
    for name, how in broken.items():
        fx.corrupt(tmp_path / "1024x768" / name, how)
    res = load_dataset("koniq10k", tmp_path)
    assert len(res.frame) == 12 - len(broken)
    reasons = dict(res.problems)
    assert set(reasons) == {f"1024x768/{n}" for n in broken}
    assert "not found" in reasons["1024x768/1000.jpg"]
    assert "0 bytes" in reasons["1024x768/1037.jpg"]
    assert "truncated" in reasons["1024x768/1074.jpg"]
    assert reasons["1024x768/1111.jpg"] and "not a readable image" in reasons["1024x768/1148.jpg"]
    assert not set(res.frame["path"]) & set(reasons)
    assert res.info["images_listed"] == 12 and res.info["images_usable"] == 7


def test_decode_and_header_verification_modes(tmp_path):
    fx.build_kadid(tmp_path)
    fx.corrupt(tmp_path / "images" / "I01_01_01.png", "truncated")
    assert [p for p, _ in load_dataset("kadid10k", tmp_path, verify="decode").problems] == ["images/I01_01_01.png"]
    assert load_dataset("kadid10k", tmp_path, verify="header").problems == []  # the header alone looks fine
    with pytest.raises(ValueError, match="verify"):
        load_dataset("kadid10k", tmp_path, verify="full")


# --- SPAQ ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("underscores, image_dir", [(False, "TestImage"), (True, "img")])
def test_spaq_xlsx_names_and_image_folders(tmp_path, underscores, image_dir):
    records = fx.build_spaq(tmp_path, underscores=underscores, image_dir=image_dir)
    res = load_dataset("spaq", tmp_path, split_seed=0, resize_short_side=384)
    df = res.frame
    assert_manifest_schema(df)
    assert len(df) == 8
    np.testing.assert_allclose(df["mos"], np.array([r["MOS"] for r in records]) / 100)
    assert df["path"].iloc[0] == f"{image_dir}/00001.jpg"
    assert (df["width"].iloc[0], df["height"].iloc[0]) == (30, 40)  # EXIF orientation 6: displayed portrait
    assert (df["width"].iloc[1], df["height"].iloc[1]) == (40, 30)
    assert df["mos_std"].isna().all() and (df["num_ratings"] == 0).all()
    assert res.info["resize_short_side"] == 384 and res.info["image_dir"] == image_dir
    assert_content_disjoint(df)


def test_spaq_resize_default_and_missing_layout(tmp_path):
    fx.build_spaq(tmp_path)
    assert load_dataset("spaq", tmp_path).info["resize_short_side"] == 512
    (tmp_path / "TestImage").rename(tmp_path / "photos")
    with pytest.raises(ManifestError, match="TestImage"):
        load_dataset("spaq", tmp_path)
    assert len(load_dataset("spaq", tmp_path, image_dir="photos").frame) == 8


@pytest.mark.parametrize("value, message", [(None, "empty"), ("great", "not a number"), (101.0, "outside")])
def test_spaq_bad_mos_names_sheet_row(tmp_path, value, message):
    def plant(records):
        records[3]["MOS"] = value
    fx.build_spaq(tmp_path, edit=plant)
    with raises_at("Annotations/MOS and Image attribute scores.xlsx", "row 5") as info:
        load_dataset("spaq", tmp_path)
    assert message in str(info.value)


# --- LIVE Challenge -----------------------------------------------------------------------------------------
def test_livec_excludes_training_images(tmp_path):
    data = fx.build_livec(tmp_path)
    res = load_dataset("livec", tmp_path)
    df = res.frame
    assert_manifest_schema(df)
    assert len(df) == 8 and not df["image_id"].str.startswith("t").any()
    np.testing.assert_allclose(df["mos"], data["mos"][7:] / 100)
    np.testing.assert_allclose(df["mos_std"], data["std"][7:] / 100)
    assert df["path"].iloc[0] == "Images/3.bmp" and res.info["excluded_training_images"] == 7
    full = load_dataset("livec", tmp_path, exclude_training_images=False).frame
    assert len(full) == 15 and full["path"].iloc[0] == "Images/trainingImages/t1.bmp"


def test_livec_without_std_file_and_bad_mos_entry(tmp_path):
    fx.build_livec(tmp_path, with_std=False)
    assert load_dataset("livec", tmp_path).frame["mos_std"].isna().all()

    def nan_at_entry_10(mos):
        mos[0, 9] = np.nan
    other = tmp_path / "other"
    fx.build_livec(other, mos_edit=nan_at_entry_10)
    with raises_at("Data/AllMOS_release.mat", "entry 10"):
        load_dataset("livec", other)


def test_livec_mismatched_arrays(tmp_path):
    from scipy.io import savemat

    fx.build_livec(tmp_path)
    savemat(tmp_path / "Data" / "AllMOS_release.mat", {"AllMOS_release": np.full((1, 14), 50.0)})
    with pytest.raises(ManifestError, match=r"AllMOS_release\.mat: 14 values"):
        load_dataset("livec", tmp_path)
    savemat(tmp_path / "Data" / "AllMOS_release.mat", {"MOS": np.full((1, 15), 50.0)})
    with pytest.raises(ManifestError, match="no variable 'AllMOS_release'"):
        load_dataset("livec", tmp_path)


# --- BID ----------------------------------------------------------------------------------------------------
def test_bid_extension_case_and_scale(tmp_path):
    records = fx.build_bid(tmp_path)
    df = load_dataset("bid", tmp_path).frame
    assert_manifest_schema(df)
    assert len(df) == 8
    assert df["path"].iloc[0] == "ImageDatabase/DatabaseImage0001.JPG"
    assert df["path"].iloc[1] == "ImageDatabase/DatabaseImage0002.jpg"
    np.testing.assert_allclose(df["mos"], np.array([r["Average Subjective Grade"] for r in records]) / 5)
    assert set(df["mos_transform"]) == {"scale:0:5"}


def test_bid_missing_image_is_a_problem(tmp_path):
    fx.build_bid(tmp_path)
    (tmp_path / "ImageDatabase" / "DatabaseImage0003.JPG").unlink()
    res = load_dataset("bid", tmp_path)
    assert len(res.frame) == 7
    assert res.problems == [("ImageDatabase/DatabaseImage0003.JPG", "file not found")]


def test_bid_duplicate_and_out_of_scale_rows(tmp_path):
    def duplicate(records):
        records[5]["Image Number"] = 2
    fx.build_bid(tmp_path, edit=duplicate)
    with raises_at("DatabaseGrades.xlsx", "row 3 and row 7") as info:
        load_dataset("bid", tmp_path)
    assert "twice" in str(info.value)

    def too_high(records):
        records[2]["Average Subjective Grade"] = 6
    other = tmp_path / "other"
    fx.build_bid(other, edit=too_high)
    with raises_at("DatabaseGrades.xlsx", "row 4") as info:
        load_dataset("bid", other)
    assert "[0, 5]" in str(info.value)


# --- UHD-IQA ------------------------------------------------------------------------------------------------
def test_uhdiqa_official_split_from_set_column(tmp_path):
    records = fx.build_uhdiqa(tmp_path)
    res = load_dataset("uhdiqa", tmp_path)
    df = res.frame.set_index("image_id")
    assert_manifest_schema(res.frame)
    assert len(df) == 10 and res.frame["split"].value_counts().to_dict() == {"train": 6, "val": 2, "test": 2}
    for r in records:
        row = df.loc[r["image_name"].removesuffix(".jpg")]
        assert row["path"] == f"challenge/{r['set']}/{r['image_name']}"
        assert row["mos"] == pytest.approx(r["quality_mos"])
        assert row["split"] == {"training": "train", "validation": "val", "test": "test"}[r["set"]]
    assert set(res.frame["mos_transform"]) == {"scale:0:1"} and len(res.info["labels"]) == 3


def test_uhdiqa_bad_set_and_mos(tmp_path):
    def bad_set(records):
        records[1]["set"] = "holdout"
    fx.build_uhdiqa(tmp_path, edit=bad_set)
    with raises_at("uhd-iqa-training-metadata.csv", "line 3"):
        load_dataset("uhdiqa", tmp_path)

    def bad_mos(records):
        records[7]["quality_mos"] = 1.2
    other = tmp_path / "other"
    fx.build_uhdiqa(other, edit=bad_mos)
    with raises_at("uhd-iqa-validation-metadata.csv", "line 3"):
        load_dataset("uhdiqa", other)


# --- KADID-10k ----------------------------------------------------------------------------------------------
def test_kadid_types_levels_content_and_std(tmp_path):
    records = fx.build_kadid(tmp_path)
    df = load_dataset("kadid10k", tmp_path).frame.set_index("image_id")
    assert len(DISTORTION_TYPES) == 25 and len(set(DISTORTION_TYPES)) == 25
    assert len(df) == 45
    row = df.loc["I02_11_03"]
    assert (row["content_id"], row["dist_type"], row["dist_level"]) == ("I02", "white_noise", 3)
    assert df.loc["I01_01_05", "dist_type"] == "gaussian_blur"
    assert df.loc["I05_25_01", "dist_type"] == "contrast_change"
    for r in records[:5]:
        got = df.loc[r["dist_img"].removesuffix(".png")]
        assert got["mos"] == pytest.approx((r["dmos"] - 1) / 4)
        assert got["mos_std"] == pytest.approx(math.sqrt(r["var"]) / 4)
    assert (df["width"] == 16).all() and (df["height"] == 12).all()


def test_seeded_splits_are_content_disjoint_and_repeatable(tmp_path):
    fx.build_kadid(tmp_path)
    res = load_dataset("kadid10k", tmp_path, split_seed=7, n_splits=6, fractions=(0.6, 0.2, 0.2))
    assert_content_disjoint(res.frame)
    assert set(res.frame["split"]) == {"train", "val", "test"}
    assert len(res.repeats) == 6
    for rep in res.repeats:
        assert_content_disjoint(rep)
        assert rep.drop(columns="split").equals(res.frame.drop(columns="split"))
    assert len({tuple(r["split"]) for r in res.repeats}) > 1
    again = load_dataset("kadid10k", tmp_path, split_seed=7, n_splits=6, fractions=(0.6, 0.2, 0.2))
    assert [tuple(r["split"]) for r in again.repeats] == [tuple(r["split"]) for r in res.repeats]
    seeds = {tuple(load_dataset("kadid10k", tmp_path, split_seed=s).frame["split"]) for s in range(4)}
    assert len(seeds) > 1


@pytest.mark.parametrize("field, value, message", [
    ("dist_img", "I01-01-01.png", "does not read as"),
    ("dist_img", "I01_26_01.png", "01–25"),
    ("ref_img", "I04.png", "is not the reference"),
    ("var", "-0.2", "negative"),
    ("dmos", "5.01", "outside"),
])
def test_kadid_bad_rows(tmp_path, field, value, message):
    def plant(records):
        records[9][field] = value
    fx.build_kadid(tmp_path, edit=plant)
    with raises_at("dmos.csv", "line 11") as info:
        load_dataset("kadid10k", tmp_path)
    assert message in str(info.value)


# --- metadata errors (KonIQ's CSV as the example) -----------------------------------------------------------
@pytest.mark.parametrize("column, value, message", [
    ("MOS", "", "empty"),
    ("MOS", "nan", "empty"),
    ("MOS", "good", "not a number"),
    ("MOS", "3,5", "decimal comma"),
    ("MOS", 5.5, "outside the published scale [1, 5]"),
    ("MOS", 0.9, "outside the published scale [1, 5]"),
    ("image_name", "../escape.jpg", "inside the dataset root"),
    ("image_name", "/etc/escape.jpg", "inside the dataset root"),
    ("image_name", "", "image name is empty"),
    ("image_name", "1000.jpg", "listed twice"),
    ("set", "train-ish", "split"),
])
def test_koniq_metadata_errors_name_file_and_line(tmp_path, column, value, message):
    def plant(records):
        records[4][column] = value
    fx.build_koniq(tmp_path, edit=plant)
    with raises_at("koniq10k_distributions_sets.csv", "line 6") as info:
        load_dataset("koniq10k", tmp_path)
    assert message in str(info.value)


def test_missing_columns_are_named(tmp_path):
    fx.build_koniq(tmp_path)
    labels = tmp_path / "koniq10k_distributions_sets.csv"
    labels.write_text(labels.read_text().replace('"MOS",', '"Score",', 1))
    with pytest.raises(ManifestError, match=r"sets\.csv: missing required column\(s\) \['MOS'\].*file has .*'Score'"):
        load_dataset("koniq10k", tmp_path)


def test_missing_labels_file_says_what_to_do(tmp_path):
    fx.build_kadid(tmp_path)
    (tmp_path / "dmos.csv").unlink()
    with pytest.raises(ManifestError, match="dmos.csv: labels file not found"):
        load_dataset("kadid10k", tmp_path)
    with pytest.raises(ManifestError, match="pass labels="):
        load_dataset("koniq10k", tmp_path)


# --- folder + CSV -------------------------------------------------------------------------------------------
def test_folder_csv_with_optional_columns(tmp_path):
    records = fx.build_folder(tmp_path, edit=lambda rs: [{**r, "split": "training" if i < 4 else "test",
                                                          "n": 20 + i} for i, r in enumerate(rs)])
    res = load_dataset("folder_csv", tmp_path, **FOLDER, std_column="sd", content_column="scene",
                       split_column="split", count_column="n", dataset="mine")
    df = res.frame
    assert_manifest_schema(df)
    np.testing.assert_allclose(df["mos"], np.array([r["score"] for r in records]) / 10)
    np.testing.assert_allclose(df["mos_std"], np.array([r["sd"] for r in records]) / 10)
    assert df["content_id"].tolist() == ["s0", "s0", "s1", "s1", "s2", "s2"]
    assert df["split"].tolist() == ["train"] * 4 + ["test"] * 2
    assert df["num_ratings"].tolist() == list(range(20, 26))
    assert set(df["dataset"]) == {"mine"} and df["image_id"].iloc[0] == "photos/p0.png"


def test_folder_csv_lower_is_better_and_seeded_split(tmp_path):
    records = fx.build_folder(tmp_path)
    res = load_dataset("folder_csv", tmp_path, **FOLDER, higher_is_better=False, content_column="scene")
    np.testing.assert_allclose(res.frame["mos"], 1 - np.array([r["score"] for r in records]) / 10)
    assert set(res.frame["mos_transform"]) == {"reverse:0:10"}
    assert_content_disjoint(res.frame)


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_folder_csv_other_delimiters_are_read(tmp_path, delimiter):
    records = fx.build_folder(tmp_path, delimiter=delimiter)
    res = load_dataset("folder_csv", tmp_path, **FOLDER)
    np.testing.assert_allclose(res.frame["mos_raw"], [r["score"] for r in records])
    assert res.info["delimiter"] == delimiter


def test_folder_csv_wrong_columns_fail_clearly(tmp_path):
    fx.build_folder(tmp_path, delimiter=";")
    with pytest.raises(ManifestError, match=r"missing required column\(s\) \['quality'\].*delimiter") as info:
        load_dataset("folder_csv", tmp_path, **{**FOLDER, "mos_column": "quality"})
    assert "labels.csv" in str(info.value) and "'score'" in str(info.value)
    with pytest.raises(TypeError, match=r"missing option\(s\) \['scale_low', 'scale_high'\]"):
        load_dataset("folder_csv", tmp_path, csv="labels.csv", image_column="image", mos_column="score")
    with pytest.raises(ValueError, match="scale_low"):
        load_dataset("folder_csv", tmp_path, **{**FOLDER, "scale_low": 10, "scale_high": 0})


def test_folder_csv_wrong_delimiter_fails_clearly(tmp_path):
    fx.build_folder(tmp_path)
    with pytest.raises(ManifestError, match=r"labels\.csv: missing required column.*delimiter ';'.*image,score"):
        load_dataset("folder_csv", tmp_path, **FOLDER, delimiter=";")
    labels = tmp_path / "labels.csv"
    lines = labels.read_text().replace(",", ";").splitlines()
    lines[3] = lines[3].replace(".", ";", 1)  # an unquoted ';' inside a value on line 4
    labels.write_text("\n".join(lines) + "\n")
    with raises_at("labels.csv", "line 4") as info:
        load_dataset("folder_csv", tmp_path, **FOLDER)
    assert "5 field(s) but the header has 4" in str(info.value)


def test_folder_csv_utf8_bom_and_latin1_names(tmp_path):
    names = ["photos/café.png", "photos/naïve.png", "photos/plain.png"]
    fx.build_folder(tmp_path / "bom", encoding="utf-8-sig", names=names)
    res = load_dataset("folder_csv", tmp_path / "bom", **FOLDER)
    assert res.frame["path"].tolist() == names and res.info["encoding"] == "utf-8-sig"
    fx.build_folder(tmp_path / "latin", encoding="latin-1", names=names)
    res = load_dataset("folder_csv", tmp_path / "latin", **FOLDER)
    assert res.frame["path"].tolist() == names and res.problems == [] and res.info["encoding"] == "latin-1"


def test_folder_csv_line_numbers_count_blank_lines(tmp_path):
    fx.build_folder(tmp_path)
    lines = (tmp_path / "labels.csv").read_text().splitlines()
    lines.insert(3, "")
    lines[5] = lines[5].replace(lines[5].split(",")[1], "x")  # the 4th record, now on line 6
    (tmp_path / "labels.csv").write_text("\n".join(lines) + "\n")
    with raises_at("labels.csv", "line 6"):
        load_dataset("folder_csv", tmp_path, **FOLDER)


def test_folder_csv_ragged_row_and_header_only(tmp_path):
    fx.build_folder(tmp_path)
    with open(tmp_path / "labels.csv", "a") as f:
        f.write("photos/p9.png,5\n")
    with raises_at("labels.csv", "line 8") as info:
        load_dataset("folder_csv", tmp_path, **FOLDER)
    assert "header has 4" in str(info.value)
    (tmp_path / "labels.csv").write_text("image,score\n")
    with pytest.raises(ManifestError, match="list no images"):
        load_dataset("folder_csv", tmp_path, **FOLDER)


# --- manifest round trip ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, build", [("kadid10k", fx.build_kadid), ("koniq10k", fx.build_koniq),
                                         ("spaq", fx.build_spaq)])
def test_frames_round_trip_through_manifest(tmp_path, name, build):
    build(tmp_path / "data")
    df = load_dataset(name, tmp_path / "data").frame
    write_manifest(df, tmp_path / "manifest.csv")
    back = read_manifest(tmp_path / "manifest.csv")
    pd.testing.assert_frame_equal(back, df, check_exact=False, atol=1e-6)


def test_fixture_csv_quoting_matches_koniq(tmp_path):
    fx.build_koniq(tmp_path)
    with open(tmp_path / "koniq10k_distributions_sets.csv", newline="") as f:
        header = next(csv.reader(f))
    assert header == [*fx.KONIQ_COLUMNS, "set"]
    assert (tmp_path / "koniq10k_distributions_sets.csv").read_text().startswith('"image_name","c1"')
