"""BID, the Blurred Image Database (Ciancio et al., 2011): 586 photos with realistic blur, MOS on 0–5.

Published layout under the root::

    ImageDatabase/DatabaseImage0001.JPG … DatabaseImage0586.JPG   (the extension's case varies: .JPG/.jpg)
    DatabaseGrades.xlsx      columns: Image Number, Average Subjective Grade   (also found in ImageDatabase/)

``Image Number`` n names the file ``DatabaseImage{n:04d}`` with whatever extension the folder holds
(``.jpg``/``.jpeg`` in any case); when none is there the row becomes a "file not found" problem.
"""

from __future__ import annotations

from pathlib import Path

from mobileiqa.data.adapters.base import Adapter, Labels, find_labels, labels_frame
from mobileiqa.data.adapters.tables import WHERE, describe, is_empty, read_excel_table, to_number
from mobileiqa.data.manifest import ManifestError, MosScale

SCALE = MosScale(0.0, 5.0)
LABELS = ("DatabaseGrades.xlsx", "ImageDatabase/DatabaseGrades.xlsx")
EXTENSIONS = (".jpg", ".jpeg")


def _image_number(cell, where: str) -> int:
    if is_empty(cell):
        raise ManifestError(f"{where}: Image Number is empty; fill it in or remove the row")
    value = to_number(cell, where, "Image Number")
    if value != int(value) or value < 1:
        raise ManifestError(f"{where}: Image Number {cell!r} is not a positive whole number")
    return int(value)


def _files_by_stem(folder: Path) -> dict[str, str]:
    """Lower-cased stem → actual file name, for image files in ``folder`` (first in sorted order wins)."""
    out: dict[str, str] = {}
    if folder.is_dir():
        for p in sorted(folder.iterdir()):
            if p.suffix.lower() in EXTENSIONS:
                out.setdefault(p.stem.lower(), p.name)
    return out


def read_bid(root: Path, *, labels: str | None = None, image_dir: str = "ImageDatabase") -> Labels:
    path = find_labels(root, labels, [root / n for n in LABELS], "bid", "xlsx")
    label = describe(path, root)
    table = read_excel_table(path, label, ["Image Number", "Average Subjective Grade"])
    df = table.frame
    numbers = [_image_number(c, f"{label}, {w}") for c, w in zip(df["Image Number"], df[WHERE], strict=True)]
    files = _files_by_stem(root / image_dir)
    stems = [f"DatabaseImage{n:04d}" for n in numbers]
    names = [files.get(s.lower(), f"{s}.JPG") for s in stems]
    rows = labels_frame(df, label, path=[f"{image_dir}/{n}" for n in names], image_id=stems,
                        mos=df["Average Subjective Grade"])
    return Labels(rows, SCALE, {"labels": [label], "image_dir": image_dir, **table.details})


ADAPTER = Adapter(
    name="bid", read=read_bid, options={"labels": None, "image_dir": "ImageDatabase"}, scale=SCALE,
    publishes_split=False, description="BID: 586 blurred photos, MOS 0–5 from DatabaseGrades.xlsx",
)
