"""Build the embedded default dataset: reference photos → KADID-style distortions (and, when
``data.build.phone_families`` lists any, phone-camera families; with ``data.build.mixture_fraction`` > 0, mixtures
of 2-3 of them in camera → edit → compression order; with ``data.build.regional_fraction`` > 0, some applied to a
region only: :mod:`mobileiqa.data.mixtures`) → simulated annotators → calibrated labels → manifest, with
content-disjoint splits.

Layout written under ``out_dir``::

    manifest.csv          the manifest (schema in mobileiqa.data.manifest), paths relative to out_dir
    images/<photo>/…png   distorted images (lossless PNG), one folder per reference photo
    refs/<photo>.png      the resized pristine references
    calibration.json      fitted annotator maps and per-type corrections
    contact_sheets/*.png  each phone family's five levels on one photo (only with phone families), and
                          mixtures.png: a few mixtures of one photo (only with mixtures)
    recipes.json          only when mixture_fraction or regional_fraction is set (sorted keys): by image id,
                          ``mixtures`` (components in order: slot, family, level, photo key, region or null) and
                          ``regional`` (the single distortion's family, level, photo key and region); a region's
                          fields are described in mobileiqa.data.mixtures, ``coverage`` is its mask's mean
    build_report.json     counts, timings, annotator agreement, calibration quality
    DATASET.md            the dataset card

Per-photo work (resize, distort, score) is cached beside the output (``<out_dir>.cache/``, not inside it, so
the output folder is byte-identical across builds) keyed by everything that shapes it, including the code; an
interrupted build resumes and a repeated build only refits the (cheap) calibration.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from scipy.stats import spearmanr

from mobileiqa.atomic import atomic_path, file_digest, write_json, write_text
from mobileiqa.data import annotators, distortions, images, mixtures, phone
from mobileiqa.data import calibration as cal
from mobileiqa.data.annotators import score_batch
from mobileiqa.data.distortions import DISTORTIONS, SUBSTITUTES
from mobileiqa.data.families import PHONE_TYPE_ID, is_mixture, phone_families
from mobileiqa.data.images import ImageError, load_image, probe_image
from mobileiqa.data.manifest import MosScale, write_manifest
from mobileiqa.data.mixtures import stable_int
from mobileiqa.data.phone import FAMILIES, contact_sheet
from mobileiqa.data.phone.base import captioned_tiles
from mobileiqa.data.photo_pool import map_photos
from mobileiqa.data.settings import BuildConfig
from mobileiqa.data.splits import split_contents

BUILD_VERSION = 1  # bump when distortions, resizing or scoring change what a photo produces
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}
REGION_SUFFIX = "_region"  # image id suffix of a single distortion applied to a region only
# the keys of the broadened build, each off at 0: in cache keys and the report only when on, so that a KADID-only
# build (all off) keeps its cache and its output byte for byte
_OPT_IN = ("mixture_fraction", "regional_fraction", "types_per_photo")


def list_photos(photos_dir: str | os.PathLike) -> list[Path]:
    d = Path(photos_dir)
    if not d.is_dir():
        raise FileNotFoundError(f"photos folder not found: {d} (run the setup to fetch photos, or pass --photos DIR)")
    photos = sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES)
    if not photos:
        raise FileNotFoundError(f"no photos ({', '.join(sorted(PHOTO_SUFFIXES))}) in {d}")
    return photos


def select_photos(photos: list[Path], spec: BuildConfig) -> list[Path]:
    """Seeded choice of at most ``max_photos``, independent of the order they are listed in."""
    ranked = sorted(photos, key=lambda p: stable_int(spec.seed, "photo", p.stem))
    return sorted(ranked[: spec.max_photos], key=lambda p: p.stem)


def levels_for(photo_id: str, type_name: str, spec: BuildConfig) -> list[int]:
    rng = np.random.default_rng(stable_int(spec.seed, "levels", photo_id, type_name))
    return sorted(int(v) + 1 for v in rng.choice(5, size=spec.levels_per_type, replace=False))


def types_for(photo_id: str, types: list, spec: BuildConfig) -> list:
    """The ``types`` (in their order) that ``photo_id`` gets: all of them, or with ``types_per_photo`` = k a seeded
    draw of k, independent of the other photos."""
    k = spec.types_per_photo
    if not k or k >= len(types):
        return list(types)
    rng = np.random.default_rng(stable_int(spec.seed, "types", photo_id))
    return [types[i] for i in sorted(rng.choice(len(types), size=k, replace=False).tolist())]


def resize_long_side(img: Image.Image, long_side: int) -> Image.Image:
    """Keep aspect; the longer side becomes ``long_side`` (never upsampled)."""
    w, h = img.size
    scale = long_side / max(w, h)
    if scale >= 1:
        return img
    return img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.LANCZOS)


def _save_png(arr: np.ndarray, path: Path) -> None:
    with atomic_path(path) as tmp:
        Image.fromarray(arr).save(tmp, format="PNG", compress_level=1)


@functools.cache
def _code_digest() -> str:
    """Digest of the modules that decide what a photo produces, so a code change invalidates the cache."""
    phone_modules = sorted(Path(phone.__file__).parent.glob("*.py"))
    return hashlib.sha256(b"".join(Path(m.__file__).read_bytes()
                                   for m in (annotators, distortions, images, mixtures))
                          + b"".join(p.read_bytes() for p in phone_modules)
                          + Path(__file__).read_bytes()).hexdigest()


def _photo_key(photo: Path, spec: BuildConfig) -> str:
    shaping = {k: v for k, v in asdict(spec).items() if k in ("long_side", "levels_per_type", "seed", "annotators")}
    if spec.phone_families:  # absent when empty, so a KADID-only build keeps its cache
        shaping["phone_families"] = phone_families(spec.phone_families)
    shaping.update(_opt_in(spec))  # likewise the mixture and regional shares
    parts = [BUILD_VERSION, file_digest(photo), _code_digest(), shaping]
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def _opt_in(spec: BuildConfig) -> dict:
    """The broadened build's settings that are on (none in a KADID-only build)."""
    return {k: getattr(spec, k) for k in _OPT_IN if getattr(spec, k)}


