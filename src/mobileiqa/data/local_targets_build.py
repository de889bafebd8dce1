"""Measuring and writing the local targets of the default dataset (:mod:`mobileiqa.data.local_targets` says what
they are and reads them): per-cell SSIM and local GMSD maps of every image against its reference, calibrated like
the scalar labels, one ``.npz`` per photo plus ``index.json`` (resumable, byte-identical rebuilds).
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import math
import os
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from mobileiqa.atomic import atomic_path, file_digest, json_digest, write_text
from mobileiqa.data import annotators, local_targets
from mobileiqa.data import calibration as cal
from mobileiqa.data.families import type_id_of
from mobileiqa.data.images import load_rgb_array
from mobileiqa.data.local_targets import FOLDER, INDEX, KEY, LOCAL_TARGETS_VERSION
from mobileiqa.data.manifest import MosScale, read_manifest
from mobileiqa.data.photo_pool import map_photos
from mobileiqa.data.settings import LocalTargetsConfig

_GMS_T = 170 / 255.0**2  # piq.gmsd's constant
_PREWITT = np.array([[-1.0, 0.0, 1.0]] * 3) / 3  # piq.functional.prewitt_filter (x); y = its transpose
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed member times: the same maps give the same bytes


# --- local measures ---------------------------------------------------------------------------------------------
def luma(rgb: np.ndarray) -> np.ndarray:
    """``(H, W)`` float64 luminance in [0, 1] of an ``(H, W, 3)`` uint8 RGB array (BT.601, = YIQ's Y)."""
    x = np.asarray(rgb, np.float64) / 255.0
    return 0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2]


def _half(a: np.ndarray) -> np.ndarray:
    """piq.gmsd's downsampling: a zero row and column below/right when either side is odd, then 2x2 means."""
    pad = max(a.shape[0] % 2, a.shape[1] % 2)
    a = np.pad(a, ((0, pad), (0, pad)))
    h, w = a.shape[0] // 2, a.shape[1] // 2
    return a[: 2 * h, : 2 * w].reshape(h, 2, w, 2).mean(axis=(1, 3))


def _gradient(a: np.ndarray) -> np.ndarray:
    gx = cv2.filter2D(a, cv2.CV_64F, _PREWITT, borderType=cv2.BORDER_CONSTANT)
    gy = cv2.filter2D(a, cv2.CV_64F, _PREWITT.T.copy(), borderType=cv2.BORDER_CONSTANT)
    return np.sqrt(gx * gx + gy * gy)


def gms_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """piq's gradient magnitude similarity of luminances ``a``, ``b`` at half resolution (``piq.gmsd`` = its
    standard deviation)."""
    ga, gb = _gradient(_half(a)), _gradient(_half(b))
    return (2 * ga * gb + _GMS_T) / (ga * ga + gb * gb + _GMS_T)


