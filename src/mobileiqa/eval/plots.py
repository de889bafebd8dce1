"""Plots as PNG files (matplotlib, headless): training curves, predicted-vs-MOS scatter with the logistic fit,
per-distortion SRCC bars (model vs baselines), behavioural curves, latency vs resolution, cost vs accuracy.

Every figure is drawn at 100 dpi and kept at most ``MAX_WIDTH_PX`` wide, so it reads at 100 % on a laptop screen;
figures with one row per item (distortion types, small multiples) grow in height instead."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from mobileiqa.atomic import atomic_path
from mobileiqa.preprocess import PHOTO_HEIGHT, PHOTO_WIDTH

DPI = 100
#: No figure is wider than this (pixels at ``DPI``).
MAX_WIDTH_PX = 1400
#: Distortion types up to this count share one axes in ``level_curves``; more get one small panel each.
SINGLE_AXES_MAX_TYPES = 8
_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "p"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _figure(width_in: float, height_in: float, **kw):
    """A figure (and axes) at ``DPI``, never wider than ``MAX_WIDTH_PX``."""
    plt = _pyplot()
    return plt.subplots(figsize=(min(width_in, MAX_WIDTH_PX / DPI), height_in), dpi=DPI, **kw)


def _save(fig, path: str | os.PathLike) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)
    _pyplot().close(fig)
    return Path(path)


def _colour(i: int) -> str:
    return f"C{i % 10}"


def _style(i: int) -> dict:
    """A distinct (colour, marker) pair for the i-th series: ten colours, each cycle with the next marker."""
    return {"color": _colour(i), "marker": _MARKERS[(i + i // 10) % len(_MARKERS)]}


def _plain_log_labels(axis) -> None:
    """Label a log axis with plain numbers (0.03, not 3×10⁻²), on the ticks matplotlib would label anyway."""
    from matplotlib.ticker import LogFormatterSciNotation

    class Plain(LogFormatterSciNotation):
        def __call__(self, x, pos=None):
            return f"{x:g}" if super().__call__(x, pos) else ""

    axis.set_major_formatter(Plain())
    axis.set_minor_formatter(Plain(labelOnlyBase=False))


# ----------------------------------------------------------------------------------------------- training curves
def training_curves(history: list[dict], path: str | os.PathLike, title: str = "") -> Path:
    """Loss terms per epoch (left, log scale; the total drawn black and dashed) and the validation correlations
    (right, joined across the epochs without validation; the best-SRCC epoch marked). Legends sit below the axes."""
    from matplotlib.ticker import MaxNLocator

    epochs = np.array([int(h["epoch"]) + 1 for h in history])
    fig, (ax_loss, ax_val) = _figure(11, 4.6, ncols=2, layout="constrained")

    def series(key):
        return np.array([h.get(key, np.nan) for h in history], dtype=float)

    total = series("train_loss")
    terms = sorted({k for h in history for k in h if k.startswith("train_loss_")})
    for i, key in enumerate(terms):
        ys = series(key)
        if np.allclose(ys, total, equal_nan=True):
            continue  # the only term: the total line shows it
        ok = np.isfinite(ys)
        ax_loss.plot(epochs[ok], ys[ok], lw=1.6, ms=5, label=key.removeprefix("train_loss_"), **_style(i))
    if np.isfinite(total).any():
        only = [k.removeprefix("train_loss_") for k in terms if np.allclose(series(k), total, equal_nan=True)]
        ok = np.isfinite(total)
        ax_loss.plot(epochs[ok], total[ok], color="k", ls="--", lw=2, marker="o", ms=4,
                     label="total" + (f" (= {only[0]})" if only else ""))
    ax_loss.set(xlabel="epoch", ylabel="training loss (log scale)", yscale="log", title="training loss")
    _plain_log_labels(ax_loss.yaxis)
    ax_loss.grid(True, which="both", alpha=0.25)

    for i, key in enumerate(("val_srcc", "val_plcc", "val_krcc")):
        ys = series(key)
        ok = np.isfinite(ys)
        if ok.any():
            ax_val.plot(epochs[ok], ys[ok], lw=1.6, ms=6, label=key[4:].upper(), **_style(i))
    srcc = series("val_srcc")
    if np.isfinite(srcc).any():
        best = int(np.nanargmax(srcc))
        ax_val.axvline(epochs[best], color="0.4", ls=":", lw=1.2,
                       label=f"best SRCC {srcc[best]:.3f} (epoch {epochs[best]})")
    ax_val.set(xlabel="epoch", ylabel="correlation", title="validation")
    ax_val.grid(True, alpha=0.25)
    for ax in (ax_loss, ax_val):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if ax.lines:
            ax.set_xlim(epochs.min() - 0.5, epochs.max() + 0.5)
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncols=3, frameon=False)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


# --------------------------------------------------------------------------------------------------- scatter
def _ranks(a: np.ndarray) -> np.ndarray:
    """Ranks with ties averaged (Spearman's)."""
    order = np.empty(len(a))
    order[a.argsort(kind="mergesort")] = np.arange(len(a))
    _, inverse, counts = np.unique(a, return_inverse=True, return_counts=True)
    return (np.bincount(inverse, order) / counts)[inverse]


def scatter_with_fit(pred, mos, fit, path: str | os.PathLike, title: str = "", srcc: float | None = None) -> Path:
    """Predicted score vs MOS with the fitted 4-parameter logistic (``fit`` is a callable or None); the subtitle gives
    SRCC (``srcc``, else computed), PLCC of the raw scores and, with a fit, PLCC after it, and the count."""
    pred, mos = np.asarray(pred, float), np.asarray(mos, float)
    keep = np.isfinite(pred) & np.isfinite(mos)
    pred, mos = pred[keep], mos[keep]
    fig, ax = _figure(6.6, 6.0, layout="constrained")
    ax.scatter(pred, mos, s=12, alpha=0.45, color="C0", edgecolors="none", label=f"photos (n = {len(pred)})")
    stats = []
    if len(pred) > 2 and np.ptp(pred) > 0 and np.ptp(mos) > 0:
        if srcc is None:
            srcc = float(np.corrcoef(_ranks(pred), _ranks(mos))[0, 1])
        stats.append(f"PLCC {np.corrcoef(pred, mos)[0, 1]:.3f}")
    if fit is not None and len(pred):
        xs = np.linspace(pred.min(), pred.max(), 200)
        kind = getattr(fit, "kind", "logistic")
        ax.plot(xs, fit(xs), color="C3", lw=2.5, label="logistic fit" if kind == "logistic" else f"{kind} fit")
        fitted = np.asarray(fit(pred), float)
        if len(pred) > 2 and np.ptp(fitted) > 0 and np.ptp(mos) > 0:
            stats.append(f"PLCC after fit {np.corrcoef(fitted, mos)[0, 1]:.3f}")
    if srcc is not None:
        stats.insert(0, f"SRCC {srcc:.3f}")
    ax.set_title((title or "prediction vs MOS") + ("\n" + " · ".join(stats) if stats else ""))
    ax.set(xlabel="predicted score", ylabel="MOS (normalised)")
    ax.grid(True, alpha=0.25)
    ax.legend(loc="upper left")
    return _save(fig, path)


# ------------------------------------------------------------------------------------------ per-type SRCC bars
def grouped_bars(table: dict[str, dict[str, float | None]], path: str | os.PathLike, ylabel: str = "SRCC",
                 title: str = "") -> Path:
    """Horizontal grouped bars, one row per group and one bar per scorer: ``table[scorer][group] = value`` (None:
    no bar, ``n/a``). Rows are sorted by the first scorer's value (highest on top); the figure is at most
    ``MAX_WIDTH_PX`` wide and grows in height with the number of groups; the legend sits above the axes."""
    scorers = list(table)
    groups = list(dict.fromkeys(g for name in scorers for g in table[name]))
    first = table[scorers[0]] if scorers else {}

    def rank(g):
        v = first.get(g)
        return (v is None or not np.isfinite(v), -(v or 0.0))

    groups.sort(key=rank)  # stable: ties keep the table's order
    k, n = max(len(scorers), 1), len(groups)
    row_in = 0.07 * k + 0.1  # ~7 px per bar at 100 dpi, plus a gap between rows
    height = 1.9 + row_in * max(n, 1)
    fig, ax = _figure(10, height)
    bar = 0.82 / k
    y = np.arange(n)
    for i, name in enumerate(scorers):
        vals = [table[name].get(g) for g in groups]
        pos = y - 0.41 + (i + 0.5) * bar
        ax.barh(pos, [np.nan if v is None else v for v in vals], bar * 0.9, color=_colour(i), label=name, zorder=2)
        for p, v in zip(pos, vals, strict=True):
            if v is None or not np.isfinite(v):
                ax.text(0, p, " n/a", fontsize=8, va="center", ha="left", color=_colour(i))
    for j in range(1, n, 2):  # shade every other row so a type's bars read as one group
        ax.axhspan(j - 0.5, j + 0.5, color="0.93", zorder=0)
    ax.set_yticks(y, groups)
    ax.set_ylim(max(n, 1) - 0.5, -0.5)
    ax.axvline(0, color="k", lw=0.8, zorder=3)
    ax.tick_params(axis="x", labeltop=True, top=True)  # a scale at both ends of a tall figure
    ax.grid(axis="x", alpha=0.4, zorder=1)
    ax.set_xlabel(f"{ylabel} (rows sorted by {scorers[0]}, highest first)" if scorers else ylabel)
    top_in = 0.1  # title and legend in a band above the axes and their top tick labels
    if title:
        fig.suptitle(title, y=1 - top_in / height, va="top")
        top_in += 0.32
    if scorers:
        fig.legend(loc="upper center", bbox_to_anchor=(0.5, 1 - top_in / height), ncols=min(k, 6), frameon=False)
        top_in += 0.3
    fig.tight_layout(rect=(0, 0, 1, 1 - top_in / height), pad=0.6)
    return _save(fig, path)


# ------------------------------------------------------------------------------------------- behaviour curves
def level_curves(curves: dict[str, list[float]], path: str | os.PathLike, title: str = "") -> Path:
    """Mean score per distortion level (0 = pristine) for each distortion type. Up to ``SINGLE_AXES_MAX_TYPES``
    types share one axes (distinct colour and marker each, legend right of the axes); more get one small panel
    each (that type in colour, the others in grey behind it), five panels a row."""
    from matplotlib.ticker import MaxNLocator

    names = list(curves)
    if len(names) <= SINGLE_AXES_MAX_TYPES:
        fig, ax = _figure(9, 4.6, layout="constrained")
        for i, name in enumerate(names):
            ys = curves[name]
            ax.plot(range(len(ys)), ys, lw=1.8, ms=6, label=name, **_style(i))
        ax.set(xlabel="distortion level (0 = pristine)", ylabel="mean predicted score", title=title or "behaviour")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.25)
        if names:
            ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), title="distortion")
        return _save(fig, path)
    ncols = 5
    nrows = math.ceil(len(names) / ncols)
    fig, axes = _figure(13, 0.9 + 2.0 * nrows, nrows=nrows, ncols=ncols, sharex=True, sharey=True,
                        layout="constrained", squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        for other in names:
            if other != name:
                ax.plot(range(len(curves[other])), curves[other], color="0.82", lw=0.8, zorder=1)
        ys = curves[name]
        ax.plot(range(len(ys)), ys, color="C0", marker="o", ms=4, lw=2, zorder=2)
        ax.set_title(name, fontsize=10)
        ax.grid(True, alpha=0.25)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in axes.flat[len(names):]:
        ax.set_visible(False)
    for ax in axes.flat[max(len(names) - ncols, 0):len(names)]:
        ax.xaxis.set_tick_params(labelbottom=True)  # the lowest panel of each column shows the levels
    fig.supxlabel("distortion level (0 = pristine)")
    fig.supylabel("mean predicted score")
    fig.suptitle((title or "behaviour") + " (grey: the other types)")
    return _save(fig, path)


# --------------------------------------------------------------------------------------- latency vs resolution
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
    fig, ax = plt.subplots(figsize=(10, 4.5), dpi=DPI)
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


# ------------------------------------------------------------------------------------------- cost vs accuracy
def _overlap(a, b) -> float:
    """Overlap area of two display-space boxes (x0, y0, x1, y1)."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return max(w, 0.0) * max(h, 0.0)


def _offsets() -> list[tuple[float, float, str, str]]:
    """Label offsets (points) and alignments tried in order around a point: beside it (right, left), above and below
    it but clear of its own error bar, the diagonals; then the same further out."""
    out = []
    for r in (7, 14, 24, 36, 50):
        out += [(r, 0, "left", "center"), (-r, 0, "right", "center"),
                (8, r, "left", "bottom"), (-8, r, "right", "bottom"), (8, -r, "left", "top"), (-8, -r, "right", "top"),
                (r, r, "left", "bottom"), (-r, r, "right", "bottom"), (r, -r, "left", "top"), (-r, -r, "right", "top")]
    return out


def place_labels(ax, points: list[tuple[float, float]], texts: list[str], obstacles: list[tuple] = (),
                 pad_px: float = 3.0, **text_kw) -> list:
    """Annotate each data point with its text, without overlaps: for each label (in order) take the first offset
    of ``_offsets()`` whose box stays inside the axes and clears every label placed so far, every point and every
    box in ``obstacles`` (display pixels, ``(x0, y0, x1, y1)``); where none does, the offset that overlaps least.
    Labels away from their point get a thin leader line. Call after the axes' limits and the layout are final;
    returns the annotations."""
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    to_px = ax.transData.transform
    marks = [(x - 6, y - 6, x + 6, y + 6) for x, y in (to_px(p) for p in points)]
    taken: list[tuple] = []
    placed = []
    for (px, py), text in zip(points, texts, strict=True):
        best = None
        for dx, dy, ha, va in _offsets():
            ann = ax.annotate(text, (px, py), textcoords="offset points", xytext=(dx, dy), ha=ha, va=va, **text_kw)
            e = ann.get_window_extent(renderer)
            box = (e.x0 - pad_px, e.y0 - pad_px, e.x1 + pad_px, e.y1 + pad_px)
            outside = e.width * e.height - _overlap((e.x0, e.y0, e.x1, e.y1),
                                                   (frame.x0, frame.y0, frame.x1, frame.y1))
            cost = (10 * sum(_overlap(box, t) for t in taken) + sum(_overlap(box, m) for m in marks)
                    + sum(_overlap(box, o) for o in obstacles) + 5 * outside)
            if best is None or cost < best[0]:
                if best is not None:
                    best[1].remove()
                best = (cost, ann, box, (dx, dy))
            else:
                ann.remove()
            if cost == 0:
                break
        _, ann, box, (dx, dy) = best
        if math.hypot(dx, dy) > 15:
            ann.remove()
            ann = ax.annotate(text, (px, py), textcoords="offset points", xytext=(dx, dy),
                              ha=ann.get_ha(), va=ann.get_va(),
                              arrowprops={"arrowstyle": "-", "color": "0.5", "lw": 0.7, "shrinkA": 0, "shrinkB": 4},
                              **text_kw)
        taken.append(box)
        placed.append(ann)
    return placed


def _short_names(models: list[str]) -> dict[str, str]:
    """Model names without ``mobileiqa_student_`` and without the ``_``-separated words that all share at the
    start (``mobilenetv3_small_100_nano``, ``mobilenetv3_small_050_pico`` -> ``100_nano``, ``050_pico``)."""
    words = [m.removeprefix("mobileiqa_student_").split("_") for m in models]
    n = 0
    if len(words) > 1:
        while all(len(w) > n + 1 and w[n] == words[0][n] for w in words):
            n += 1
    return {m: "_".join(w[n:]) for m, w in zip(models, words, strict=True)}


def _room_right(ax, drawn: list[tuple], fontsize: float) -> None:
    """Widen the x range so that the rightmost point's label fits right of it, unless that takes more than a third
    of the axes (then ``place_labels`` puts it elsewhere)."""
    if not drawn or ax.get_xscale() != "linear":
        return
    fig = ax.figure
    x, *_, text = max(drawn, key=lambda d: d[0])
    probe = ax.text(0, 0, text, fontsize=fontsize)
    renderer = fig.canvas.get_renderer()
    need = probe.get_window_extent(renderer).width + 24  # the offset, padding and the marker
    probe.remove()
    width = ax.get_window_extent(renderer).width
    lo, hi = ax.get_xlim()
    have = (hi - x) / (hi - lo) * width
    if have >= need or need > width / 3:
        return
    # solve (hi' - x) / (hi' - lo) * width = need for hi'
    frac = need / width
    ax.set_xlim(lo, (x - frac * lo) / (1 - frac))


def cost_vs_accuracy(rows: list[dict], path: str | os.PathLike, title: str = "",
                     resolution: str = f"{PHOTO_WIDTH}x{PHOTO_HEIGHT}") -> Path:
    """Mean SRCC over seeds (bars: min to max over the seeds, where rows carry ``srcc_min``/``srcc_max``) against
    parameters (left) and GMACs (right), one colour per model, the reference drawn as a square and labelled
    ``(ref)``; labels are placed so that none overlaps another label or a point (``place_labels``)."""
    fig, axes = _figure(12, 5.2, ncols=2, sharey=True)
    names = _short_names([r["model"] for r in rows])
    panels = ((axes[0], "params_m", "parameters (M)"), (axes[1], "gmacs", f"GMACs at {resolution}"))
    drawn: dict = {ax: [] for ax, _, _ in panels}
    for ax, key, label in panels:
        for i, r in enumerate(rows):
            x = r.get(key)
            if x is None:
                continue
            y = r["srcc_mean"]
            lo, hi = r.get("srcc_min"), r.get("srcc_max")
            err = None if lo is None or hi is None else [[y - lo], [hi - y]]
            ax.errorbar([x], [y], yerr=err, fmt="s" if r.get("reference") else "o", ms=8 if r.get("reference") else 7,
                        color=_colour(i), capsize=4, elinewidth=1.4, zorder=3)
            short = names[r["model"]] + (" (ref)" if r.get("reference") else "")
            drawn[ax].append((x, y, lo, hi, short))
        ax.set(xlabel=label, title=f"SRCC vs {label.split(' ')[0]}")
        ax.margins(x=0.25, y=0.12)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test SRCC (mean over seeds; bars: min–max)")
    first = rows[0]["model"].removeprefix("mobileiqa_student_") if rows else ""
    common = first[: len(first) - len(names[rows[0]["model"]])] if rows else ""  # the words the labels leave out
    if title or common:
        fig.suptitle(title + (f" (models {common}*)" if common else ""))
    fig.tight_layout()
    for ax, _, _ in panels:
        _room_right(ax, drawn[ax], fontsize=9)
    for ax, _, _ in panels:
        to_px = ax.transData.transform
        bars = []
        for x, _, lo, hi, _ in drawn[ax]:
            if lo is not None and hi is not None:
                (x0, y0), (x1, y1) = to_px((x, lo)), to_px((x, hi))
                bars.append((x0 - 6, y0 - 2, x1 + 6, y1 + 2))  # the bar and its caps
        place_labels(ax, [(x, y) for x, y, *_ in drawn[ax]], [d[4] for d in drawn[ax]], bars, fontsize=9)
    return _save(fig, path)