def cache_dir_for(out_dir: Path) -> Path:
    return out_dir.parent / f".{out_dir.name}.cache"


def process_photo(photo: Path, out_dir: Path, spec: BuildConfig) -> list[dict]:
    """Distort one photo at every chosen (type, level), save the images, return rows with raw annotator values."""
    import torch

    torch.set_num_threads(1)
    photo_id = photo.stem
    cache = cache_dir_for(out_dir) / f"{photo_id}.json"
    key = _photo_key(photo, spec)
    if cache.is_file():
        cached = json.loads(cache.read_text())
        if cached.get("key") == key and all((out_dir / r["path"]).is_file() for r in cached["rows"]):
            return cached["rows"]

    ref = np.array(resize_long_side(load_image(photo), spec.long_side))
    _save_png(ref, out_dir / "refs" / f"{photo_id}.png")
    h, w = ref.shape[:2]
    rows, images = [], []

    def add(arr: np.ndarray, image_id: str, dist_type: str, type_id: int, level: int, recipe=None) -> None:
        rel = f"images/{photo_id}/{image_id}.png"
        _save_png(arr, out_dir / rel)
        rows.append(dict(image_id=image_id, path=rel, content_id=photo_id, dist_type=dist_type, type_id=type_id,
                         dist_level=level, width=w, height=h))
        if recipe is not None:  # only on mixtures and regional images: a default build's rows are unchanged
            rows[-1]["recipe"] = recipe
        images.append(arr)

    families = phone_families(spec.phone_families)
    types = [(name, f"{d.id:02d}", d.id) for name, d in DISTORTIONS.items()]
    types += [(name, name, PHONE_TYPE_ID) for name in families]
    singles = [(name, level, tag, type_id) for name, tag, type_id in types_for(photo_id, types, spec)
               for level in levels_for(photo_id, name, spec)]
    regional = mixtures.regional_singles(spec.seed, photo_id, [s[:2] for s in singles], spec.regional_fraction)
    for name, level, tag, type_id in singles:
        if (name, level) not in regional:
            add(mixtures.apply_one(ref, name, level, photo_id), f"{photo_id}_{tag}_{level}", name, type_id, level)
            continue
        region = mixtures.draw_region(spec.seed, "region", photo_id, name, level)
        recipe = {"name": name, "level": level, "photo_key": photo_id, "region": region,
                  "coverage": _coverage(region, h, w)}
        add(mixtures.apply_one(ref, name, level, photo_id, region), f"{photo_id}_{tag}_{level}{REGION_SUFFIX}",
            name, type_id, level, recipe)
    candidates = mixtures.slot_candidates(families)
    for i in range(mixtures.mixture_count(len(singles), spec.mixture_fraction)):
        comps = mixtures.draw_mixture(spec.seed, photo_id, i, candidates, spec.regional_fraction)
        recipe = {"components": [{**c, "coverage": _coverage(c["region"], h, w)} if c["region"] else c
                                 for c in comps]}
        add(mixtures.apply_mixture(ref, comps), f"{photo_id}_mix{i:02d}",
            mixtures.mixture_name(c["name"] for c in comps), PHONE_TYPE_ID, max(c["level"] for c in comps), recipe)
    ref_t = torch.from_numpy(ref).permute(2, 0, 1).float().div(255).unsqueeze(0)
    for start in range(0, len(images), 10):
        chunk = torch.from_numpy(np.stack(images[start:start + 10])).permute(0, 3, 1, 2).float().div(255)
        refs = ref_t.expand(len(chunk), -1, -1, -1).contiguous()
        scores = score_batch(chunk.contiguous(), refs, spec.annotators)
        for i, row in enumerate(rows[start:start + 10]):
            row.update({f"raw_{n}": float(v[i]) for n, v in scores.items()})
    write_text(cache, json.dumps({"key": key, "rows": rows}))
    return rows


