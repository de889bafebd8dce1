"""Any folder of images with a CSV of labels: the caller names the columns and the published score scale.

Options: ``csv`` (path, relative to the root unless absolute), ``image_column`` (image paths relative to the
root, or to ``image_dir``), ``mos_column``, ``scale_low``/``scale_high`` (the scale's published bounds —
never the data's min/max), ``higher_is_better``, and optionally ``std_column`` (same units as MOS),
``count_column`` (number of ratings), ``split_column`` (train/val/test or training/validation/test: used as
the official split), ``content_column`` (scene id; default: one scene per image), ``dataset`` (name written
into the manifest), ``encoding`` and ``delimiter`` (detected when not given: UTF-8 with or without BOM, else
Latin-1; comma, semicolon, tab or bar).
"""

from __future__ import annotations

import math
from pathlib import Path

from mobileiqa.data.adapters.base import Adapter, Labels, join, labels_frame, published_split, resolve
from mobileiqa.data.adapters.tables import WHERE, describe, read_csv_table, to_number
from mobileiqa.data.manifest import ManifestError, MosScale

OPTIONS = {
    "csv": None, "image_column": None, "mos_column": None, "scale_low": None, "scale_high": None,
    "higher_is_better": True, "std_column": None, "count_column": None, "split_column": None,
    "content_column": None, "image_dir": "", "dataset": "folder_csv", "encoding": None, "delimiter": None,
}
REQUIRED = ("csv", "image_column", "mos_column", "scale_low", "scale_high")


def _count(cell, where: str) -> int:
    value = to_number(cell, where, "rating count", allow_empty=True)
    if math.isnan(value):
        return 0
    if value < 0 or value != int(value):
        raise ManifestError(f"{where}: rating count {cell!r} is not a non-negative whole number")
    return int(value)


def read_folder_csv(root: Path, **opts) -> Labels:
    missing = [k for k in REQUIRED if opts[k] is None]
    if missing:
        raise TypeError(f"folder_csv: missing option(s) {missing} (the scale bounds are the published ones, "
                        "e.g. scale_low=1, scale_high=5)")
    low, high = float(opts["scale_low"]), float(opts["scale_high"])
    if not low < high:
        raise ValueError(f"folder_csv: scale_low ({low:g}) must be below scale_high ({high:g}); "
                         "use higher_is_better=False for scales where lower is better")
    scale = MosScale(low, high, bool(opts["higher_is_better"]))
    path = resolve(root, opts["csv"])
    label = describe(path, root)
    columns = {k: opts[k] for k in ("image_column", "mos_column", "std_column", "count_column", "split_column",
                                    "content_column") if opts[k] is not None}
    table = read_csv_table(path, label, list(dict.fromkeys(columns.values())), encoding=opts["encoding"],
                           delimiter=opts["delimiter"])
    df = table.frame
    wheres = [f"{label}, {w}" for w in df[WHERE]]
    names = [join(opts["image_dir"], n) for n in df[opts["image_column"]]]
    fields = {"path": names, "image_id": names, "mos": df[opts["mos_column"]]}
    if opts["std_column"]:
        fields["std"] = df[opts["std_column"]]
    if opts["count_column"]:
        fields["num_ratings"] = [_count(c, w) for c, w in zip(df[opts["count_column"]], wheres, strict=True)]
    if opts["content_column"]:
        fields["content_id"] = df[opts["content_column"]]
    if opts["split_column"]:
        fields["split"] = [published_split(s, w) for s, w in zip(df[opts["split_column"]], wheres, strict=True)]
    rows = labels_frame(df, label, **fields)
    info = {"labels": [label], "columns": columns, **table.details}
    if opts["split_column"]:
        info["split_source"] = f"given: {opts['split_column']!r} column of {label}"
    return Labels(rows, scale, info, official_split=bool(opts["split_column"]))


ADAPTER = Adapter(
    name="folder_csv", read=read_folder_csv, options=OPTIONS, scale=None, publishes_split=False,
    description="a folder of images and a CSV; columns and the published scale bounds given as options",
)
