"""The ``prepare`` stage: produce a manifest (and, for the default dataset, its images) under one folder.

``data.source`` picks the dataset: ``default`` builds the embedded synthetic dataset from the reference photos
(:mod:`mobileiqa.data.build`); any adapter name (``koniq10k``, ``spaq``, ``livec``, ``bid``, ``uhdiqa``,
``kadid10k``, ``folder_csv``) reads a real dataset in its published layout from ``data.root``. Either way the
output folder holds ``manifest.csv`` and ``dataset.json`` (source, image root, manifest hash), which every
later stage reads. The default dataset also gets its per-region targets (``local_targets/``,
:mod:`mobileiqa.data.local_targets`) when ``data.local_targets.enabled``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from mobileiqa.atomic import write_json, write_text
from mobileiqa.data.adapters import ADAPTERS, load_dataset
from mobileiqa.data.build import build_dataset, dataset_card
from mobileiqa.data.local_targets_build import build_local_targets
from mobileiqa.data.manifest import write_manifest
from mobileiqa.data.settings import DEFAULT_SOURCE, DataConfig


def prepare(cfg: DataConfig, out_dir: str | os.PathLike, photos_dir: str | os.PathLike | None = None,
            progress: bool = True) -> dict[str, Any]:
    """Run the prepare stage; returns a small report (written as ``dataset.json``, plus the wall times: the whole
    stage's ``seconds`` and, for the default dataset, ``local_targets.seconds``)."""
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    returned: dict[str, Any] = {}  # beside dataset.json's content in the report: what varies between runs
    if cfg.source == DEFAULT_SOURCE:
        if photos_dir is None:
            raise ValueError("data.source=default needs the reference photos folder (--photos DIR)")
        report = build_dataset(photos_dir, out_dir, cfg.build, progress=progress)
        info = {"source": cfg.source, "root": ".", "manifest_sha256": report["manifest_sha256"],
                "images": report["images"], "photos": report["photos"]}
        if cfg.local_targets.enabled:
            targets = build_local_targets(out_dir, cfg.local_targets, progress=progress)
            info["local_targets"] = {k: v for k, v in targets.items() if k not in ("seconds", "written")}
            returned["local_targets"] = targets
            if "skipped" not in targets:  # the card's section on them
                write_text(out_dir / "DATASET.md", dataset_card({**report, "local_targets": info["local_targets"]}))
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
    return {**info, **returned, "seconds": round(time.perf_counter() - t0, 1)}