def _coverage(region: dict, h: int, w: int) -> float:
    """The share of an ``h`` x ``w`` frame that ``region``'s mask covers."""
    return round(float(mixtures.region_mask(region, h, w).mean()), 4)


def _process(args) -> list[dict]:
    return process_photo(*args)


def score_photos(photos: list[Path], out_dir: Path, spec: BuildConfig, progress: bool = True) -> pd.DataFrame:
    jobs = [(p, out_dir, spec) for p in photos]
    rows = [row for result in map_photos(_process, jobs, spec.workers, "distort + annotate", progress)
            for row in result]
    return pd.DataFrame(rows)


def build_dataset(photos_dir, out_dir, spec: BuildConfig | None = None, progress: bool = True) -> dict:
    """Build (or resume) the default dataset in ``out_dir`` (``spec``: the default ``data.build``); returns the
    build report."""
    spec = spec or BuildConfig()
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    photos = select_photos(list_photos(photos_dir), spec)
    if len(photos) < 3:
        raise ValueError(f"{photos_dir}: {len(photos)} photo(s) found; at least 3 are needed (one per split)")
    bad = []
    for p in photos:
        try:
            probe_image(p)
        except ImageError as exc:
            bad.append(str(exc))
    if bad:
        raise ImageError(photos_dir, "unusable photo(s):\n  " + "\n  ".join(bad))

    df = score_photos(photos, out_dir, spec, progress)
    column = df.pop("recipe") if "recipe" in df else pd.Series([None] * len(df), dtype=object)
    recipes = _recipes(df["image_id"], column) if spec.mixture_fraction or spec.regional_fraction else None
    split_of = split_contents(df["content_id"], spec.seed, spec.split_fractions)
    df["split"] = df["content_id"].map(split_of)

    raw = df[[f"raw_{n}" for n in spec.annotators]].rename(columns=lambda c: c[4:])
    human = cal.human_cell_means()
    # fitted on KADID's human cells only: whole-frame KADID images (a regional one is milder than its cell)
    train = (df["split"] == "train") & _kadid_whole_frame(df)
    calib = cal.fit_calibration(raw[train], df.loc[train, "type_id"], df.loc[train, "dist_level"], human)
    scores = calib.annotator_scores(raw, df["type_id"])
    scale = MosScale(cal.MOS_LOW, cal.MOS_HIGH)
    df["mos_raw"] = scores.mean(axis=1)
    df["mos"] = scale.normalise(df["mos_raw"])
    df["mos_std"] = scale.normalise_std(scores.std(axis=1, ddof=0))
    df["mos_transform"] = scale.transform
    df["num_ratings"] = len(spec.annotators)
    df["dataset"] = "default"
    for n in spec.annotators:
        df[f"annotator_{n}"] = scale.normalise(scores[n])
    df = df.sort_values("image_id").reset_index(drop=True)
    manifest_hash = write_manifest(df.drop(columns=["type_id", *[f"raw_{n}" for n in spec.annotators]]),
                                   out_dir / "manifest.csv")
    write_json(out_dir / "calibration.json", calib.to_dict())
    names = phone_families(spec.phone_families)
    sheets = _contact_sheets(out_dir, photos[0].stem, names) if names else {}
    if recipes is not None:
        write_text(out_dir / "recipes.json", json.dumps(recipes, indent=2, sort_keys=True) + "\n")

    report = {
        "manifest_sha256": manifest_hash,
        "photos": len(photos),
        "images": len(df),
        "splits": {s: {"photos": int(df.loc[df.split == s, "content_id"].nunique()),
                       "images": int((df.split == s).sum())} for s in ("train", "val", "test")},
        "resolution": {"long_side": spec.long_side,
                       "sizes": sorted({f"{w}x{h}" for w, h in zip(df.width, df.height, strict=True)})},
        "bytes": int(sum((out_dir / p).stat().st_size for p in df["path"])),
        "spec": {k: v for k, v in asdict(spec).items() if k not in _OPT_IN or k in _opt_in(spec)},
        "agreement": cal.annotator_agreement(scores),
        "calibration_quality": calibration_quality(raw, df, spec),
    }
    labels = phone_label_sanity(df, scores)
    mix_labels = labels.pop("mixtures", None)
    if names:
        report["phone_families"] = {"labels": labels, "contact_sheets": sheets}
    if recipes is not None:
        report["mixtures"] = {"mixtures": len(recipes["mixtures"]), "regional_images": len(recipes["regional"]),
                              "regional_components": sum(c["region"] is not None for r in recipes["mixtures"].values()
                                                         for c in r["components"]),
                              "labels": mix_labels, "recipes": "recipes.json",
                              "examples": _mixture_strip(out_dir, recipes["mixtures"], photos[0].stem)}
    write_json(out_dir / "build_report.json", report)  # deterministic: no timings in the output folder
    write_text(out_dir / "DATASET.md", dataset_card(report))
    return {**report, "seconds": round(time.perf_counter() - t0, 1)}


