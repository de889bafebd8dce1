"""LIVE In the Wild Image Quality Challenge (LIVEC; Ghadiyaram & Bovik, 2016): 1,169 photos, MOS on 0–100.

Published layout under the root::

    Images/<name>                        (the 7 training images t1.bmp…t7.bmp in Images/trainingImages/)
    Data/AllImages_release.mat           variable AllImages_release: cell array of 1,169 names
    Data/AllMOS_release.mat              variable AllMOS_release: 1×1169 MOS
    Data/AllStdDev_release.mat           variable AllStdDev_release: 1×1169 SD (optional)

The first 7 entries (``t1.bmp``…``t7.bmp``) are the annotators' training images and are excluded by default,
leaving the customary 1,162 (``exclude_training_images=False`` keeps them). Rows are named ``entry N`` (1-based
position in the MATLAB arrays).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from mobileiqa.data.adapters.base import FILE, Adapter, Labels, image_stem, join
from mobileiqa.data.adapters.tables import WHERE, describe, mat_numbers, mat_strings, read_mat_variable
from mobileiqa.data.manifest import ManifestError, MosScale

SCALE = MosScale(0.0, 100.0)
NAMES = ("Data/AllImages_release.mat", "AllImages_release")
MOS = ("Data/AllMOS_release.mat", "AllMOS_release")
STD = ("Data/AllStdDev_release.mat", "AllStdDev_release")
TRAINING = re.compile(r"^t\d+\.bmp$", re.IGNORECASE)


def read_livec(root: Path, *, exclude_training_images: bool = True, image_dir: str = "Images") -> Labels:
    def variable(spec, kind):
        label = describe(root / spec[0], root)
        array = read_mat_variable(root / spec[0], spec[1], label)
        return label, (mat_strings if kind == "names" else mat_numbers)(array, label)

    names_label, names = variable(NAMES, "names")
    mos_label, mos = variable(MOS, "numbers")
    files = [names_label, mos_label]
    std = [None] * len(names)
    if (root / STD[0]).is_file():
        std_label, std = variable(STD, "numbers")
        files.append(std_label)
    for label, values in zip(files[1:], [mos, std][:len(files) - 1], strict=True):
        if len(values) != len(names):
            raise ManifestError(f"{label}: {len(values)} values but {names_label} lists {len(names)} names; "
                                "use files from the same release")
    training = [bool(TRAINING.match(n)) for n in names]
    keep = [not (t and exclude_training_images) for t in training]
    train_dir = f"{image_dir}/trainingImages"
    paths = [join(train_dir if t and (root / train_dir / n).is_file() else image_dir, n)
             for n, t in zip(names, training, strict=True)]
    rows = pd.DataFrame({"path": paths, "image_id": [image_stem(n) for n in names], "mos": mos, "std": std,
                         FILE: mos_label,
                         WHERE: [f"entry {i} (name {n!r} in {names_label})" for i, n in enumerate(names, start=1)]})
    rows = rows[keep].reset_index(drop=True)
    info = {"labels": files, "image_dir": image_dir, "excluded_training_images": int(sum(training)) if
            exclude_training_images else 0}
    return Labels(rows, SCALE, info)


ADAPTER = Adapter(
    name="livec", read=read_livec, options={"exclude_training_images": True, "image_dir": "Images"},
    scale=SCALE, publishes_split=False,
    description="LIVE Challenge: MOS 0–100 and SD from .mat files; 7 training images excluded → 1,162",
)