def local_gmsd_map(a: np.ndarray, b: np.ndarray, window: int) -> np.ndarray:
    """``(H, W)`` local GMSD (lower is better): the standard deviation of :func:`gms_map` over a ``window`` x
    ``window`` pixel box around each pixel (``window // 2`` at GMS's half resolution, reflected borders)."""
    gms = gms_map(a, b)
    k = (max(1, window // 2),) * 2
    mean = cv2.blur(gms, k, borderType=cv2.BORDER_REFLECT)
    sq = cv2.blur(gms * gms, k, borderType=cv2.BORDER_REFLECT)
    std = np.sqrt(np.maximum(sq - mean * mean, 0.0))
    return np.repeat(np.repeat(std, 2, axis=0), 2, axis=1)[: a.shape[0], : a.shape[1]]


def cell_means(a: np.ndarray, stride: int) -> np.ndarray:
    """Means of ``stride`` x ``stride`` cells, ``(ceil(H / stride), ceil(W / stride))``; a partial last cell is the
    mean of the pixels it has."""
    rows, cols = np.arange(0, a.shape[0], stride), np.arange(0, a.shape[1], stride)
    sums = np.add.reduceat(np.add.reduceat(a, rows, axis=0), cols, axis=1)
    counts = np.outer(np.diff(np.append(rows, a.shape[0])), np.diff(np.append(cols, a.shape[1])))
    return sums / counts


def cells_shape(height: int, width: int, stride: int) -> tuple[int, int]:
    """``(Hc, Wc)`` of the cell grid of a ``height`` x ``width`` image: what :func:`cell_means` returns."""
    return math.ceil(height / stride), math.ceil(width / stride)


#: oriented (higher-is-better) local form of each annotator that has one: (distorted luma, reference luma,
#: window) -> (H, W) per-pixel map
MEASURES: dict[str, Callable[[np.ndarray, np.ndarray, int], np.ndarray]] = {
    "ssim": lambda a, b, window: annotators.ssim_map(a, b),
    "gmsd": lambda a, b, window: -local_gmsd_map(a, b, window),
}


def measure_cells(distorted: np.ndarray, reference: np.ndarray, annotators, stride: int, window: int
                  ) -> dict[str, np.ndarray]:
    """Oriented raw cell maps ``(Hc, Wc)`` of each annotator for two ``(H, W, 3)`` uint8 RGB arrays."""
    if distorted.shape != reference.shape:
        raise ValueError(f"distorted image {distorted.shape} and reference {reference.shape} differ in size")
    a, b = luma(distorted), luma(reference)
    return {n: cell_means(MEASURES[n](a, b, window), stride) for n in annotators}


# --- calibration ------------------------------------------------------------------------------------------------


def calibrated_target(cells: dict[str, np.ndarray], calibration: cal.Calibration, type_id: int) -> np.ndarray:
    """The target map in [0, 1] (float64): each annotator's cells through its calibration map and the correction
    of ``type_id``, clipped to [1, 5] (:meth:`Calibration.annotator_scores`, the scalar labels' path), normalised
    like the manifest's ``mos``, then averaged over the annotators."""
    names = list(cells)
    shape = cells[names[0]].shape
    subset = cal.Calibration({n: calibration.maps[n] for n in names}, calibration.types)
    raw = pd.DataFrame({n: cells[n].ravel() for n in names})
    scores = subset.annotator_scores(raw, np.full(len(raw), type_id))
    scale = MosScale(cal.MOS_LOW, cal.MOS_HIGH)
    return scale.normalise(scores.mean(axis=1).to_numpy()).reshape(shape)


# --- files ------------------------------------------------------------------------------------------------------
def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """An ``np.load``-able .npz (deflated) whose bytes depend on ``arrays`` only; written atomically."""
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, arr in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asarray(arr), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buf.getvalue())


def _stored_key(path: Path) -> str | None:
    """The ``__key__`` of an npz written by :func:`_write_npz`, ``None`` when absent or unreadable."""
    try:
        with np.load(path) as npz:
            return str(npz[KEY]) if KEY in npz.files else None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError):
        return None


@functools.cache
def _code_digest() -> str:
    """Digest of the code that shapes a stored map (this module, the calibration, the annotators' SSIM map and the
    reading side's format), so a change rebuilds."""
    files = (__file__, cal.__file__, annotators.__file__, local_targets.__file__)
    return hashlib.sha256(b"".join(Path(f).read_bytes() for f in files)).hexdigest()[:16]


def _photo_job(args) -> dict:
    """Compute and write one photo's maps (or keep them when its file already has ``key``)."""
    dataset_dir, photo_id, rows, cfg, calibration, key = args
    path = dataset_dir / FOLDER / f"{photo_id}.npz"
    if _stored_key(path) == key:
        return {"photo": photo_id, "images": len(rows), "bytes": path.stat().st_size, "written": False}
    calib = cal.Calibration.from_dict(calibration)
    reference = load_rgb_array(dataset_dir / "refs" / f"{photo_id}.png")
    maps = {KEY: np.array(key)}
    for image_id, rel, type_id in rows:
        distorted = load_rgb_array(dataset_dir / rel)
        if distorted.shape != reference.shape:
            raise ValueError(f"{dataset_dir / rel}: {distorted.shape[1]}x{distorted.shape[0]} differs from its "
                             f"reference refs/{photo_id}.png ({reference.shape[1]}x{reference.shape[0]})")
        cells = measure_cells(distorted, reference, cfg.annotators, cfg.stride, cfg.window)
        maps[image_id] = calibrated_target(cells, calib, type_id).astype(np.float16)
    _write_npz(path, maps)
    return {"photo": photo_id, "images": len(rows), "bytes": path.stat().st_size, "written": True}


