"""KADID-10k (Lin, Hosu & Saupe, 2019): 81 pristine references × 25 distortion types × 5 levels = 10,125
synthetically distorted 512×384 PNGs, crowd DMOS on 1–5 (higher is better, despite the name).

Published layout under the root::

    images/I01.png … I81.png                  the references (not listed as rows)
    images/I01_01_01.png …                    I<reference>_<type>_<level>.png
    dmos.csv                                  dist_img, ref_img, dmos, var

``content_id`` is the reference (``I01``), so seeded splits keep every version of a scene together.
``dist_type`` comes from the file name's middle number (:data:`DISTORTION_TYPES`), ``dist_level`` from the last.
``var`` is the variance of the ratings: ``mos_std`` = sqrt(var) / 4.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from mobileiqa.data.adapters.base import Adapter, Labels, image_stem, join, labels_frame, resolve
from mobileiqa.data.adapters.tables import WHERE, describe, read_csv_table, to_number
from mobileiqa.data.distortions import DISTORTIONS
from mobileiqa.data.manifest import ManifestError, MosScale

SCALE = MosScale(1.0, 5.0)
#: KADID-10k's 25 distortion types, in the order of the file names' type number (01 … 25)
DISTORTION_TYPES = tuple(d.name for d in DISTORTIONS.values())  # one naming for real and synthetic data
NAME = re.compile(r"^(?P<ref>I\d+)_(?P<type>\d+)_(?P<level>\d+)\.(?P<ext>[A-Za-z]+)$", re.IGNORECASE)


def parse_name(name: str, where: str) -> tuple[str, str, int]:
    """``I01_07_03.png`` → ``("I01", "color_saturation_hsv", 3)``."""
    m = NAME.match(str(name))
    if not m:
        raise ManifestError(f"{where}: dist_img {name!r} does not read as I<reference>_<type>_<level>.png")
    kind, level = int(m["type"]), int(m["level"])
    if not 1 <= kind <= len(DISTORTION_TYPES) or not 1 <= level <= 5:
        raise ManifestError(f"{where}: dist_img {name!r}: type must be 01–25 and level 01–05")
    return m["ref"].upper(), DISTORTION_TYPES[kind - 1], level


def _std(cell, where: str) -> float:
    var = to_number(cell, where, "var", allow_empty=True)
    if var < 0:
        raise ManifestError(f"{where}: var {var:g} is negative")
    return math.sqrt(var)


def read_kadid(root: Path, *, labels: str = "dmos.csv", image_dir: str = "images") -> Labels:
    path = resolve(root, labels)
    label = describe(path, root)
    table = read_csv_table(path, label, ["dist_img", "ref_img", "dmos"])
    df = table.frame
    wheres = [f"{label}, {w}" for w in df[WHERE]]
    parsed = [parse_name(n, w) for n, w in zip(df["dist_img"], wheres, strict=True)]
    for (ref, _, _), listed, where in zip(parsed, df["ref_img"], wheres, strict=True):
        if image_stem(listed).upper() != ref:
            raise ManifestError(f"{where}: ref_img {listed!r} is not the reference {ref!r} named by dist_img")
    rows = labels_frame(
        df, label, path=[join(image_dir, n) for n in df["dist_img"]], image_id=[image_stem(n) for n in df["dist_img"]],
        content_id=[p[0] for p in parsed], mos=df["dmos"], dist_type=[p[1] for p in parsed],
        dist_level=[p[2] for p in parsed],
        std=[_std(v, w) for v, w in zip(df["var"], wheres, strict=True)] if "var" in df.columns else [None] * len(df),
    )
    return Labels(rows, SCALE, {"labels": [label], "image_dir": image_dir, **table.details})


ADAPTER = Adapter(
    name="kadid10k", read=read_kadid, options={"labels": "dmos.csv", "image_dir": "images"}, scale=SCALE,
    publishes_split=False,
    description="KADID-10k: 81 references × 25 types × 5 levels, DMOS 1–5 (higher is better), std = sqrt(var)",
)
