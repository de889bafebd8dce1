"""What every dataset adapter shares: the :class:`Adapter` record, :class:`AdapterResult`, and the one pipeline
from labels rows to a manifest frame.

A dataset module only reads its published files into :class:`Labels` (one row per listed image, cells as read,
each row knowing its file and line). :meth:`Adapter.load` then, for every dataset alike:

1. checks the metadata — paths stay inside the root, MOS is a number on the published scale, no image is
   listed twice — and raises :class:`~mobileiqa.data.manifest.ManifestError` naming the file and row;
2. probes every image (size in display orientation); an unusable image goes to ``problems`` with the reason,
   never crashing the load and never dropped without a trace;
3. normalises MOS with the dataset's published :class:`~mobileiqa.data.manifest.MosScale` (never per split);
4. keeps the official split where one is published, else assigns a seeded content-disjoint split, and
   optionally N repeated splits for the median-of-N protocol.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd

from mobileiqa.data.adapters.tables import WHERE, describe, is_empty, to_number
from mobileiqa.data.images import ImageError, load_image, probe_image
from mobileiqa.data.manifest import COLUMNS, SPLITS, ManifestError, MosScale, safe_relpath
from mobileiqa.data.splits import DEFAULT_FRACTIONS, assign_splits, repeated_splits

FILE = "_file"  # column of Labels.rows naming the labels file of each row
#: published split names → manifest split names
SPLIT_NAMES = {"training": "train", "train": "train", "validation": "val", "val": "val", "test": "test",
               "testing": "test"}


@dataclass
class Labels:
    """What a dataset reader hands over: one row per listed image.

    ``rows`` columns: ``path`` (relative to the root, as listed), ``image_id``, ``mos`` (raw cell), and
    optionally ``content_id``, ``std`` (raw cell, published units), ``num_ratings``, ``dist_type``,
    ``dist_level``, ``split`` (official split, manifest names), plus ``_file`` and ``_where``.
    """

    rows: pd.DataFrame
    scale: MosScale
    info: dict[str, Any] = field(default_factory=dict)
    official_split: bool = False  # rows carry the published split


@dataclass
class AdapterResult:
    """A dataset in the manifest schema (usable images only) and every image that could not be used."""

    frame: pd.DataFrame
    problems: list[tuple[str, str]] = field(default_factory=list)  # (path relative to the root, reason)
    info: dict[str, Any] = field(default_factory=dict)  # files read, scale, split source, recorded options
    repeats: list[pd.DataFrame] = field(default_factory=list)  # n_splits seeded splits (median-of-N protocol)


Reader = Callable[..., Labels]


def published_split(cell, where: str) -> str:
    """Map a published split name (``training``/``validation``/``test``) to the manifest's."""
    name = SPLIT_NAMES.get(str(cell).strip().lower()) if cell is not None else None
    if name is None:
        raise ManifestError(f"{where}: split {cell!r} is not one of training/validation/test (or train/val/test)")
    return name


def check_options(adapter: str, given: Mapping[str, Any], accepted: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(given) - set(accepted))
    if unknown:
        raise TypeError(f"{adapter}: unknown option(s) {unknown}; accepted: {sorted(accepted)}")
    return {**accepted, **given}


def resolve(root: Path, path: str | Path) -> Path:
    """A caller's path: absolute as given, else relative to the dataset root."""
    path = Path(path)
    return path if path.is_absolute() else root / path


def find_labels(root: Path, labels: str | Path | None, candidates: Sequence[Path], dataset: str,
                kind: str = "csv") -> Path:
    """The labels file of a dataset: ``labels`` (under ``root`` unless absolute) when the caller names one, else the
    first of ``candidates`` that exists; a :class:`ManifestError` naming every place looked at when none does."""
    if labels is not None:
        return resolve(root, labels)
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        raise ManifestError(f"{dataset}: no labels file in {root}; looked for "
                            f"{[describe(p, root) for p in candidates]}; pass labels=<{kind} path>")
    return path


def _where(row) -> str:
    return f"{row[FILE]}, {row[WHERE]}"