def _recipes(image_ids: pd.Series, column: pd.Series) -> dict:
    """``recipes.json``'s content from the rows' recipes: mixtures and regional single images by image id."""
    out: dict = {"mixtures": {}, "regional": {}}
    for image_id, recipe in zip(image_ids, column, strict=True):
        if isinstance(recipe, dict):
            out["mixtures" if "components" in recipe else "regional"][image_id] = recipe
    return out


def _kadid_whole_frame(df: pd.DataFrame) -> pd.Series:
    """Rows of a KADID type over the whole frame: the ones that KADID's human cells describe."""
    return (df["type_id"] != PHONE_TYPE_ID) & ~df["image_id"].str.endswith(REGION_SUFFIX)


def _mixture_strip(out_dir: Path, recipes: dict, photo_id: str, n: int = 4, width: int = 1200) -> str | None:
    """``contact_sheets/mixtures.png``: the reference of ``photo_id`` and its first ``n`` mixtures side by side,
    each captioned with its components in order (family, level, whether regional; one line each)."""
    ids = sorted(i for i in recipes if i.startswith(f"{photo_id}_mix"))[:n]
    if not ids:
        return None
    paths = [(["reference"], out_dir / "refs" / f"{photo_id}.png")]
    paths += [([f"{c['name']} {c['level']}" + (" (region)" if c["region"] else "") for c in recipes[i]["components"]],
               out_dir / "images" / photo_id / f"{i}.png") for i in ids]
    tiles = [(lines, np.array(Image.open(path).convert("RGB"))) for lines, path in paths]
    rel = "contact_sheets/mixtures.png"
    _save_png(captioned_tiles(tiles, width), out_dir / rel)
    return rel


