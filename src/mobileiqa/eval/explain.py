"""Evaluating a model's explanation heads on the evaluated split: how well the quality map matches the dataset's
local targets (mean per-image Spearman, :func:`mobileiqa.eval.metrics.spatial.map_spearman`), how well the spread
ranks the annotators' disagreement (SRCC against ``mos_std``), and where the map points on the quadrant set
(:mod:`mobileiqa.eval.localised`); plus a sheet of the best- and worst-scored images drawn with their maps.

The model is reached through an ``explain`` callable (the evaluate stage passes
:meth:`mobileiqa.predict.Predictor.explain`, what users run: it scores and explains an image in one pass, so the
evaluation's scores come from the same pass) and the example figures through a ``draw`` callable, so this module
stays below the inference layer.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw
from scipy.stats import spearmanr
from tqdm import tqdm

from mobileiqa.atomic import atomic_path
from mobileiqa.data.families import kind_of
from mobileiqa.data.local_targets import LocalTargets, window_target
from mobileiqa.eval.localised import quadrant_figure, quadrant_set, score_quadrant_maps
from mobileiqa.eval.metrics.spatial import map_spearman
from mobileiqa.eval.settings import ExplainEvalConfig, LocalisedConfig

SHEET_WIDTH = 480  # px of each example in the sheet


@dataclass(frozen=True)
class Explained:
    """Scores ``(N,)``, quality maps ``(N, G, G)`` and spreads ``(N,)`` of ``N`` images."""

    score: np.ndarray
    quality_map: np.ndarray
    spread: np.ndarray


ExplainFn = Callable[[list], object]  # images -> an object with score, quality_map and spread arrays
DrawFn = Callable[[object, np.ndarray, float, float], Image.Image]  # (image, map, score, spread) -> figure


def explain_in_chunks(explain: ExplainFn, images: Sequence, chunk: int, desc: str) -> Explained:
    """``explain`` of ``images`` ``chunk`` at a time with a progress bar (bounded memory), concatenated."""
    parts = []
    with tqdm(total=len(images), desc=desc, unit="img", leave=False) as bar:
        for i in range(0, len(images), chunk):
            part = list(images[i:i + chunk])
            parts.append(explain(part))
            bar.update(len(part))
    return Explained(*(np.concatenate([np.asarray(getattr(p, k)) for p in parts])
                       for k in ("score", "quality_map", "spread")))


def target_maps(root: Path, frame: pd.DataFrame, grid: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The local target of every row of ``frame`` pooled onto the model's ``grid`` (whole image) and which rows
    have one; ``None`` when the dataset has no local targets (a real dataset)."""
    targets = LocalTargets.load(root)
    if targets is None:
        return None
    maps = np.full((len(frame), grid, grid), np.nan)
    has = np.zeros(len(frame), bool)
    for i, (image_id, w, h) in enumerate(zip(frame["image_id"].astype(str), frame["width"], frame["height"],
                                             strict=True)):
        if image_id in targets:
            maps[i] = window_target(targets.get(image_id), (int(h), int(w)), (0, 0, int(h), int(w)), grid=grid)
            has[i] = True
    return maps, has


def _srcc(a: np.ndarray, b: np.ndarray) -> float | None:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.ptp(a[ok]) == 0 or np.ptp(b[ok]) == 0:
        return None
    return round(float(spearmanr(a[ok], b[ok]).statistic), 4)


def explanation_metrics(ex: Explained, frame: pd.DataFrame, root: Path) -> dict:
    """Map and spread accuracy of ``ex`` (rows of ``frame``) against the local targets and ``mos_std``."""
    out: dict = {"grid": int(ex.quality_map.shape[-1])}
    targets = target_maps(root, frame, ex.quality_map.shape[-1])
    if targets is None:
        out["map"] = "skipped: the dataset has no local targets (a real dataset)"
    else:
        maps, has = targets
        out["map"] = {k: (round(v, 4) if isinstance(v, float) else v)
                      for k, v in map_spearman(ex.quality_map[has], maps[has]).items()}
        if "dist_type" in frame:
            kinds = frame["dist_type"].astype(str).map(kind_of).to_numpy()
            out["map"]["per_kind"] = {k: map_spearman(ex.quality_map[has & (kinds == k)], maps[has & (kinds == k)])[
                "mean"] for k in sorted(set(kinds)) if (has & (kinds == k)).any()}
    std = pd.to_numeric(frame.get("mos_std", pd.Series(np.nan, index=frame.index)), errors="coerce").to_numpy()
    out["spread"] = {"srcc": _srcc(ex.spread, std), "mean_predicted": round(float(np.mean(ex.spread)), 4),
                     "mean_true": None if not np.isfinite(std).any() else round(float(np.nanmean(std)), 4)}
    return out


def pointing(explain: ExplainFn, root: Path, split: str, cfg: LocalisedConfig, batch: int,
             figure_path: Path | None = None) -> dict:
    """Pointing accuracy of the quality map on the quadrant set of ``split`` (and its figure)."""
    items = quadrant_set(root, split, cfg.types, cfg.level, cfg.max_photos, cfg.seed)
    ex = explain_in_chunks(explain, [i.image for i in items], batch, "explain quadrant set")
    grids = list(ex.quality_map)
    out = score_quadrant_maps(items, grids)
    out.pop("per_item", None)
    if figure_path is not None:
        out["figure"] = str(quadrant_figure(items, grids, figure_path))
    return out


