"""UHD-IQA (Hosu et al., 2024): 6,073 aesthetically good 4K photos, expert MOS on 0–1, official split.

Published layout under the root::

    challenge/training/*.jpg (4,269), challenge/validation/*.jpg, challenge/test/*.jpg
    uhd-iqa-training-metadata.csv   image_name, quality_mos, set, orig_width, orig_height, views, likes,
                                    favorites, downloads, comments, image_bytes, user_name, page_url
    uhd-iqa-validation-metadata.csv, uhd-iqa-test-metadata.csv   (same columns)

Every ``uhd-iqa-*metadata*.csv`` in the root or in ``challenge/`` is read (or the files given as ``labels``).
``set`` (training / validation / test) is the official split and names the image folder; without a ``set``
column the file name must say which set it holds. The MOS range is very narrow (train 0.587–0.837): report
SRCC/PLCC before RMSE.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mobileiqa.data.adapters.base import SPLIT_NAMES, Adapter, Labels, image_stem, join, labels_frame, resolve
from mobileiqa.data.adapters.tables import WHERE, describe, read_csv_table
from mobileiqa.data.manifest import ManifestError, MosScale

SCALE = MosScale(0.0, 1.0)
PATTERN = "uhd-iqa-*metadata*.csv"
SETS = ("training", "validation", "test")


def _set_of(cell, where: str) -> str:
    name = str(cell).strip().lower()
    if name not in SETS:
        raise ManifestError(f"{where}: set {cell!r} is not one of {list(SETS)}")
    return name


def read_uhdiqa(root: Path, *, labels: str | list[str] | None = None, image_dir: str = "challenge") -> Labels:
    if labels is None:
        paths = sorted({p for d in (root, root / image_dir) if d.is_dir() for p in d.glob(PATTERN)})
        if not paths:
            raise ManifestError(f"uhdiqa: no {PATTERN} in {root} or {root / image_dir}; pass labels=<csv path(s)>")
    else:
        paths = [resolve(root, p) for p in ([labels] if isinstance(labels, str | Path) else labels)]
    parts, details = [], {}
    for path in paths:
        label = describe(path, root)
        table = read_csv_table(path, label, ["image_name", "quality_mos"])
        df = table.frame
        if "set" in df.columns:
            sets = [_set_of(s, f"{label}, {w}") for s, w in zip(df["set"], df[WHERE], strict=True)]
        else:
            implied = [s for s in SETS if s in path.name.lower()]
            if len(implied) != 1:
                raise ManifestError(f"{label}: no 'set' column and the file name does not say which set "
                                    f"({list(SETS)}) it holds; add the column or rename the file")
            sets = implied * len(df)
        parts.append(labels_frame(
            df, label, path=[join(f"{image_dir}/{s}", n) for s, n in zip(sets, df["image_name"], strict=True)],
            image_id=[image_stem(n) for n in df["image_name"]], mos=df["quality_mos"],
            split=[SPLIT_NAMES[s] for s in sets]))
        details[label] = table.details
    rows = pd.concat(parts, ignore_index=True)
    info = {"labels": list(details), "image_dir": image_dir, "encodings": details,
            "split_source": f"official: 'set' of {', '.join(details)}"}
    return Labels(rows, SCALE, info, official_split=True)


ADAPTER = Adapter(
    name="uhdiqa", read=read_uhdiqa, options={"labels": None, "image_dir": "challenge"}, scale=SCALE,
    publishes_split=True, description="UHD-IQA: 4K photos, MOS 0–1, official training/validation/test split",
)