def _contact_sheets(out_dir: Path, photo_id: str, names: list[str]) -> dict[str, str]:
    """``contact_sheets/<family>.png`` for each phone family, drawn on the reference of ``photo_id``."""
    ref = np.array(Image.open(out_dir / "refs" / f"{photo_id}.png").convert("RGB"))
    out = {}
    for name in names:
        rel = f"contact_sheets/{name}.png"
        _save_png(contact_sheet(ref, name, photo_key=photo_id), out_dir / rel)
        out[name] = rel
    return out


def phone_label_sanity(df: pd.DataFrame, scores: pd.DataFrame) -> dict:
    """What the labels of each phone family (and, as ``"mixtures"``, of all mixtures together) look like without a
    human cell to calibrate against: the mean pairwise SRCC between annotators over the family's images, the
    share of (photo, level pair) comparisons in which the MOS falls as the level rises (None for the mixtures,
    whose compositions differ, and with one level per photo), and the Spearman correlation between level and MOS
    over the family's whole-frame images of every photo (``level_mos_srcc``: negative = the MOS falls with the
    level; it needs no second level of the same photo)."""
    out = {}
    present = set(df["dist_type"])
    mixed = df["dist_type"].map(is_mixture)
    for name in [n for n in FAMILIES if n in present] + (["mixtures"] if mixed.any() else []):
        rows = mixed if name == "mixtures" else df["dist_type"] == name
        agreement = cal.annotator_agreement(scores[rows])["mean_pairwise_srcc"] if rows.sum() > 2 else float("nan")
        falls = total = 0
        for _, g in df[rows & ~mixed].groupby("content_id"):
            g = g.sort_values("dist_level")
            mos = g["mos_raw"].to_numpy()
            falls += int(np.sum(mos[1:] < mos[:-1]))
            total += len(mos) - 1
        whole = df[rows & ~mixed & ~df["image_id"].str.endswith(REGION_SUFFIX)]
        level_srcc = spearmanr(whole["dist_level"], whole["mos_raw"])[0] if whole["dist_level"].nunique() > 1 else None
        out[name] = {"images": int(rows.sum()), "annotator_agreement": round(float(agreement), 4),
                     "mos_falls_with_level": round(falls / total, 4) if total else None,
                     "level_mos_srcc": None if level_srcc is None else round(float(level_srcc), 4),
                     "mean_mos": round(float(df.loc[rows, "mos_raw"].mean()), 3)}
    return out


def calibration_quality(raw: pd.DataFrame, df: pd.DataFrame, spec: BuildConfig) -> dict:
    """Per-cell SRCC against KADID human means of (a) the uncalibrated consensus and (b) calibrated labels,
    fitted on the human means of KADID references 1-40 and scored against references 41-81 (whole-frame KADID
    types only: the phone families, mixtures and regional images have no human cells)."""
    kadid = _kadid_whole_frame(df)
    raw, df = raw[kadid], df[kadid]
    half_a, half_b = cal.human_cell_means(range(1, 41)), cal.human_cell_means(range(41, 82))
    t, lv = df["type_id"], df["dist_level"]
    fitted = cal.fit_calibration(raw, t, lv, half_a)
    uncalibrated = fitted.mapped(raw).mean(axis=1)
    calibrated = fitted.annotator_scores(raw, t).mean(axis=1)
    per_annotator = {n: cal.cell_rank_correlation(raw[n], t, lv, half_b) for n in raw.columns}
    return {
        "uncalibrated_consensus_cell_srcc": round(cal.cell_rank_correlation(uncalibrated, t, lv, half_b), 4),
        "calibrated_cell_srcc_heldout_refs": round(cal.cell_rank_correlation(calibrated, t, lv, half_b), 4),
        "per_annotator_cell_srcc": {n: round(v, 4) for n, v in per_annotator.items()},
        "cells": int(df.groupby(["type_id", "dist_level"]).ngroups),
    }


