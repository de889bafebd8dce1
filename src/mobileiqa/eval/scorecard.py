"""The scorecard of one manifest split: models and classic baselines scored on the same images, metrics with
bootstrap intervals, per distortion type and level, paired comparisons, and a Markdown table.

Every scorer is a callable ``list[Path] -> np.ndarray`` (one score per image). Models are scored through
:class:`mobileiqa.predict.Predictor` (PyTorch checkpoint, ONNX fp32/int8 or ORT alike); baselines through
:mod:`mobileiqa.eval.baselines`. Lower-is-better scores (NIQE, PIQE, BRISQUE) are negated before any metric, so
every reported correlation reads "higher = agrees with MOS"; the ``sign`` field of each entry records it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from mobileiqa.data import families
from mobileiqa.data.manifest import split_rows
from mobileiqa.eval.metrics import accuracy, bootstrap, grouped, paired_bootstrap_diff

Scorer = Callable[[list[Path]], np.ndarray]
CI_METRICS = ("srcc", "krcc", "plcc")


@dataclass(frozen=True)
class Column:
    """One scored column of the evaluation frame: a model or a baseline."""

    name: str
    kind: str  # "model" | "baseline"
    higher_is_better: bool = True

    @property
    def sign(self) -> int:
        return 1 if self.higher_is_better else -1


def split_frame(manifest: pd.DataFrame, root: Path, split: str) -> pd.DataFrame:
    """The rows of ``split`` with absolute image paths (column ``file``); error if the split is empty."""
    rows = split_rows(manifest, split, "the manifest", "set evaluate.split").copy()
    rows["file"] = [root / p for p in rows["path"]]
    return rows.reset_index(drop=True)


def score_in_chunks(scorer: Scorer, files: Sequence[Path], chunk: int, desc: str) -> np.ndarray:
    """Score ``files`` ``chunk`` at a time with a progress bar (memory stays bounded on big splits)."""
    out = []
    with tqdm(total=len(files), desc=desc, unit="img", leave=False) as bar:
        for i in range(0, len(files), chunk):
            part = list(files[i:i + chunk])
            scores = np.asarray(scorer(part), dtype=np.float64).reshape(-1)
            if len(scores) != len(part):
                raise RuntimeError(f"scorer {desc!r} returned {len(scores)} scores for {len(part)} images")
            out.append(scores)
            bar.update(len(part))
    return np.concatenate(out) if out else np.empty(0)


def group_srcc(values: np.ndarray, mos: np.ndarray, labels: Sequence) -> dict[str, float | None]:
    """SRCC per group label (6 digits; None where undefined, e.g. fewer than 3 items)."""
    return {str(k): _num(v.srcc) for k, v in grouped(values, mos, list(labels)).items()}


def _num(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 6)


def column_metrics(frame: pd.DataFrame, column: Column, n_boot: int, seed: int) -> dict:
    """Metrics of one column against MOS: raw + logistic-mapped, 95 % intervals, per distortion type and level."""
    values = column.sign * frame[column.name].to_numpy(np.float64)
    mos = frame["mos"].to_numpy(np.float64)
    metrics = accuracy(values, mos).to_dict()
    out: dict = {"kind": column.kind, "sign": column.sign, "n": metrics.pop("n"),
                 **{k: _num(v) for k, v in metrics.items() if k != "fit"}, "fit": metrics["fit"]}
    if n_boot:
        out["ci95"] = {k: [_num(lo), _num(hi)] for k, (lo, hi) in
                       bootstrap(values, mos, CI_METRICS, n_boot=n_boot, seed=seed).items()}
    if frame["dist_type"].astype(str).str.len().gt(0).all():
        out.update(type_srcc(values, mos, frame["dist_type"]))
        out["per_level"] = group_srcc(values, mos, frame["dist_level"].astype(int))
    return out


def type_srcc(values: np.ndarray, mos: np.ndarray, dist_types: pd.Series) -> dict[str, dict]:
    """``per_type``: SRCC per distortion type, every mixture under one label; ``per_kind`` (only for synthetic
    labels of more than one kind, e.g. a default build with phone families or mixtures): per
    :func:`~mobileiqa.data.families.kind_of` (kadid / phone / mixture)."""
    types = dist_types.astype(str)
    out = {"per_type": group_srcc(values, mos, types.map(families.type_label))}
    try:
        kinds = types.map({t: families.kind_of(t) for t in types.unique()})
    except ValueError:  # a real dataset's labels: no kinds
        return out
    if kinds.nunique() > 1:
        out["per_kind"] = group_srcc(values, mos, kinds)
    return out


def compare(frame: pd.DataFrame, a: Column, b: Column, n_boot: int, seed: int) -> dict:
    """Paired-bootstrap differences ``a - b`` in SRCC and PLCC on the same images."""
    mos = frame["mos"].to_numpy(np.float64)
    pa, pb = a.sign * frame[a.name].to_numpy(np.float64), b.sign * frame[b.name].to_numpy(np.float64)
    return {metric: paired_bootstrap_diff(pa, pb, mos, metric, n_boot=max(n_boot, 1), seed=seed).to_dict()
            for metric in ("srcc", "plcc")}


def markdown_table(results: dict[str, dict]) -> str:
    """Accuracy table: one row per model/baseline, with the SRCC interval."""
    lines = ["| scorer | kind | SRCC (95 % CI) | KRCC | PLCC | PLCC (logistic) | RMSE (logistic) |",
             "|---|---|---|---|---|---|---|"]
    for name, r in sorted(results.items(), key=lambda kv: (kv[1]["kind"] != "model", -(kv[1]["srcc"] or -9))):
        ci = r.get("ci95", {}).get("srcc")
        ci_text = f" ({ci[0]:.3f}–{ci[1]:.3f})" if ci and None not in ci else ""
        lines.append(f"| {name} | {r['kind']} | {_fmt(r['srcc'])}{ci_text} | {_fmt(r['krcc'])} | {_fmt(r['plcc'])} "
                     f"| {_fmt(r['plcc_logistic'])} | {_fmt(r['rmse_logistic'])} |")
    return "\n".join(lines) + "\n"


def per_type_table(results: dict[str, dict], key: str = "per_type", header: str = "distortion") -> str:
    """SRCC per distortion type (rows) and scorer (columns); ``key="per_kind"``: per kind (KADID types, phone
    families, mixtures)."""
    names = [n for n, r in results.items() if key in r]
    if not names:
        return ""
    types = list(results[names[0]][key])
    lines = [f"| {header} | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for t in types:
        lines.append(f"| {t} | " + " | ".join(_fmt(results[n][key].get(t)) for n in names) + " |")
    return "\n".join(lines) + "\n"


def _fmt(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"
