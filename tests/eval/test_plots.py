"""The plots read at 100 % on a laptop screen: at most ``MAX_WIDTH_PX`` wide, per-type bars horizontal and growing in
height with the types, no legend over the data, no two ablation labels on top of each other."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.text import Text
from PIL import Image

from mobileiqa.eval import plots

LAPTOP_PX = 1400


@pytest.fixture
def figures(monkeypatch):
    """The figures the plot functions save (still drawable after they are closed)."""
    saved = []
    save = plots._save

    def spy(fig, path):
        out = save(fig, path)
        FigureCanvasAgg(fig)  # closing took its canvas; a new one draws it as saved
        saved.append(fig)
        return out

    monkeypatch.setattr(plots, "_save", spy)
    return saved


def _size(path) -> tuple[int, int]:
    with Image.open(path) as img:
        return img.size


def _box(artist) -> tuple[float, float, float, float]:
    """Display box of an artist; of a label's text alone (an annotation's box would include its leader line)."""
    measure = Text.get_window_extent if isinstance(artist, Text) else type(artist).get_window_extent
    e = measure(artist, artist.figure.canvas.get_renderer())
    return e.x0, e.y0, e.x1, e.y1


def _overlap(a, b) -> float:
    return max(min(a[2], b[2]) - max(a[0], b[0]), 0) * max(min(a[3], b[3]) - max(a[1], b[1]), 0)


def _per_type(types: int, scorers=("student", "teacher", "niqe", "piqe", "brisque")) -> dict:
    rng = np.random.default_rng(types)
    names = [f"distortion_type_{i:02d}" for i in range(types)]
    return {s: {t: float(v) for t, v in zip(names, rng.uniform(-0.4, 0.95, types), strict=True)} for s in scorers}


def test_per_type_bars_are_horizontal_sorted_and_fit_a_laptop(tmp_path, figures):
    few, many = tmp_path / "few.png", tmp_path / "many.png"
    table = _per_type(25)
    plots.grouped_bars(_per_type(4), few, "SRCC", "SRCC per distortion type")
    plots.grouped_bars(table, many, "SRCC", "SRCC per distortion type")
    (w_few, h_few), (w_many, h_many) = _size(few), _size(many)
    assert w_few <= LAPTOP_PX and w_many <= LAPTOP_PX
    assert h_many > h_few
    assert h_many >= 25 * 5 * 7  # at least 7 px per bar: 25 types x 5 scorers stacked vertically
    ax = figures[-1].axes[0]
    bars = [p for p in ax.patches if p.get_width() > 0]
    assert bars and all(_box(b)[3] - _box(b)[1] >= 6 for b in bars)  # thick enough to see and tell apart
    rows = [t.get_text() for t in ax.get_yticklabels()]
    assert rows == sorted(table["student"], key=lambda t: -table["student"][t])  # the model's best on top
    legend = figures[-1].legends[0]
    assert _overlap(_box(legend), _box(ax)) == 0  # the legend covers no bar


def test_per_type_bars_mark_a_missing_value(tmp_path, figures):
    table = _per_type(3, ("student", "niqe"))
    table["niqe"]["distortion_type_01"] = None
    plots.grouped_bars(table, tmp_path / "bars.png")
    assert [t.get_text().strip() for t in figures[-1].axes[0].texts] == ["n/a"]


def _ablation_rows(models: list[tuple[str, float, float, float]]) -> list[dict]:
    rows = []
    for i, (name, params_m, gmacs, srcc) in enumerate(models):
        rows.append({"model": f"mobileiqa_student_{name}", "reference": i == 0, "params_m": params_m, "gmacs": gmacs,
                     "srcc_mean": srcc, "srcc_min": srcc - 0.03, "srcc_max": srcc + 0.02})
    return rows


@pytest.mark.parametrize("models", [
    # the from-scratch ablation: two students at the same size and nearly the same SRCC, three at ~1 GMAC
    [("mobilenetv3_small_100_nano", 1.06, 3.04, 0.360), ("mobilenetv3_small_075_nano", 0.70, 2.42, 0.326),
     ("mobilenetv3_small_050_nano", 0.39, 1.47, 0.317), ("mobilenetv3_small_050_nanopool", 0.394, 1.08, 0.320),
     ("mobilenetv3_small_050_pico", 0.33, 1.07, 0.298)],
    # long names crowded around one point
    [("efficientnet_lite0", 3.09, 17.2, 0.726), ("efficientnet_lite1", 3.85, 22.7, 0.726),
     ("efficientnet_lite1_wide_head", 3.86, 22.8, 0.724), ("mobilenetv3_small_050_nanopool", 0.39, 1.08, 0.410),
     ("mobilenetv3_small_050_pico", 0.33, 1.07, 0.405), ("mobilenetv3_small_075_nano", 0.70, 1.1, 0.412)],
])
def test_ablation_labels_do_not_overlap(tmp_path, figures, models):
    path = plots.cost_vs_accuracy(_ablation_rows(models), tmp_path / "ablation.png", "students", "1907x1231")
    assert _size(path)[0] <= LAPTOP_PX
    fig = figures[-1]
    for ax in fig.axes:
        labels = [t for t in ax.texts if t.get_text()]
        assert len(labels) == len(models)
        boxes = [_box(t) for t in labels]
        for a, b in combinations(boxes, 2):
            assert _overlap(a, b) == 0
        frame = _box(ax)
        for box in boxes:  # inside the axes: not over the other panel or the tick labels
            assert frame[0] <= box[0] and box[2] <= frame[2] and frame[1] <= box[1] and box[3] <= frame[3]
        assert len(ax.containers) == len(models)
        assert all(c.has_yerr for c in ax.containers)  # the seed spread


def test_ablation_labels_drop_the_shared_words():
    names = plots._short_names(["mobileiqa_student_mobilenetv3_small_100_nano",
                                "mobileiqa_student_mobilenetv3_small_050_pico"])
    assert list(names.values()) == ["100_nano", "050_pico"]
    assert list(plots._short_names(["mobileiqa_student_efficientnet_lite0"]).values()) == ["efficientnet_lite0"]


def test_ablation_without_seed_spread_draws_points_only(tmp_path, figures):
    rows = _ablation_rows([("a", 1.0, 2.0, 0.5), ("b", 2.0, 3.0, 0.6)])
    for r in rows:
        del r["srcc_min"], r["srcc_max"]
    plots.cost_vs_accuracy(rows, tmp_path / "ablation.png")
    assert not any(c.has_yerr for ax in figures[-1].axes for c in ax.containers)


def test_behaviour_curves_keep_the_legend_off_the_lines(tmp_path, figures):
    curves = {t: list(np.linspace(0.6, 0.1 * (i + 1), 6)) for i, t in enumerate(["gaussian_blur", "white_noise",
                                                                                  "jpeg"])}
    path = plots.level_curves(curves, tmp_path / "few.png", "behaviour")
    assert _size(path)[0] <= LAPTOP_PX
    ax = figures[-1].axes[0]
    assert _overlap(_box(ax.get_legend()), _box(ax)) == 0
    assert len({(line.get_color(), line.get_marker()) for line in ax.lines}) == 3


def test_behaviour_curves_of_many_types_are_small_multiples(tmp_path, figures):
    names = [f"type_{i:02d}" for i in range(23)]
    curves = {t: list(np.linspace(0.6, 0.02 * i, 6)) for i, t in enumerate(names)}
    path = plots.level_curves(curves, tmp_path / "many.png", "behaviour")
    width, height = _size(path)
    assert width <= LAPTOP_PX and height > width / 2
    panels = [ax for ax in figures[-1].axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == names


def test_scatter_shows_the_fit_and_its_correlations(tmp_path, figures):
    rng = np.random.default_rng(0)
    pred = rng.uniform(0, 1, 200)
    mos = 1 / (1 + np.exp(-(pred - 0.5) * 8)) + rng.normal(0, 0.05, 200)
    path = plots.scatter_with_fit(pred, mos, lambda x: 1 / (1 + np.exp(-(x - 0.5) * 8)), tmp_path / "s.png", "student")
    assert _size(path)[0] <= LAPTOP_PX
    ax = figures[-1].axes[0]
    title = ax.get_title()
    srcc = float(title.split("SRCC ")[1].split(" ")[0])
    assert srcc == pytest.approx(float(np.corrcoef(np.argsort(np.argsort(pred)), np.argsort(np.argsort(mos)))[0, 1]),
                                 abs=1e-3)
    assert "PLCC after fit" in title
    assert len(ax.lines) == 1 and ax.get_xlabel() and ax.get_ylabel()


def test_training_curves_join_validation_epochs_and_keep_legends_off(tmp_path, figures):
    history = [{"epoch": e, "train_loss": 1.0 / (e + 1), "train_loss_score": 1.0 / (e + 1)} for e in range(9)]
    for e in (2, 5, 8):
        history[e].update(val_srcc=0.5 + e / 100, val_plcc=0.6, val_krcc=0.4)
    path = plots.training_curves(history, tmp_path / "curves.png", "student")
    assert _size(path)[0] <= LAPTOP_PX
    ax_loss, ax_val = figures[-1].axes
    srcc = next(line for line in ax_val.lines if line.get_label() == "SRCC")
    assert list(srcc.get_xdata()) == [3, 6, 9] and np.isfinite(srcc.get_ydata()).all()  # one joined line
    assert [line.get_label() for line in ax_loss.lines] == ["total (= score)"]  # not two lines on top of each other
    for ax in (ax_loss, ax_val):
        assert _overlap(_box(ax.get_legend()), _box(ax)) == 0