def dataset_card(report: dict) -> str:
    q, a = report["calibration_quality"], report["agreement"]
    lines = [
        "# The mobileiqa default dataset",
        "",
        "Synthetic quality dataset built offline: natural reference photos from Debian packages (list and licences",
        "in `src/mobileiqa/data/photos.csv`), distorted with our implementation of KADID-10k's 25 distortion types",
        "x 5 levels, and labelled by simulated annotators calibrated to KADID-10k's human opinion.",
        "",
        "## Contents",
        f"- {report['photos']} reference photos, {report['images']} distorted images, long side "
        f"{report['resolution']['long_side']} px (aspect kept), lossless PNG, {report['bytes'] / 1e6:.0f} MB.",
        f"- Levels per (photo, type): {report['spec']['levels_per_type']} of 5, chosen by a seeded draw.",
        *([f"- Types per photo: {report['spec']['types_per_photo']} of the KADID types and phone families, a seeded "
           "draw per photo."] if report["spec"].get("types_per_photo") else []),
        "- Splits (content-disjoint: every version of a photo lies in one split): "
        + ", ".join(f"{s} {v['photos']} photos / {v['images']} images" for s, v in report["splits"].items()) + ".",
        f"- Manifest sha256: `{report['manifest_sha256']}`.",
        "",
        "## Annotator model",
        f"Annotators ({len(report['spec']['annotators'])}): {', '.join(report['spec']['annotators'])} —",
        "full-reference measures against the pristine photo, each oriented so that higher is better. Each is mapped",
        "onto the 1-5 MOS scale by a monotone logistic fitted to KADID-10k human cell means (train-split images",
        "only), then every distortion type gets an affine correction shared by all annotators (plain FR measures",
        "misjudge whole types, e.g. colour changes). MOS = mean of the annotators (1-5), `mos` = (MOS - 1) / 4 in",
        "[0, 1], higher is better; `mos_std` = annotator spread in the same units; per-annotator scores are the",
        "`annotator_*` columns.",
        "",
        f"- Annotator agreement: mean pairwise SRCC {a['mean_pairwise_srcc']:.3f}; each vs the mean of the others: "
        + ", ".join(f"{n} {v:.3f}" for n, v in a["vs_rest_srcc"].items()) + ".",
        f"- Per-cell SRCC with KADID human means ({q['cells']} cells, references 41-81): uncalibrated consensus "
        f"{q['uncalibrated_consensus_cell_srcc']:.3f}; calibrated on references 1-40: "
        f"{q['calibrated_cell_srcc_heldout_refs']:.3f}.",
        "",
        "## Distortions",
        "| id | type | group | levels |",
        "|---:|---|---|---|",
        *[f"| {d.id} | {d.name} | {d.group} | {', '.join(map(str, d.levels))} |" for d in DISTORTIONS.values()],
        "",
        "Substitutes for KADID's own tools:",
        *[f"- {k}: {v}" for k, v in SUBSTITUTES.items()],
        "",
        *_phone_card(report),
        *_mixture_card(report),
        *_local_targets_card(report),
        "## Intended use and limits",
        "Training and comparing models offline. Labels are simulated: they follow KADID-10k's human ordering of",
        "distortion cells but not any human's view of these particular photos. Report results on real datasets",
        "(KonIQ-10k, SPAQ, UHD-IQA...) before claiming human-level quality prediction.",
    ]
    return "\n".join(lines) + "\n"


