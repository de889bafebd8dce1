"""Plots as PNG files (matplotlib, headless): training curves, predicted-vs-MOS scatter with the logistic fit,
per-distortion SRCC bars (model vs baselines), behavioural curves, latency vs resolution."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from mobileiqa.atomic import atomic_path
from mobileiqa.preprocess import PHOTO_HEIGHT, PHOTO_WIDTH


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | os.PathLike) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    _pyplot().close(fig)
    return Path(path)


def training_curves(history: list[dict], path: str | os.PathLike, title: str = "") -> Path:
    """Loss terms per epoch (left) and validation correlations (right)."""
    plt = _pyplot()
    epochs = [int(h["epoch"]) + 1 for h in history]
    fig, (ax_loss, ax_val) = plt.subplots(1, 2, figsize=(10, 4))
    for key in sorted({k for h in history for k in h if k.startswith("train_loss")}):
        ax_loss.plot(epochs, [h.get(key, float("nan")) for h in history], marker="o", label=key[6:])
    ax_loss.set(xlabel="epoch", ylabel="loss", yscale="log", title="training loss")
    ax_loss.legend()
    for key in ("val_srcc", "val_plcc", "val_krcc"):
        if any(key in h for h in history):
            ax_val.plot(epochs, [h.get(key, float("nan")) for h in history], marker="o", label=key[4:].upper())
    ax_val.set(xlabel="epoch", ylabel="correlation", title="validation")
    ax_val.legend()
    from matplotlib.ticker import MaxNLocator

    for ax in (ax_loss, ax_val):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def scatter_with_fit(pred, mos, fit, path: str | os.PathLike, title: str = "", srcc: float | None = None) -> Path:
    """Predicted score vs MOS with the fitted 4-parameter logistic (``fit`` is a callable or None)."""
    plt = _pyplot()
    pred, mos = np.asarray(pred, float), np.asarray(mos, float)
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.scatter(pred, mos, s=8, alpha=0.5, edgecolors="none")
    if fit is not None and len(pred):
        xs = np.linspace(pred.min(), pred.max(), 200)
        ax.plot(xs, fit(xs), color="C3", lw=2, label="logistic fit")
        ax.legend(loc="lower right")
    label = f" (SRCC {srcc:.3f})" if srcc is not None else ""
    ax.set(xlabel="predicted score", ylabel="MOS (normalised)", title=(title or "prediction vs MOS") + label)
    fig.tight_layout()
    return _save(fig, path)


def grouped_bars(table: dict[str, dict[str, float | None]], path: str | os.PathLike, ylabel: str = "SRCC",
                 title: str = "") -> Path:
    """Bars per group (x) and scorer (colour): ``table[scorer][group] = value`` (None drawn as a gap)."""
    plt = _pyplot()
    scorers = list(table)
    groups = list(next(iter(table.values()))) if table else []
    width = 0.8 / max(len(scorers), 1)
    fig, ax = plt.subplots(figsize=(max(8, 0.45 * len(groups) * max(len(scorers), 1) / 2 + 4), 4.5))
    x = np.arange(len(groups))
    for i, name in enumerate(scorers):
        vals = [table[name].get(g) for g in groups]
        ax.bar(x + i * width - 0.4 + width / 2, [np.nan if v is None else v for v in vals], width, label=name)
    ax.set_xticks(x, groups, rotation=60, ha="right")
    ax.axhline(0, color="k", lw=0.6)
    ax.set(ylabel=ylabel, title=title)
    ax.legend(ncols=min(len(scorers), 4), fontsize="small")
    fig.tight_layout()
    return _save(fig, path)


def level_curves(curves: dict[str, list[float]], path: str | os.PathLike, title: str = "") -> Path:
    """Mean score per distortion level (0 = pristine) for each distortion type."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, ys in curves.items():
        ax.plot(range(len(ys)), ys, marker="o", label=name)
    ax.set(xlabel="distortion level (0 = pristine)", ylabel="mean predicted score", title=title or "behaviour")
    ax.legend()
    fig.tight_layout()
    return _save(fig, path)


def latency_vs_resolution(rows: list[dict], path: str | os.PathLike, title: str = "") -> Path:
    """Latency (s) vs megapixels, one line per (model, backend, threads): rows with keys model, backend, threads,
    height, width, latency_s. One colour per model, one line style per backend; the legend sits to the right."""
    plt = _pyplot()
    lines: dict[tuple, list[tuple[float, float]]] = {}
    for r in rows:
        key = (r["model"], r.get("backend", "torch"), r.get("threads", 1))
        lines.setdefault(key, []).append((r["height"] * r["width"] / 1e6, r["latency_s"]))
    models = list(dict.fromkeys(k[0] for k in sorted(lines)))
    backends = list(dict.fromkeys(k[1] for k in lines))  # first seen draws solid
    styles, markers = ["-", "--", ":", "-."], ["o", "s", "^", "D"]
    fig, ax = plt.subplots(figsize=(10, 4.5))
    for (model, backend, threads), pts in sorted(lines.items()):
        pts.sort()
        b, m = backends.index(backend), models.index(model)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], color=f"C{m % 10}", ls=styles[b % 4],
                marker=markers[b % 4], label=f"{model} {backend} {threads}t")
    ax.set(xlabel="megapixels", ylabel="latency (s, median)", xscale="log", yscale="log", title=title or "latency")
    from matplotlib.ticker import NullFormatter

    sizes = sorted({p[0] for pts in lines.values() for p in pts})
    ax.set_xticks(sizes, [f"{v:.2g}" for v in sizes])  # the measured resolutions, labelled plainly
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.grid(True, which="both", alpha=0.3)
    if lines:
        ax.legend(fontsize="x-small", loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    return _save(fig, path)


def cost_vs_accuracy(rows: list[dict], path: str | os.PathLike, title: str = "",
                     resolution: str = f"{PHOTO_WIDTH}x{PHOTO_HEIGHT}") -> Path:
    """Mean SRCC over seeds (bars: min-max) against parameters (left) and GMACs (right), one point per model; the
    reference is drawn as a square."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True)
    for ax, key, label in ((axes[0], "params_m", "parameters (M)"), (axes[1], "gmacs", f"GMACs at {resolution}")):
        for r in rows:
            x = r.get(key)
            if x is None:
                continue
            err = [[r["srcc_mean"] - r["srcc_min"]], [r["srcc_max"] - r["srcc_mean"]]]
            short = r["model"].removeprefix("mobileiqa_student_")
            ax.errorbar([x], [r["srcc_mean"]], yerr=err, fmt="s" if r.get("reference") else "o", capsize=3,
                        label=short)
            ax.annotate(short, (x, r["srcc_mean"]),
                        textcoords="offset points", xytext=(4, 4), fontsize=7)
        ax.set(xlabel=label, title=f"SRCC vs {label.split(' ')[0]}")
        ax.margins(x=0.3)  # room for the labels right of the points
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test SRCC (mean over seeds, min-max)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)
