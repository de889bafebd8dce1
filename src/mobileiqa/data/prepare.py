"""The ``prepare`` stage: produce a manifest (and, for the default dataset, its images) under one folder.

``data.source`` picks the dataset: ``default`` builds the embedded synthetic dataset from the reference photos
(:mod:`mobileiqa.data.build`); any adapter name (``koniq10k``, ``spaq``, ``livec``, ``bid``, ``uhdiqa``,
``kadid10k``, ``folder_csv``) reads a real dataset in its published layout from ``data.root``. Either way the
output folder holds ``manifest.csv`` and ``dataset.json`` (source, image root, manifest hash), which every
later stage reads.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from mobileiqa.atomic import write_json
from mobileiqa.data.adapters import ADAPTERS, load_dataset
from mobileiqa.data.build import build_dataset
from mobileiqa.data.manifest import write_manifest
from mobileiqa.data.settings import DEFAULT_SOURCE, DataConfig


def prepare(cfg: DataConfig, out_dir: str | os.PathLike, photos_dir: str | os.PathLike | None = None,
            progress: bool = True) -> dict[str, Any]:
    """Run the prepare stage; returns a small report (written as ``dataset.json``, plus the wall time)."""
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    if cfg.source == DEFAULT_SOURCE:
        if photos_dir is None:
            raise ValueError("data.source=default needs the reference photos folder (--photos DIR)")
        report = build_dataset(photos_dir, out_dir, cfg.build, progress=progress)
        info = {"source": cfg.source, "root": ".", "manifest_sha256": report["manifest_sha256"],
                "images": report["images"], "photos": report["photos"]}
    else:
        if cfg.source not in ADAPTERS:
            raise KeyError(f"data.source {cfg.source!r} is unknown; choose {DEFAULT_SOURCE!r} or one of "
                           f"{sorted(ADAPTERS)}")
        if not cfg.root:
            raise ValueError(f"data.source={cfg.source} needs data.root: the dataset folder in its published layout")
        result = load_dataset(cfg.source, cfg.root, split_seed=cfg.split_seed, **cfg.options)
        digest = write_manifest(result.frame, out_dir / "manifest.csv")
        write_json(out_dir / "problems.json", [{"path": p, "reason": r} for p, r in result.problems])
        info = {"source": cfg.source, "root": str(Path(cfg.root).resolve()), "manifest_sha256": digest,
                "images": len(result.frame), "problems": len(result.problems)}
    write_json(out_dir / "dataset.json", info)
    return {**info, "seconds": round(time.perf_counter() - t0, 1)}
