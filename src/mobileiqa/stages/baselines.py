"""The ``baselines`` stage: the evaluated split scored once with the classic baselines (NIQE, PIQE, BRISQUE).
Their scores do not depend on the model, so the pipeline caches them in their own stage; ``evaluate`` joins them
(:func:`join_baselines`). Writes ``scores.csv`` and ``baselines.json``."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd

from mobileiqa.atomic import read_stage_json, write_csv, write_json
from mobileiqa.config import Params
from mobileiqa.data.manifest import PreparedDataset, read_manifest
from mobileiqa.eval.baselines import get_baseline, score_images
from mobileiqa.eval.scorecard import split_frame
from mobileiqa.stages.mlflow_run import log_files, log_metrics, stage_logger

BASELINE_FILE = "scores.csv"


def evaluated_split(dataset_dir: str | os.PathLike, split: str) -> tuple[PreparedDataset, pd.DataFrame]:
    """The prepared dataset and the manifest rows of ``split`` (absolute ``file`` paths)."""
    dataset = PreparedDataset.load(dataset_dir)
    return dataset, split_frame(read_manifest(dataset.manifest), dataset.root, split)


def run_baselines(params: Params, dataset_dir: str | os.PathLike, out_dir: str | os.PathLike,
                  run_record: str | os.PathLike | None = None) -> dict:
    """Score the evaluated split with each configured baseline; writes ``scores.csv`` and ``baselines.json`` (in an
    MLflow run: the image count, each baseline's seconds and both files)."""
    dataset, frame = evaluated_split(dataset_dir, params.evaluate.split)
    out_dir = Path(out_dir)
    scores = pd.DataFrame({"image_id": frame["image_id"]})
    info = {"split": params.evaluate.split, "n": len(frame), "manifest_sha256": dataset.manifest_sha256,
            "baselines": {}}
    with stage_logger(params, "baselines", dataset_dir, context="evaluation", record=run_record) as logger:
        took = {}
        for name in params.evaluate.baselines:
            start = time.perf_counter()
            scores[name] = score_images(name, list(frame["file"]), progress=True)
            took[f"{name}_seconds"] = time.perf_counter() - start
            info["baselines"][name] = {"higher_is_better": bool(get_baseline(name).higher_is_better)}
        write_csv(out_dir / BASELINE_FILE, scores)
        write_json(out_dir / "baselines.json", info)
        log_metrics(logger, {"images": len(frame), **took})
        log_files(logger, out_dir / BASELINE_FILE, out_dir / "baselines.json")
    return info


def join_baselines(frame: pd.DataFrame, baselines_dir: Path, dataset: PreparedDataset, split: str) -> dict:
    """Add the cached baseline scores of ``baselines_dir`` to ``frame`` (one column per baseline); returns each
    baseline's ``{"higher_is_better": ...}``. Fails when they were scored on another dataset or split."""
    info_path = baselines_dir / "baselines.json"
    info = read_stage_json(info_path, "baselines")
    if info["manifest_sha256"] != dataset.manifest_sha256 or info["split"] != split:
        raise ValueError(f"{info_path} was computed for another dataset or split (split {info['split']!r}, manifest "
                         f"{info['manifest_sha256'][:12]}; now {split!r}, {dataset.manifest_sha256[:12]}): rerun "
                         "`mobileiqa baselines`")
    scores = pd.read_csv(baselines_dir / BASELINE_FILE, dtype={"image_id": str})
    merged = frame[["image_id"]].merge(scores, on="image_id", how="left")
    for name in info["baselines"]:
        if merged[name].isna().any():
            raise ValueError(f"{baselines_dir / BASELINE_FILE}: no {name} score for image "
                             f"{merged.loc[merged[name].isna(), 'image_id'].iloc[0]}; rerun `mobileiqa baselines`")
        frame[name] = merged[name].to_numpy()
    return info["baselines"]