def _check_duplicates(rows: pd.DataFrame, key: pd.Series, what: str) -> None:
    dup = key.duplicated(keep=False)
    if dup.any():
        value = key[dup].iloc[0]
        first, second = rows.index[key == value][:2]
        raise ManifestError(f"{_where(rows.loc[first])} and {rows.loc[second, WHERE]}: {what} {value!r} is listed "
                            "twice; remove the duplicate row")


def _validate(rows: pd.DataFrame, scale: MosScale, scale_name: str) -> pd.DataFrame:
    """Check and convert the raw cells; the first bad row raises naming its file and line."""
    out = rows.copy()
    paths, mos, std = [], [], []
    lo, hi = min(scale.low, scale.high), max(scale.low, scale.high)
    for _, row in rows.iterrows():
        where = _where(row)
        if is_empty(row["path"]):
            raise ManifestError(f"{where}: image name is empty; fill it in or remove the row")
        paths.append(safe_relpath(row["path"], where))
        value = to_number(row["mos"], where, "MOS")
        if not lo - 1e-9 <= value <= hi + 1e-9:
            raise ManifestError(f"{where}: MOS {value:g} is outside the published scale [{lo:g}, {hi:g}] of "
                                f"{scale_name}; fix the value (or the scale bounds if they are wrong)")
        mos.append(value)
        s = to_number(row["std"], where, "standard deviation", allow_empty=True) if "std" in rows else math.nan
        if s < 0:
            raise ManifestError(f"{where}: standard deviation {s:g} is negative")
        std.append(s)
    out["path"], out["mos_raw"], out["std_raw"] = paths, mos, std
    if len(out):
        _check_duplicates(out, out["image_id"].astype(str), "image")
        _check_duplicates(out, out["path"].str.casefold(), "image file")
    return out


VERIFY = ("tail", "decode", "header")
_TAIL = 1 << 16


def _looks_complete(path: Path) -> bool:
    """Cheap truncation check: a JPEG's end-of-image or a PNG's IEND marker near the end of the file.

    Formats without such a marker, and files without it (some phones append trailers), answer False and are
    then decoded in full, so a complete file is never reported as truncated.
    """
    with open(path, "rb") as f:
        head = f.read(8)
        f.seek(max(0, path.stat().st_size - _TAIL))
        tail = f.read()
    if head.startswith(b"\xff\xd8"):
        return b"\xff\xd9" in tail
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return b"IEND" in tail
    return False


def check_image(path: Path, verify: str = "tail") -> tuple[int, int]:
    """Size of a usable image, or :class:`ImageError`. ``verify``: ``header`` reads the header only; ``tail``
    (default) also finds truncated files cheaply (see :func:`_looks_complete`); ``decode`` decodes every image."""
    size = probe_image(path)
    if verify == "decode" or (verify == "tail" and not _looks_complete(path)):
        load_image(path)
    return size


def _probe(rows: pd.DataFrame, root: Path, verify: str) -> tuple[list[tuple[int, int] | None], list]:
    sizes, problems = [], []
    for path in rows["path"]:
        try:
            sizes.append(check_image(root / path, verify))
        except ImageError as exc:
            sizes.append(None)
            problems.append((path, exc.reason))
    return sizes, problems


def to_frame(labels: Labels, dataset: str, root: Path, scale_name: str,
             verify: str = "tail") -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """Labels → manifest frame (split column filled only when official) and the problem list."""
    rows = labels.rows.reset_index(drop=True)
    if rows.empty:
        raise ManifestError(f"{dataset}: the labels list no images ({', '.join(labels.info.get('labels', []))})")
    rows = _validate(rows, labels.scale, scale_name)
    sizes, problems = _probe(rows, root, verify)
    keep = np.array([s is not None for s in sizes], dtype=bool)
    rows = rows[keep].reset_index(drop=True)
    sizes = [s for s in sizes if s is not None]
    n = len(rows)
    frame = pd.DataFrame({
        "image_id": rows["image_id"].astype(str),
        "path": rows["path"].astype(str),
        "dataset": [dataset] * n,
        "content_id": rows["content_id"].astype(str) if "content_id" in rows else rows["image_id"].astype(str),
        "split": rows["split"].astype(str) if labels.official_split else [""] * n,
        "mos": labels.scale.normalise(rows["mos_raw"].astype("float64")),
        "mos_raw": rows["mos_raw"].astype("float64"),
        "mos_transform": [labels.scale.transform] * n,
        "mos_std": labels.scale.normalise_std(rows["std_raw"].astype("float64")),
        "num_ratings": rows["num_ratings"].astype("int64") if "num_ratings" in rows else np.zeros(n, "int64"),
        "width": np.array([s[0] for s in sizes], dtype="int64"),
        "height": np.array([s[1] for s in sizes], dtype="int64"),
        "dist_type": rows["dist_type"].astype(str) if "dist_type" in rows else [""] * n,
        "dist_level": rows["dist_level"].astype("int64") if "dist_level" in rows else np.zeros(n, "int64"),
    }, columns=list(COLUMNS))
    frame["mos"] = frame["mos"].clip(0.0, 1.0)  # only float round-off: values were checked against the scale
    return frame, problems