def example_sheet(draw: DrawFn, files: Sequence, frame: pd.DataFrame, ex: Explained, n: int,
                  path: str | os.PathLike) -> Path:
    """The ``n`` best- and ``n`` worst-scored images drawn with their maps by ``draw``, best on the top row, each
    captioned with its id, type and MOS; one PNG (atomic)."""
    order = np.argsort(ex.score)
    rows = {"best": list(order[::-1][:n]), "worst": list(order[:n])}
    tiles = {}
    for name, picks in rows.items():
        for i in picks:
            shown = draw(files[i], ex.quality_map[i], float(ex.score[i]), float(ex.spread[i]))
            tile = shown.resize((SHEET_WIDTH, round(shown.height * SHEET_WIDTH / shown.width)),
                                Image.Resampling.LANCZOS)
            r = frame.iloc[i]
            caption = f"{name}: {r['image_id']} ({r.get('dist_type', '?')}), MOS {float(r['mos']):.3f}"
            tiles.setdefault(name, []).append((tile, caption))
    cap, pad = 22, 8
    row_h = max(t.height for ts in tiles.values() for t, _ in ts) + cap + pad
    sheet = Image.new("RGB", (n * (SHEET_WIDTH + pad) + pad, len(tiles) * row_h + pad), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for r, ts in enumerate(tiles.values()):
        for c, (tile, caption) in enumerate(ts):
            x, y = pad + c * (SHEET_WIDTH + pad), pad + r * row_h
            draw.text((x, y), caption, fill=(0, 0, 0))
            sheet.paste(tile, (x, y + cap))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        sheet.save(tmp, format="PNG")
    return path


def evaluate_explanations(explain: ExplainFn, draw: DrawFn, files: Sequence, frame: pd.DataFrame, ex: Explained,
                          root: Path, split: str, localised: LocalisedConfig, cfg: ExplainEvalConfig, batch: int,
                          plots: Path) -> tuple[dict, list[Path]]:
    """Every explanation figure of the evaluation: accuracy (map, spread), pointing, the example sheet."""
    out = explanation_metrics(ex, frame, root)
    figures = []
    if (root / "refs").is_dir():
        out["pointing"] = pointing(explain, root, split, localised, batch, plots / "quadrants.png")
        figures.append(Path(out["pointing"]["figure"]))
    else:
        out["pointing"] = "skipped: the dataset keeps no reference photos"
    if cfg.examples:
        figures.append(example_sheet(draw, files, frame, ex, min(cfg.examples, len(files) // 2 or 1),
                                     plots / "explain_examples.png"))
        out["examples"] = str(figures[-1])
    return out, figures


def explain_checks(out: dict, cfg: ExplainEvalConfig) -> list[dict]:
    """The report's verdict rows for the explanation targets that ``out`` can judge."""
    rows = []
    m = out.get("map")
    if isinstance(m, dict) and m.get("mean") is not None:
        rows.append({"name": "map_srcc", "check": "quality map vs local targets (evaluate.explain.map_srcc_target)",
                     "passed": m["mean"] >= cfg.map_srcc_target,
                     "figure": f"mean per-image Spearman {m['mean']:.3f} vs {cfg.map_srcc_target:.2f}"})
    p = out.get("pointing")
    if isinstance(p, dict):
        rows.append({"name": "pointing", "check": "map points at the distorted quadrant (evaluate.explain."
                     "pointing_target)", "passed": p["accuracy"] >= cfg.pointing_target,
                     "figure": f"{p['accuracy']:.0%} of {p['count']} vs {cfg.pointing_target:.0%}"})
    s = out.get("spread", {}).get("srcc")
    if s is not None:
        rows.append({"name": "spread_srcc", "check": "spread vs annotators' std (evaluate.explain.spread_srcc_target)",
                     "passed": s >= cfg.spread_srcc_target, "figure": f"SRCC {s:.3f} vs {cfg.spread_srcc_target:.2f}"})
    return rows


def report_section(out: dict) -> list[str]:
    """Markdown lines of the report's explanation section."""
    lines = ["\n## Explanations: quality map and opinion spread\n",
             f"The student's explanation heads on its {out['grid']} x {out['grid']} grid. The spread is the predicted "
             "disagreement of the (simulated) raters, not a confidence interval of the model's error.\n"]
    m = out["map"]
    if isinstance(m, dict):
        med = "n/a" if m["median"] is None else f"{m['median']:.3f}"
        mean = "n/a" if m["mean"] is None else f"{m['mean']:.3f}"
        lines.append(f"- Map vs local targets: mean per-image Spearman **{mean}** (median {med}; {m['count']} images,"
                     f" {m['skipped']} skipped as flat)")
        for kind, v in m.get("per_kind", {}).items():
            lines.append(f"  - {kind}: {'n/a' if v is None else f'{v:.3f}'}")
    else:
        lines.append(f"- Map vs local targets: {m}")
    s = out["spread"]
    srcc = "n/a" if s["srcc"] is None else f"{s['srcc']:.3f}"
    lines.append(f"- Spread vs annotators' std: SRCC **{srcc}** (mean predicted {s['mean_predicted']:.4f}, "
                 f"true {s['mean_true']})")
    p = out["pointing"]
    if isinstance(p, dict):
        lo, hi = p["ci95"]
        lines.append(f"- Pointing (quadrant set): **{p['accuracy']:.0%}** of {p['count']} (95 % CI {lo:.0%}-{hi:.0%};"
                     f" chance {p['chance']:.0%}); per type: "
                     + ", ".join(f"{t} {v['accuracy']:.0%}" for t, v in p.get("per_type", {}).items()))
        lines.append(f"\n![quadrant set]({Path(p['figure']).parent.name}/{Path(p['figure']).name})")
    else:
        lines.append(f"- Pointing: {p}")
    if out.get("examples"):
        e = Path(out["examples"])
        lines.append(f"\n![best and worst scored images with their maps]({e.parent.name}/{e.name})")
    return lines