def _phone_card(report: dict) -> list[str]:
    """The dataset card's section on the phone families (none when the build has none)."""
    if "phone_families" not in report:
        return []
    labels, sheets = report["phone_families"]["labels"], report["phone_families"]["contact_sheets"]
    lines = ["## Phone-camera families",
             "Degradations of a phone's own pipeline (`mobileiqa.data.phone`), outside KADID's 25. No human scores",
             "exist for them, so their labels use the per-annotator maps alone (fitted on KADID cells), without a",
             "per-type correction; the table shows what that gives: annotator agreement within the family, how",
             "often the MOS falls when the level rises (same photo; – with one level per photo) and the Spearman",
             "correlation of level and MOS over all the family's whole-frame images (negative = falls).", "",
             "| family | group | levels | images | agreement | MOS falls with level | Spearman(level, MOS) "
             "| mean MOS (1-5) |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    for name, s in labels.items():
        f = FAMILIES[name]
        falls = "–" if s["mos_falls_with_level"] is None else f"{s['mos_falls_with_level']:.0%}"
        level = "–" if s.get("level_mos_srcc") is None else f"{s['level_mos_srcc']:+.3f}"
        lines.append(f"| {name} | {f.group} | {', '.join(map(str, f.levels))} | {s['images']} | "
                     f"{s['annotator_agreement']:.3f} | {falls} | {level} | {s['mean_mos']:.2f} |")
    lines += ["", "What each models:", *[f"- {n}: {FAMILIES[n].models}" for n in labels], "",
              "Contact sheets (reference, levels 1-5; whole photo above, a 100 % crop below):",
              *[f"- {n}: ![{n}]({path})" for n, path in sheets.items()], ""]
    return lines


def _local_targets_card(report: dict) -> list[str]:
    """The dataset card's section on the per-region targets (none unless the prepare stage built them:
    ``report["local_targets"]``, :mod:`mobileiqa.data.local_targets`)."""
    if "local_targets" not in report:
        return []
    t, stride = report["local_targets"], report["local_targets"]["stride"]
    return ["## Local targets",
            f"`local_targets/<photo>.npz` holds a quality map of each of the {t['images']} images (`index.json`: "
            "what built them): the",
            f"full-reference error maps of {len(t['annotators'])} of the {len(report['spec']['annotators'])} "
            f"annotators ({', '.join(t['annotators'])}) on a grid of {stride} x {stride} px cells. SSIM is its",
            "per-pixel map averaged per cell, GMSD the deviation of the gradient magnitude similarity within a box",
            "around each pixel. Each map is calibrated exactly like the labels (the annotator's logistic map, the",
            "type's correction, clipped to 1-5, normalised to [0, 1]) and the map is the mean of the annotators: the",
            "same scale as `mos`, higher is better, float16. A region's target says where an image is damaged. The",
            "maps' mean differs from `mos`: fewer annotators, and a local deviation sees less variety than the whole",
            f"image. {t['bytes'] / 1e6:.1f} MB; `manifest.csv` is the same with or without them.", ""]


def _mixture_card(report: dict) -> list[str]:
    """The dataset card's section on mixtures and regional images (none when the build has neither)."""
    if "mixtures" not in report:
        return []
    m, spec = report["mixtures"], report["spec"]
    lines = ["## Mixtures and regional distortions",
             f"- {m['mixtures']} mixtures (`mixture_fraction` {spec.get('mixture_fraction', 0.0)}): 2 or 3 "
             "distortions applied in the order a photo",
             "  meets them, one per slot: camera (phone sensor, optics; KADID blur, noise) → edit (phone tone,",
             "  enhance; KADID color, brightness, sharpness_contrast) → compression (phone codec; KADID compression);",
             "  never KADID's spatial types. `dist_type` is `mix:a+b[+c]` in that order, `dist_level` the highest",
             "  component level, and image ids end in `_mixNN`.",
             f"- {m['regional_images']} single-distortion images and {m['regional_components']} mixture components "
             f"(`regional_fraction` {spec.get('regional_fraction', 0.0)}) are applied",
             "  inside a soft ellipse or rounded rectangle only (20-60 % of the frame, edge ~5 % of the short side);",
             "  such a single image replaces its whole-frame version, keeps its `dist_type`, and its image id ends in",
             "  `_region`.",
             "- Labels: mixtures use the per-annotator maps alone (like the phone families); a regional KADID image",
             "  keeps its type's correction. The calibration is fitted on whole-frame KADID images only, so adding",
             "  mixtures does not move KADID's labels.",
             f"- Every recipe (components, levels, photo keys, regions) is in `{m['recipes']}`."]
    if m["labels"]:
        s = m["labels"]
        lines.append(f"- Mixture labels: annotator agreement {s['annotator_agreement']:.3f} (mean pairwise SRCC over "
                     f"the {s['images']} mixtures), mean MOS {s['mean_mos']:.2f} (1-5).")
    if m["examples"]:
        lines += ["", f"Examples (reference, then mixtures of one photo): ![mixtures]({m['examples']})"]
    return [*lines, ""]