@dataclass(frozen=True)
class Adapter:
    """One published dataset: its name, score scale, reader and options (with defaults)."""

    name: str
    read: Reader
    options: Mapping[str, Any]
    scale: MosScale | None  # None: given by the caller (folder_csv)
    publishes_split: bool
    description: str

    def load(self, root: str | Path, *, split_seed: int = 0, fractions: Sequence[float] = DEFAULT_FRACTIONS,
             n_splits: int = 1, official_split: bool = True, verify: str = "tail", **options) -> AdapterResult:
        """Read the dataset under ``root``.

        ``official_split``: keep the published split when there is one (else, or when False, a content-disjoint
        split seeded by ``split_seed`` with ``fractions`` train/val/test). ``n_splits`` > 1 also fills
        ``repeats`` with that many seeded splits (median-of-N protocol; the first seed derives from
        ``split_seed``). ``verify`` says how images are checked (:func:`check_image`). Other keyword arguments
        are the adapter's own ``options``.
        """
        root = Path(root)
        if not root.is_dir():
            raise ManifestError(f"{self.name}: dataset root {root} is not a directory")
        if verify not in VERIFY:
            raise ValueError(f"{self.name}: verify must be one of {list(VERIFY)}, got {verify!r}")
        if int(n_splits) < 1:
            raise ValueError(f"{self.name}: n_splits must be >= 1, got {n_splits}")
        opts = check_options(self.name, options, self.options)
        labels = self.read(root, **opts)
        dataset = str(opts.get("dataset") or self.name)
        frame, problems = to_frame(labels, dataset, root, dataset, verify)
        if labels.official_split and official_split:
            bad = ~frame["split"].isin(SPLITS)
            if bad.any():  # readers map published names; this guards a reader bug
                raise ManifestError(f"{self.name}: unexpected split value(s) {sorted(set(frame['split'][bad]))}")
            source = labels.info.get("split_source", "official")
        else:
            frame = assign_splits(frame, split_seed, fractions)
            source = f"seeded content-disjoint: seed {split_seed}, fractions {list(fractions)}"
        info = {"dataset": dataset, "root": str(root), "mos_transform": labels.scale.transform,
                "split": source, "verify": verify, "images_listed": len(frame) + len(problems),
                "images_usable": len(frame), **labels.info}
        repeats = repeated_splits(frame, int(n_splits), split_seed, fractions) if n_splits > 1 else []
        return AdapterResult(frame=frame, problems=problems, info=info, repeats=repeats)


def image_stem(name: str) -> str:
    """Image id from a listed file name: the last path part without its extension."""
    return PurePosixPath(str(name).replace("\\", "/")).stem or str(name)


def join(folder: str, name) -> str:
    """``folder/name`` as listed (validation happens later; an absolute ``name`` stays absolute)."""
    name = "" if name is None else str(name).replace("\\", "/")
    return str(PurePosixPath(folder) / name) if folder and name else name


def labels_frame(table_frame: pd.DataFrame, label: str, **columns) -> pd.DataFrame:
    """Assemble Labels.rows from a table: ``columns`` map row column name → list/Series of values."""
    out = pd.DataFrame({k: list(v) for k, v in columns.items()})
    out[FILE] = label
    out[WHERE] = list(table_frame[WHERE])
    return out