def build_local_targets(dataset_dir: str | os.PathLike, cfg: LocalTargetsConfig | None = None,
                        progress: bool = True) -> dict:
    """Write (or resume) the local targets of the default dataset in ``dataset_dir`` (``cfg``: the default
    ``data.local_targets``); ``manifest.csv`` is left as it is. Photos whose file already holds maps of the same
    code, settings, calibration and rows are kept. Returns a report (images, photos, written, bytes, seconds), or
    ``{"skipped": why}`` for a dataset without references or calibration (a real dataset)."""
    cfg = cfg or LocalTargetsConfig()
    t0 = time.perf_counter()
    dataset_dir = Path(dataset_dir)
    manifest_path, calib_path = dataset_dir / "manifest.csv", dataset_dir / "calibration.json"
    if not (dataset_dir / "refs").is_dir() or not calib_path.is_file():
        return {"skipped": f"{dataset_dir} has no refs/ or calibration.json: local targets need the default "
                           "dataset's references and calibration"}
    unknown = [n for n in cfg.annotators if n not in MEASURES]
    if unknown:
        raise ValueError(f"data.local_targets.annotators: {unknown} have no local form; choose from {list(MEASURES)}")
    calibration = json.loads(calib_path.read_text())
    missing = [n for n in cfg.annotators if n not in calibration["maps"]]
    if missing:
        raise ValueError(f"{calib_path}: no calibration map for {missing} (data.local_targets.annotators must be "
                         "among data.build.annotators)")
    frame = read_manifest(manifest_path)
    shaping = {"version": LOCAL_TARGETS_VERSION, "code": _code_digest(), "stride": cfg.stride, "window": cfg.window,
               "annotators": list(cfg.annotators), "calibration": calibration}
    jobs, photos = [], {}
    for photo_id, group in frame.groupby("content_id", sort=True):
        rows = [(i, p, type_id_of(t)) for i, p, t in zip(group["image_id"], group["path"], group["dist_type"],
                                                         strict=True)]
        jobs.append((dataset_dir, photo_id, rows, cfg, calibration, json_digest([shaping, rows])))
        photos[photo_id] = sorted(group["image_id"])
    folder = dataset_dir / FOLDER
    index_path = folder / INDEX
    if index_path.is_file() and json.loads(index_path.read_text()).get("key") != json_digest(shaping):
        index_path.unlink()  # other settings: a rebuild killed half-way must not leave an index of mixed files
    results = _run(jobs, cfg.workers, progress)
    for stale in sorted(set(folder.glob("*.npz")) - {folder / f"{p}.npz" for p in photos}):
        stale.unlink()  # a photo no longer in the manifest
    index = {
        "version": LOCAL_TARGETS_VERSION,
        "stride": cfg.stride,
        "window": cfg.window,
        "annotators": list(cfg.annotators),
        "scale": "[0, 1] like the manifest's mos, higher is better",
        "manifest_sha256": file_digest(manifest_path),
        "calibration_sha256": file_digest(calib_path),
        "key": json_digest(shaping),
        "images": len(frame),
        "splits": {s: int((frame["split"] == s).sum()) for s in ("train", "val", "test")},
        "bytes": sum(r["bytes"] for r in results),
        "photos": photos,
    }
    text = json.dumps(index, indent=2) + "\n"
    if not index_path.is_file() or index_path.read_text() != text:
        write_text(index_path, text)
    return {"images": len(frame), "photos": len(photos), "written": sum(r["written"] for r in results),
            "bytes": index["bytes"], "stride": cfg.stride, "annotators": list(cfg.annotators),
            "index": f"{FOLDER}/{INDEX}", "seconds": round(time.perf_counter() - t0, 1)}


def _run(jobs: list, workers: int, progress: bool) -> list[dict]:
    """Run the photo jobs, in ``workers`` spawned processes when each gets two photos or more (a process's start
    costs more than a few small photos), one OpenCV thread per worker."""
    return map_photos(_photo_job, jobs, workers, "local targets", progress, min_jobs_per_worker=2,
                      initializer=cv2.setNumThreads, initargs=(1,))
