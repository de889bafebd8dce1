"""Miniature copies of the public IQA datasets in their published layouts, built in a temporary folder.

Metadata files keep the real names, columns and formats (.csv, .xlsx written with openpyxl, .mat written with
scipy); images are generated (seeded numpy noise, a few tens of pixels) — never real photos. Each builder
takes ``edit``, a function called on the list of metadata records (dicts, in file order) before they are
written, so tests can plant one bad row; it returns the records as written.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

Records = list[dict]
Edit = Callable[[Records], Records | None] | None


def write_image(path: Path, size: tuple[int, int] = (24, 16), seed: int = 0, orientation: int | None = None) -> Path:
    """A small seeded RGB image; the format follows the suffix. ``orientation`` writes an EXIF tag."""
    rng = np.random.default_rng(seed)
    w, h = size
    arr = (rng.random((h, w, 3)) * 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(arr)
    kwargs = {}
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        kwargs["exif"] = exif.tobytes()
    img.save(path, **kwargs)
    return path


def corrupt(path: Path, how: str) -> None:
    """Break an image file: ``missing``, ``empty`` (0 bytes), ``truncated`` (cut in the middle of its data),
    ``header`` (cut inside its header) or ``text`` (not an image)."""
    data = path.read_bytes()
    if how == "missing":
        path.unlink()
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "truncated":
        path.write_bytes(data[: len(data) * 2 // 3])
    elif how == "header":
        path.write_bytes(data[:12])
    elif how == "text":
        path.write_text("this is not an image\n")
    else:
        raise ValueError(how)


def _apply(records: Records, edit: Edit) -> Records:
    if edit is not None:
        out = edit(records)
        records = records if out is None else out
    return records


def write_csv(path: Path, records: Records, columns: list[str], *, delimiter: str = ",", encoding: str = "utf-8",
              quoting: int = csv.QUOTE_MINIMAL) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding=encoding) as f:
        writer = csv.writer(f, delimiter=delimiter, quoting=quoting, lineterminator="\n")
        writer.writerow(columns)
        for r in records:
            writer.writerow([r.get(c, "") for c in columns])
    return path


def write_xlsx(path: Path, records: Records, columns: list[str]) -> Path:
    import pandas as pd

    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame([{c: r.get(c) for c in columns} for r in records], columns=columns).to_excel(
        path, index=False, engine="openpyxl")
    return path


# --- KonIQ-10k ----------------------------------------------------------------------------------------------
KONIQ_COLUMNS = ["image_name", "c1", "c2", "c3", "c4", "c5", "c_total", "MOS", "SD", "MOS_zscore"]
KONIQ_SETS = ["training"] * 8 + ["validation"] * 2 + ["test"] * 2


def build_koniq(root: Path, *, sets: bool = True, edit: Edit = None) -> Records:
    """12 images in ``1024x768/`` (32x24 JPEG), votes c1..c5 and their MOS/SD; 8/2/2 training/validation/test."""
    rng = np.random.default_rng(1)
    records = []
    for i in range(12):
        name = f"{1000 + i * 37}.jpg"
        votes = rng.integers(0, 30, size=5)
        grades = np.repeat(np.arange(1, 6), votes)
        records.append({"image_name": name, **{f"c{k + 1}": int(v) for k, v in enumerate(votes)},
                        "c_total": int(votes.sum()), "MOS": round(float(grades.mean()), 6),
                        "SD": round(float(grades.std(ddof=1)), 6), "MOS_zscore": round(float(rng.random() * 100), 4),
                        "set": KONIQ_SETS[i]})
        write_image(root / "1024x768" / name, (32, 24), seed=i)
    records = _apply(records, edit)
    if sets:
        write_csv(root / "koniq10k_distributions_sets.csv", records, [*KONIQ_COLUMNS, "set"],
                  quoting=csv.QUOTE_NONNUMERIC)
    else:
        write_csv(root / "koniq10k_scores_and_distributions.csv", records, KONIQ_COLUMNS, quoting=csv.QUOTE_NONNUMERIC)
    return records


# --- SPAQ ---------------------------------------------------------------------------------------------------
SPAQ_COLUMNS = ["Image name", "MOS", "Brightness", "Colorfulness", "Contrast", "Noisiness", "Sharpness"]


def build_spaq(root: Path, *, underscores: bool = False, image_dir: str = "TestImage", edit: Edit = None) -> Records:
    """8 phone-photo stand-ins (JPEG 40x30; the first carries EXIF orientation 6, i.e. displayed 30x40)."""
    rng = np.random.default_rng(2)
    records = []
    for i in range(8):
        name = f"{i + 1:05d}.jpg"
        records.append({"Image name": name, "MOS": round(float(rng.uniform(5, 95)), 2),
                        **{c: round(float(rng.uniform(0, 100)), 2) for c in SPAQ_COLUMNS[2:]}})
        write_image(root / image_dir / name, (40, 30), seed=100 + i, orientation=6 if i == 0 else None)
    records = _apply(records, edit)
    stem = "MOS_and_Image_attribute_scores" if underscores else "MOS and Image attribute scores"
    write_xlsx(root / "Annotations" / f"{stem}.xlsx", records, SPAQ_COLUMNS)
    return records


# --- LIVE Challenge -----------------------------------------------------------------------------------------
def build_livec(root: Path, *, mos_edit: Callable[[np.ndarray], None] | None = None, with_std: bool = True) -> dict:
    """7 training images ``t1.bmp``…``t7.bmp`` in ``Images/trainingImages/`` then 8 images ``3.bmp``… in
    ``Images/`` (BMP 20x20), names in a MATLAB cell array, MOS and SD as 1×15 doubles."""
    from scipy.io import savemat

    rng = np.random.default_rng(3)
    names = [f"t{i}.bmp" for i in range(1, 8)] + [f"{i}.bmp" for i in range(3, 11)]
    for i, n in enumerate(names):
        folder = root / "Images" / ("trainingImages" if n.startswith("t") else "")
        write_image(folder / n, (20, 20), seed=200 + i)
    mos = np.round(rng.uniform(10, 90, size=(1, len(names))), 4)
    std = np.round(rng.uniform(5, 25, size=(1, len(names))), 4)
    if mos_edit is not None:
        mos_edit(mos)
    cells = np.empty((len(names), 1), dtype=object)
    for i, n in enumerate(names):
        cells[i, 0] = n
    (root / "Data").mkdir(parents=True, exist_ok=True)
    savemat(root / "Data" / "AllImages_release.mat", {"AllImages_release": cells})
    savemat(root / "Data" / "AllMOS_release.mat", {"AllMOS_release": mos})
    if with_std:
        savemat(root / "Data" / "AllStdDev_release.mat", {"AllStdDev_release": std})
    return {"names": names, "mos": mos.ravel(), "std": std.ravel()}


# --- BID ----------------------------------------------------------------------------------------------------
def build_bid(root: Path, *, edit: Edit = None) -> Records:
    """8 images ``ImageDatabase/DatabaseImage0001.JPG``…, the even ones with a lower-case ``.jpg``."""
    rng = np.random.default_rng(4)
    records = []
    for n in range(1, 9):
        ext = ".jpg" if n % 2 == 0 else ".JPG"
        write_image(root / "ImageDatabase" / f"DatabaseImage{n:04d}{ext}", (36, 24), seed=300 + n)
        records.append({"Image Number": n, "Average Subjective Grade": round(float(rng.uniform(0.2, 4.8)), 3)})
    records = _apply(records, edit)
    write_xlsx(root / "DatabaseGrades.xlsx", records, ["Image Number", "Average Subjective Grade"])
    return records


# --- UHD-IQA ------------------------------------------------------------------------------------------------
UHD_COLUMNS = ["image_name", "quality_mos", "set", "orig_width", "orig_height", "views", "likes", "favorites",
               "downloads", "comments", "image_bytes", "user_name", "page_url"]
UHD_SETS = {"training": 6, "validation": 2, "test": 2}


def build_uhdiqa(root: Path, *, edit: Edit = None) -> Records:
    """10 images (48x32 JPEG) in ``challenge/{training,validation,test}/``, one metadata CSV per set (a record's
    ``_file`` says which)."""
    rng = np.random.default_rng(5)
    records, i = [], 0
    for set_name, count in UHD_SETS.items():
        for _ in range(count):
            name = f"{7000 + i}.jpg"
            write_image(root / "challenge" / set_name / name, (48, 32), seed=400 + i)
            records.append({"image_name": name, "quality_mos": round(float(rng.uniform(0.58, 0.84)), 4),
                            "set": set_name, "orig_width": 3840, "orig_height": 2560, "views": 100 + i, "likes": i,
                            "favorites": 0, "downloads": 3 * i, "comments": 0, "image_bytes": 5_000_000 + i,
                            "user_name": f"user{i}", "page_url": f"https://example.org/photo/{i}", "_file": set_name})
            i += 1
    records = _apply(records, edit)
    for set_name in UHD_SETS:
        write_csv(root / f"uhd-iqa-{set_name}-metadata.csv", [r for r in records if r["_file"] == set_name],
                  UHD_COLUMNS)
    return records


# --- KADID-10k ----------------------------------------------------------------------------------------------
KADID_REFS = [f"I{i:02d}" for i in range(1, 6)]
KADID_TYPES = (1, 11, 25)
KADID_LEVELS = (1, 3, 5)


def build_kadid(root: Path, *, edit: Edit = None) -> Records:
    """5 references × types 01/11/25 × levels 1/3/5 = 45 PNGs (16x12) in ``images/`` plus the references."""
    rng = np.random.default_rng(6)
    records = []
    for r, ref in enumerate(KADID_REFS):
        write_image(root / "images" / f"{ref}.png", (16, 12), seed=500 + r)
        for t in KADID_TYPES:
            for lv in KADID_LEVELS:
                name = f"{ref}_{t:02d}_{lv:02d}.png"
                write_image(root / "images" / name, (16, 12), seed=1000 + 100 * r + 10 * t + lv)
                records.append({"dist_img": name, "ref_img": f"{ref}.png",
                                "dmos": round(float(rng.uniform(1.2, 4.8)), 2),
                                "var": round(float(rng.uniform(0.1, 1.0)), 3)})
    records = _apply(records, edit)
    write_csv(root / "dmos.csv", records, ["dist_img", "ref_img", "dmos", "var"])
    return records


# --- folder + CSV -------------------------------------------------------------------------------------------
FOLDER_COLUMNS = ["image", "score", "sd", "scene"]


def build_folder(root: Path, *, delimiter: str = ",", encoding: str = "utf-8", edit: Edit = None,
                 names: list[str] | None = None) -> Records:
    """6 images under ``photos/`` (two per scene) with scores on 0–10, written as ``labels.csv``."""
    names = names or [f"photos/p{i}.png" for i in range(6)]
    rng = np.random.default_rng(7)
    records = []
    for i, name in enumerate(names):
        write_image(root / name, (20, 14), seed=600 + i)
        records.append({"image": name, "score": round(float(rng.uniform(0.5, 9.5)), 2),
                        "sd": round(float(rng.uniform(0.5, 2)), 2), "scene": f"s{i // 2}"})
    records = _apply(records, edit)
    write_csv(root / "labels.csv", records, list(dict.fromkeys(k for r in records for k in r)) or FOLDER_COLUMNS,
              delimiter=delimiter, encoding=encoding)
    return records
