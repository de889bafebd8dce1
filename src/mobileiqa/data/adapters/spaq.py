"""SPAQ (Fang et al., 2020): 11,125 smartphone photos of several megapixels, MOS on 0–100.

Published layout under the root::

    TestImage/<Image name>                          (some loaders expect img/ instead: both are found)
    Annotations/MOS and Image attribute scores.xlsx (also seen as MOS_and_Image_attribute_scores.xlsx)
        columns: Image name, MOS, Brightness, Colorfulness, Contrast, Noisiness, Sharpness

Loaders usually resize SPAQ to a short side of 512 px before use; the adapter never touches the images but
records ``resize_short_side`` in the result's ``info`` for the transforms to apply (None: keep full size).
``width``/``height`` are the files' own sizes in display orientation (phone photos carry EXIF rotation).
"""

from __future__ import annotations

from pathlib import Path

from mobileiqa.data.adapters.base import Adapter, Labels, find_labels, image_stem, join, labels_frame
from mobileiqa.data.adapters.tables import describe, read_excel_table
from mobileiqa.data.manifest import ManifestError, MosScale

SCALE = MosScale(0.0, 100.0)
LABEL_NAMES = ("MOS and Image attribute scores.xlsx", "MOS_and_Image_attribute_scores.xlsx")
LABEL_DIRS = ("Annotations", ".")
IMAGE_DIRS = ("TestImage", "img")


def read_spaq(root: Path, *, labels: str | None = None, image_dir: str | None = None,
              resize_short_side: int | None = 512) -> Labels:
    if resize_short_side is not None and (not isinstance(resize_short_side, int) or resize_short_side <= 0):
        raise ValueError(f"spaq: resize_short_side must be a positive int or None, got {resize_short_side!r}")
    path = find_labels(root, labels, [root / d / n for d in LABEL_DIRS for n in LABEL_NAMES], "spaq", "xlsx")
    if image_dir is None:
        image_dir = next((d for d in IMAGE_DIRS if (root / d).is_dir()), None)
        if image_dir is None:
            raise ManifestError(f"spaq: no image folder in {root}; looked for {list(IMAGE_DIRS)}; "
                                "pass image_dir=<folder>")
    label = describe(path, root)
    table = read_excel_table(path, label, ["Image name", "MOS"])
    df = table.frame
    rows = labels_frame(df, label, path=[join(image_dir, n) for n in df["Image name"]],
                        image_id=[image_stem(n) for n in df["Image name"]], mos=df["MOS"])
    info = {"labels": [label], "image_dir": image_dir, "resize_short_side": resize_short_side, **table.details}
    return Labels(rows, SCALE, info)


ADAPTER = Adapter(
    name="spaq", read=read_spaq, options={"labels": None, "image_dir": None, "resize_short_side": 512},
    scale=SCALE, publishes_split=False,
    description="SPAQ: smartphone photos, MOS 0–100 from an .xlsx; resize_short_side recorded, not applied",
)
