"""KonIQ-10k (Hosu et al., 2020): 10,073 in-the-wild photos, crowd MOS on 1–5 with published vote counts.

Published layout under the root::

    1024x768/<image_name>                       (also 512x384/ in the half-size release: option image_dir)
    koniq10k_distributions_sets.csv             image_name, c1..c5, c_total, MOS, SD, MOS_zscore, set
    koniq10k_scores_and_distributions.csv       the same without ``set``

The sets file is preferred: its ``set`` column (training / validation / test) is the official split. With only
the scores file the split is seeded. ``MOS`` (1–5) → ``mos``; ``SD`` → ``mos_std``; ``c_total`` (or c1+…+c5)
→ ``num_ratings``. ``MOS_zscore`` (0–100) is not used.
"""

from __future__ import annotations

from pathlib import Path

from mobileiqa.data.adapters.base import Adapter, Labels, find_labels, image_stem, join, labels_frame, published_split
from mobileiqa.data.adapters.tables import WHERE, describe, read_csv_table, to_number
from mobileiqa.data.manifest import ManifestError, MosScale

SCALE = MosScale(1.0, 5.0)
SETS_FILE = "koniq10k_distributions_sets.csv"
SCORES_FILE = "koniq10k_scores_and_distributions.csv"
VOTES = ["c1", "c2", "c3", "c4", "c5"]


def _votes(row, columns, where: str) -> int:
    if "c_total" in columns:
        cells = [row["c_total"]]
    elif set(VOTES) <= set(columns):
        cells = [row[c] for c in VOTES]
    else:
        return 0
    total = sum(to_number(c, where, "vote count") for c in cells)
    if total < 0 or total != int(total):
        raise ManifestError(f"{where}: vote count {total:g} is not a non-negative whole number")
    return int(total)


def read_koniq(root: Path, *, labels: str | None = None, image_dir: str = "1024x768") -> Labels:
    path = find_labels(root, labels, [root / SETS_FILE, root / SCORES_FILE], "koniq10k")
    label = describe(path, root)
    with_sets = path.name == SETS_FILE
    table = read_csv_table(path, label, ["image_name", "MOS", *(["set"] if with_sets else [])])
    df, cols = table.frame, list(table.frame.columns)
    wheres = [f"{label}, {w}" for w in df[WHERE]]
    official = "set" in cols
    rows = labels_frame(
        df, label,
        path=[join(image_dir, n) for n in df["image_name"]],
        image_id=[image_stem(n) for n in df["image_name"]],
        mos=df["MOS"],
        std=df["SD"] if "SD" in cols else [None] * len(df),
        num_ratings=[_votes(r, cols, w) for (_, r), w in zip(df.iterrows(), wheres, strict=True)],
        split=[published_split(s, w) for s, w in zip(df["set"], wheres, strict=True)] if official else [""] * len(df),
    )
    info = {"labels": [label], "image_dir": image_dir, **table.details}
    if official:
        info["split_source"] = f"official: 'set' column of {label}"
    return Labels(rows, SCALE, info, official_split=official)


ADAPTER = Adapter(
    name="koniq10k", read=read_koniq, options={"labels": None, "image_dir": "1024x768"}, scale=SCALE,
    publishes_split=True, description="KonIQ-10k: MOS 1–5 with SD and vote counts; official split in 'set'",
)
