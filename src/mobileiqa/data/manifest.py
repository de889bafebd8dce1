"""The manifest: one schema for every dataset (the default synthetic one and every real-dataset adapter).

A manifest is a CSV file of images with their labels, paths relative to a dataset root. Columns:

============== ======= ================================================================================
column         type    meaning
============== ======= ================================================================================
image_id       str     unique id of the image within the dataset
path           str     POSIX path relative to the dataset root (never absolute, never escaping the root)
dataset        str     dataset name (``default``, ``koniq10k``, ...)
content_id     str     id of the scene; all versions of a scene share it (splits are disjoint by it)
split          str     ``train`` / ``val`` / ``test``
mos            float   normalised MOS in [0, 1], higher is better
mos_raw        float   MOS on the dataset's published scale
mos_transform  str     how ``mos`` was made from ``mos_raw``: ``scale:LO:HI`` = (raw - LO) / (HI - LO),
                       ``reverse:LO:HI`` = (HI - raw) / (HI - LO) for lower-is-better scales
mos_std        float   standard deviation of the opinions, in normalised units (empty when unpublished)
num_ratings    int     number of opinions (0 when unpublished)
width, height  int     size in display orientation (after EXIF rotation)
dist_type      str     distortion type name for synthetic data (``mix:a+b[+c]`` for a mixture of several, in the
                       order applied), empty for authentic photos
dist_level     int     distortion level 1..5 for synthetic data (a mixture's highest), 0 otherwise
============== ======= ================================================================================

Synthetic datasets add one ``annotator_<name>`` column per simulated annotator (normalised scores).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pandas as pd

from mobileiqa.atomic import atomic_path, file_digest

SPLITS = ("train", "val", "test")
COLUMNS: dict[str, str] = {
    "image_id": "str",
    "path": "str",
    "dataset": "str",
    "content_id": "str",
    "split": "str",
    "mos": "float",
    "mos_raw": "float",
    "mos_transform": "str",
    "mos_std": "float",
    "num_ratings": "int",
    "width": "int",
    "height": "int",
    "dist_type": "str",
    "dist_level": "int",
}
ANNOTATOR_PREFIX = "annotator_"
MIX_PREFIX = "mix:"  # dist_type of a mixture: "mix:" + its components joined by "+"


def annotator_columns(frame: pd.DataFrame) -> list[str]:
    """The ``annotator_<name>`` score columns of a manifest frame, in its column order."""
    return [c for c in frame.columns if c.startswith(ANNOTATOR_PREFIX)]


class ManifestError(ValueError):
    """A manifest that breaks the schema; the message names the file, row and column."""


@dataclass(frozen=True)
class MosScale:
    """A published MOS scale and its mapping to normalised [0, 1], higher is better."""

    low: float
    high: float
    higher_is_better: bool = True

    @property
    def transform(self) -> str:
        return f"{'scale' if self.higher_is_better else 'reverse'}:{self.low:g}:{self.high:g}"

    def normalise(self, raw):
        span = self.high - self.low
        return (raw - self.low) / span if self.higher_is_better else (self.high - raw) / span

    def normalise_std(self, std):
        return std / (self.high - self.low)


def safe_relpath(path: str, where: str) -> str:
    """Validate a manifest path: relative, POSIX, inside the root."""
    p = PurePosixPath(str(path).replace("\\", "/"))
    if p.is_absolute() or ".." in p.parts or str(path).strip() == "":
        raise ManifestError(f"{where}: path {path!r} must be relative and stay inside the dataset root")
    return str(p)


def _fmt_float(x: float) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.6f}"


def write_manifest(df: pd.DataFrame, path: str | os.PathLike) -> str:
    """Write ``df`` with the schema's column order and fixed float formatting (byte-stable); returns the
    sha256 of the written file."""
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ManifestError(f"{path}: manifest lacks column(s) {missing}")
    extra = [c for c in df.columns if c not in COLUMNS and not c.startswith(ANNOTATOR_PREFIX)]
    if extra:
        raise ManifestError(f"{path}: unknown column(s) {extra}; annotator columns start with {ANNOTATOR_PREFIX!r}")
    cols = list(COLUMNS) + sorted(c for c in df.columns if c.startswith(ANNOTATOR_PREFIX))
    out = df[cols].copy()
    for c in cols:
        if COLUMNS.get(c, "float") == "float":
            out[c] = out[c].map(_fmt_float)
        elif COLUMNS[c] == "int":
            out[c] = out[c].astype("int64").astype(str)
        else:
            out[c] = out[c].fillna("").astype(str)
    with atomic_path(path) as tmp:
        out.to_csv(tmp, index=False, lineterminator="\n")
    return file_digest(path)


def read_manifest(path: str | os.PathLike) -> pd.DataFrame:
    """Read a manifest and check its schema (columns and types); errors name the file, row and column."""
    path = Path(path)
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise ManifestError(f"manifest not found: {path}") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: not a readable CSV manifest ({exc})") from None
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ManifestError(f"{path}: missing column(s) {missing}")
    for col, kind in list(COLUMNS.items()) + [(c, "float") for c in df.columns if c.startswith(ANNOTATOR_PREFIX)]:
        if kind == "str":
            continue
        converted = pd.to_numeric(df[col].replace("", "nan" if kind == "float" else None), errors="coerce")
        bad = converted.isna() & (df[col] != "") if kind == "float" else converted.isna()
        if bad.any():
            row = int(bad.idxmax())
            raise ManifestError(f"{path}: row {row + 2} column {col!r}: {df[col][row]!r} is not a valid {kind}")
        df[col] = converted.astype("float64" if kind == "float" else "int64")
    return df


def split_rows(frame: pd.DataFrame, split: str, where: str | os.PathLike, hint: str = "") -> pd.DataFrame:
    """The manifest rows of ``split`` in manifest order; a ``ValueError`` naming ``where``, the splits present and
    ``hint`` (what needs the split) when there are none."""
    rows = frame[frame["split"] == split]
    if rows.empty:
        raise ValueError(f"{where}: no {split!r} rows (splits present: {sorted(frame['split'].unique())})"
                         + (f"; {hint}" if hint else ""))
    return rows


@dataclass(frozen=True)
class PreparedDataset:
    """A folder written by the prepare stage: ``manifest.csv`` and ``dataset.json`` (source, image root, hash)."""

    manifest: Path
    root: Path  # image paths in the manifest are relative to this folder
    source: str
    manifest_sha256: str

    @classmethod
    def load(cls, folder: str | os.PathLike) -> PreparedDataset:
        folder = Path(folder)
        info_path = folder / "dataset.json"
        if not info_path.is_file():
            raise FileNotFoundError(f"{info_path} not found: run the prepare stage first (`mobileiqa prepare`)")
        info = json.loads(info_path.read_text())
        root = Path(info["root"])
        return cls(folder / "manifest.csv", root if root.is_absolute() else folder / root, info["source"],
                   info["manifest_sha256"])
