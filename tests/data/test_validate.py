"""The validation gate passes good data and fails, naming the cause, on each corrupted copy."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from mobileiqa.data.manifest import ManifestError
from mobileiqa.data.settings import ValidateConfig
from mobileiqa.data.validate import DataValidationError, run_gate


@pytest.fixture
def dataset_copy(tiny_dataset, tmp_path):
    out, _, _ = tiny_dataset
    dst = tmp_path / "ds"
    shutil.copytree(out, dst)
    return dst


def _edit(ds, fn):
    path = ds / "manifest.csv"
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df = fn(df)
    df.to_csv(path, index=False)


def test_good_data_passes_and_writes_reports(tiny_dataset, tmp_path):
    out, _, report = tiny_dataset
    summary = run_gate(out / "manifest.csv", report_dir=tmp_path / "r", progress=False)
    assert summary["success"] and summary["rows"] == report["images"]
    assert "PASSED" in (tmp_path / "r" / "report.html").read_text()


def _set(row, column, value):
    def fn(df):
        df.loc[row, column] = value
        return df
    return fn


CASES = {
    "mos_out_of_range": (_set(3, "mos", "1.7"), "expect_column_values_to_be_between(mos)"),
    "mos_missing": (_set(4, "mos", ""), "expect_column_values_to_not_be_null(mos)"),
    "duplicate_id": (lambda df: pd.concat([df, df.iloc[[5]]]), "expect_column_values_to_be_unique(image_id)"),
    "content_in_two_splits": (lambda df: _set(0, "split", "test" if df.loc[0, "split"] != "test" else "val")(df),
                              "content_splits"),
    "unknown_split": (_set(6, "split", "holdout"), "expect_column_values_to_be_in_set(split)"),
    "path_escapes_root": (_set(2, "path", "../outside.png"), "path escapes the dataset root"),
    "wrong_recorded_size": (_set(7, "width", "95"), "size_matches"),
    "split_missing": (lambda df: df.assign(split=df["split"].replace("val", "train")), "split"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_corruption_fails_naming_the_cause(dataset_copy, case):
    edit, expected = CASES[case]
    _edit(dataset_copy, edit)
    with pytest.raises(DataValidationError) as info:
        run_gate(dataset_copy / "manifest.csv", report_dir=dataset_copy / "report", progress=False)
    assert expected in str(info.value)
    assert "FAILED" in (dataset_copy / "report" / "report.html").read_text()


@pytest.mark.parametrize("damage", ["missing", "empty", "truncated", "not_an_image"])
def test_broken_files_are_listed_with_the_reason(dataset_copy, damage):
    df = pd.read_csv(dataset_copy / "manifest.csv")
    victim = dataset_copy / df.loc[1, "path"]
    data = victim.read_bytes()
    {"missing": lambda: victim.unlink(), "empty": lambda: victim.write_bytes(b""),
     "truncated": lambda: victim.write_bytes(data[: len(data) // 2]),
     "not_an_image": lambda: victim.write_text("hello")}[damage]()
    with pytest.raises(DataValidationError) as info:
        run_gate(dataset_copy / "manifest.csv", progress=False)
    assert df.loc[1, "image_id"] in str(info.value)
    assert "file_status" in str(info.value)


def test_minimum_resolution_is_enforced(tiny_dataset):
    out, _, _ = tiny_dataset
    with pytest.raises(DataValidationError, match=r"between\(width\)"):
        run_gate(out / "manifest.csv", opts=ValidateConfig(min_width=200), progress=False)


def test_schema_errors_name_row_and_column(dataset_copy):
    _edit(dataset_copy, _set(3, "mos", "good"))
    with pytest.raises(ManifestError, match=r"row 5 column 'mos': 'good'"):
        run_gate(dataset_copy / "manifest.csv", progress=False)
    _edit(dataset_copy, lambda df: df.drop(columns=["split"]))
    with pytest.raises(ManifestError, match=r"missing column\(s\) \['split'\]"):
        run_gate(dataset_copy / "manifest.csv", progress=False)
