"""Plots as PNG files (matplotlib, headless): training curves now; scatter and per-distortion bars later."""

from __future__ import annotations

import os
from pathlib import Path

from mobileiqa.atomic import atomic_path


def training_curves(history: list[dict], path: str | os.PathLike, title: str = "") -> Path:
    """Loss terms per epoch (left) and validation correlations (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return Path(path)
