"""The localised evaluation: the quadrant set (seeded, balanced, distorted in one quadrant only), quadrant means of
even and odd maps, pointing accuracy with its Wilson interval, per-image map Spearman, and the figure."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from PIL import Image
from scipy.stats import spearmanr

from mobileiqa.data.mixtures import apply_one
from mobileiqa.eval import localised
from mobileiqa.eval.localised import (
    QuadrantImage,
    evaluate_quadrants,
    pointing_accuracy,
    quadrant_bounds,
    quadrant_figure,
    quadrant_maps,
    quadrant_means,
    quadrant_set,
    score_quadrant_maps,
    wilson_interval,
    worst_quadrant,
)
from mobileiqa.eval.metrics.spatial import map_spearman
from mobileiqa.eval.settings import LocalisedConfig
from tests.imagegen import make_photo

PHOTOS = {"p0": (64, 48), "p1": (65, 49), "p2": (64, 48), "p3": (64, 48), "p4": (64, 48)}  # id -> (w, h)
SPLITS = {"p0": "test", "p1": "test", "p2": "test", "p3": "test", "p4": "train"}


@pytest.fixture
def dataset(tmp_path):
    """A tiny default-dataset folder: refs/<id>.png and a manifest with two rows per photo."""
    (tmp_path / "refs").mkdir()
    for seed, (photo_id, (w, h)) in enumerate(PHOTOS.items()):
        make_photo(seed, w=w, h=h).save(tmp_path / "refs" / f"{photo_id}.png")
    rows = ["image_id,content_id,split,mos"] + [f"{pid}_{k},{pid},{SPLITS[pid]},0.5" for pid in PHOTOS for k in (1, 2)]
    (tmp_path / "manifest.csv").write_text("\n".join(rows) + "\n")
    return tmp_path


def _ref(dataset, photo_id) -> np.ndarray:
    return np.asarray(Image.open(dataset / "refs" / f"{photo_id}.png").convert("RGB"))


def _sharpness(img: np.ndarray) -> float:
    """Variance of a 4-neighbour Laplacian of the grey image."""
    g = img.astype(np.float64).mean(axis=2)
    lap = g[1:-1, :-2] + g[1:-1, 2:] + g[:-2, 1:-1] + g[2:, 1:-1] - 4 * g[1:-1, 1:-1]
    return float(lap.var())


# ------------------------------------------------------------------------------------------------ quadrant set
def test_quadrant_set_is_seeded_photo_major_and_balanced(dataset):
    items = quadrant_set(dataset)
    assert len(items) == 4 * 3  # the four test photos x the default types; the train photo is not used
    assert {it.photo_id for it in items} == {"p0", "p1", "p2", "p3"}
    assert [it.dist_type for it in items[:3]] == list(LocalisedConfig().types)
    assert len({it.photo_id for it in items[:3]}) == 1
    assert all(it.level == 4 for it in items)
    again = quadrant_set(dataset)
    assert [(it.photo_id, it.dist_type, it.quadrant) for it in again] == \
        [(it.photo_id, it.dist_type, it.quadrant) for it in items]
    assert all(np.array_equal(a.image, b.image) for a, b in zip(items, again, strict=True))
    # 4 photos: every type puts each quadrant on exactly one photo
    assert Counter(it.quadrant for it in items) == {0: 3, 1: 3, 2: 3, 3: 3}
    for t in LocalisedConfig().types:
        assert sorted(it.quadrant for it in items if it.dist_type == t) == [0, 1, 2, 3]
    # another seed: another order or assignment
    other = quadrant_set(dataset, seed=1)
    assert [(it.photo_id, it.quadrant) for it in other] != [(it.photo_id, it.quadrant) for it in items]


@pytest.mark.parametrize("n_photos,n_types", [(3, 3), (5, 2), (7, 3), (1, 4), (6, 5)])
def test_balanced_assignment_counts_differ_by_at_most_one(n_photos, n_types):
    q = localised._balanced_quadrants(n_photos, n_types, np.random.default_rng(0))
    overall = np.bincount(q.ravel(), minlength=4)
    assert overall.max() - overall.min() <= 1
    for t in range(n_types):
        per_type = np.bincount(q[:, t], minlength=4)
        assert per_type.max() - per_type.min() <= 1


def test_max_photos_and_types(dataset):
    items = quadrant_set(dataset, types=("gaussian_blur",), level=2, max_photos=3, seed=5)
    assert len(items) == 3 and len({it.photo_id for it in items}) == 3
    assert {it.dist_type for it in items} == {"gaussian_blur"} and {it.level for it in items} == {2}
    assert len({it.quadrant for it in items}) == 3


def test_only_the_chosen_quadrant_differs_from_the_reference(dataset):
    for item in quadrant_set(dataset):
        ref = _ref(dataset, item.photo_id)
        assert item.image.shape == ref.shape and item.image.dtype == np.uint8
        rows, cols = quadrant_bounds(*ref.shape[:2], item.quadrant)
        inside = np.zeros(ref.shape[:2], bool)
        inside[rows, cols] = True
        assert np.array_equal(item.image[~inside], ref[~inside]), (item.photo_id, item.dist_type)
        assert np.any(item.image[inside] != ref[inside]), (item.photo_id, item.dist_type)
        whole = apply_one(ref, item.dist_type, item.level, photo_key=item.photo_id)
        assert np.array_equal(item.image[inside], whole[inside])


def test_quadrant_bounds_odd_side_middle_line_goes_bottom_right():
    assert quadrant_bounds(49, 65, 0) == (slice(0, 24), slice(0, 32))
    assert quadrant_bounds(49, 65, 3) == (slice(24, 49), slice(32, 65))
    assert quadrant_bounds(48, 64, 1) == (slice(0, 24), slice(32, 64))
    with pytest.raises(ValueError, match="quadrant must be 0..3"):
        quadrant_bounds(48, 64, 4)


def test_blur_in_a_quadrant_lowers_that_quadrants_sharpness(dataset):
    for item in quadrant_set(dataset, types=("gaussian_blur",)):
        ref = _ref(dataset, item.photo_id)
        for q in range(4):
            rows, cols = quadrant_bounds(*ref.shape[:2], q)
            before, after = _sharpness(ref[rows, cols]), _sharpness(item.image[rows, cols])
            if q == item.quadrant:
                assert after < 0.5 * before, (item.photo_id, q, before, after)
            else:
                assert after == before


def test_quadrant_set_errors_name_the_folder(dataset, tmp_path_factory):
    with pytest.raises(ValueError, match=r"no photos in split 'val'.*splits present: \['test', 'train'\]"):
        quadrant_set(dataset, split="val")
    with pytest.raises(ValueError, match="unknown distortion type"):
        quadrant_set(dataset, types=("blurry",))
    with pytest.raises(ValueError, match="level must be an integer 1..5"):
        quadrant_set(dataset, level=6)
    bare = tmp_path_factory.mktemp("bare")
    with pytest.raises(FileNotFoundError, match=f"{bare}: no refs/ folder"):
        quadrant_set(bare)
    (bare / "refs").mkdir()
    with pytest.raises(FileNotFoundError, match=f"{bare}: no manifest.csv"):
        quadrant_set(bare)
    (dataset / "refs" / "p2.png").unlink()
    with pytest.raises(FileNotFoundError, match="p2.png: reference of test photo 'p2'"):
        quadrant_set(dataset)


def test_localised_config_validates_with_the_key():
    assert LocalisedConfig().types == ("gaussian_blur", "white_noise", "jpeg")
    with pytest.raises(ValueError, match="evaluate.localised.level"):
        LocalisedConfig(level=0)
    with pytest.raises(ValueError, match="evaluate.localised.types"):
        LocalisedConfig(types=())
    with pytest.raises(ValueError, match="evaluate.localised.types lists a type twice"):
        LocalisedConfig(types=("jpeg", "jpeg"))
    with pytest.raises(ValueError, match="evaluate.localised.max_photos"):
        LocalisedConfig(max_photos=0)
    with pytest.raises(ValueError, match="evaluate.localised.seed"):
        LocalisedConfig(seed=-1)


# ------------------------------------------------------------------------------------------- quadrant means
def test_quadrant_means_even_grid():
    grid = np.zeros((4, 4))
    grid[:2, :2], grid[:2, 2:], grid[2:, :2], grid[2:, 2:] = 1.0, 2.0, 3.0, 4.0
    grid[0, 0] = 5.0  # top-left mean (5 + 1 + 1 + 1) / 4 = 2
    np.testing.assert_allclose(quadrant_means(grid), [2.0, 2.0, 3.0, 4.0])
    assert worst_quadrant(grid) == 0  # tie with top-right goes to the first
    grid[3, 3] = -20.0  # bottom-right (4 * 3 - 20) / 4 = -2
    assert worst_quadrant(grid) == 3


def test_quadrant_means_odd_grid_splits_the_middle_line_by_area():
    grid = np.arange(9, dtype=float).reshape(3, 3)  # rows 0 1 2 / 3 4 5 / 6 7 8
    # top-left: cells (0,0) w1, (0,1) w.5, (1,0) w.5, (1,1) w.25 -> (0 + .5 + 1.5 + 1) / 2.25
    expected = [(0 + 0.5 * 1 + 0.5 * 3 + 0.25 * 4) / 2.25, (0.5 * 1 + 2 + 0.25 * 4 + 0.5 * 5) / 2.25,
                (0.5 * 3 + 0.25 * 4 + 6 + 0.5 * 7) / 2.25, (0.25 * 4 + 0.5 * 5 + 0.5 * 7 + 8) / 2.25]
    np.testing.assert_allclose(quadrant_means(grid), expected)
    # the overall mean is the area-weighted mean of the four (each quadrant a quarter of the map)
    assert np.mean(quadrant_means(grid)) == pytest.approx(grid.mean())
    low = np.ones((5, 5))
    low[3:, :2] = 0.0  # the bottom-left corner, clear of the middle row and column
    assert worst_quadrant(low) == 2
    stack = np.stack([grid, grid[::-1]])
    means = quadrant_means(stack)
    assert means.shape == (2, 4)
    np.testing.assert_allclose(means[1], np.array(expected)[[2, 3, 0, 1]])


def test_quadrant_means_rejects_bad_maps():
    with pytest.raises(ValueError, match="at least 2 x 2"):
        quadrant_means(np.ones(4))
    with pytest.raises(ValueError, match="non-finite"):
        quadrant_means(np.array([[1.0, np.nan], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="one 2-D map"):
        worst_quadrant(np.ones((2, 4, 4)))


# ------------------------------------------------------------------------------------------ pointing accuracy
def _grid_low_in(q: int, g: int = 22) -> np.ndarray:
    grid = np.full((g, g), 0.8)
    rows, cols = quadrant_bounds(g, g, q)
    grid[rows, cols] = 0.3
    return grid


def test_pointing_accuracy_three_of_four_hits():
    grids = [_grid_low_in(0), _grid_low_in(1), _grid_low_in(3), _grid_low_in(2)]
    res = pointing_accuracy(grids, [0, 1, 2, 2], types=["blur", "blur", "noise", "noise"])
    assert (res["hits"], res["count"]) == (3, 4) and res["accuracy"] == 0.75
    assert res["chance"] == 0.25
    assert res["per_type"]["blur"] == {"accuracy": 1.0, "hits": 2, "count": 2, "ci95": pytest.approx(
        list(wilson_interval(2, 2)))}
    assert (res["per_type"]["noise"]["hits"], res["per_type"]["noise"]["count"]) == (1, 2)
    # Wilson by hand for 3/4, z = 1.96: centre (0.75 + 0.4802) / 1.9604, half 1.96 / 1.9604 * sqrt(0.046875 + 0.060025)
    z = 1.959963984540054
    centre = (0.75 + z * z / 8) / (1 + z * z / 4)
    half = z / (1 + z * z / 4) * math.sqrt(0.75 * 0.25 / 4 + z * z / 64)
    assert res["ci95"] == pytest.approx([centre - half, centre + half])
    assert res["ci95"] == pytest.approx([0.3006, 0.9544], abs=1e-4)
    assert pointing_accuracy(grids, [0, 1, 2, 2])["per_type"] == {}


def test_wilson_interval_edges():
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    lo, hi = wilson_interval(10, 10)
    assert hi == 1.0 and lo == pytest.approx(0.7225, abs=1e-4)
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


def test_pointing_accuracy_checks_its_inputs():
    with pytest.raises(ValueError, match="at least one map"):
        pointing_accuracy([], [])
    with pytest.raises(ValueError, match="2 maps but 1 quadrants"):
        pointing_accuracy([_grid_low_in(0)] * 2, [0])
    with pytest.raises(ValueError, match="quadrants must be 0..3"):
        pointing_accuracy([_grid_low_in(0)], [4])


# ----------------------------------------------------------------------------------------------- map spearman
def test_map_spearman_by_hand_and_the_skip_rule():
    target = np.array([[1.0, 2.0], [3.0, 4.0]])
    same = target * 10
    reversed_ = target[::-1, ::-1].copy()
    swapped = np.array([[2.0, 1.0], [3.0, 4.0]])  # ranks 2 1 3 4 vs 1 2 3 4: 1 - 6 * 2 / (4 * 15) = 0.8
    constant = np.full((2, 2), 0.5)
    res = map_spearman([same, reversed_, swapped, constant, target], [target, target, target, target, constant])
    assert res["count"] == 3 and res["skipped"] == 2
    assert res["mean"] == pytest.approx((1.0 - 1.0 + 0.8) / 3)
    assert res["median"] == pytest.approx(0.8)
    # ties get average ranks, as scipy's spearmanr
    tied = np.array([[1.0, 1.0, 2.0], [3.0, 5.0, 4.0], [0.0, 7.0, 7.0]])
    other = np.arange(9.0).reshape(3, 3)[::-1]
    got = map_spearman([tied, other[:2, :2]], [np.arange(9.0).reshape(3, 3), target])
    expected = [spearmanr(tied.ravel(), np.arange(9.0)).statistic,
                spearmanr(other[:2, :2].ravel(), target.ravel()).statistic]
    assert got["mean"] == pytest.approx(np.mean(expected)) and got["count"] == 2
    none = map_spearman([constant], [target])
    assert none == {"mean": None, "median": None, "count": 0, "skipped": 1}
    with pytest.raises(ValueError, match="equal 2-D shapes"):
        map_spearman([target], [np.ones((3, 3))])


# ------------------------------------------------------------------------------------------ evaluation, figure
def _oracle(dataset):
    """A map function that knows each item's quadrant (by its pixels) and marks it low; a blind one is constant
    except for a low top-left cell."""
    refs = {pid: _ref(dataset, pid) for pid in PHOTOS}

    def oracle(image):
        ref = next(r for r in refs.values() if r.shape == image.shape and np.mean(r == image) > 0.5)
        diff = np.any(image != ref, axis=2)
        q = int(np.argmax([diff[quadrant_bounds(*diff.shape, k)].mean() for k in range(4)]))
        return _grid_low_in(q)

    return oracle


def test_evaluate_quadrants_with_an_oracle_and_a_blind_map(dataset):
    items = quadrant_set(dataset)
    res = evaluate_quadrants(items, _oracle(dataset))
    assert res["accuracy"] == 1.0 and res["count"] == 12
    assert set(res["per_type"]) == set(LocalisedConfig().types)
    assert [r["worst_quadrant"] for r in res["per_item"]] == [it.quadrant for it in items]
    assert all(r["hit"] for r in res["per_item"])
    blind = evaluate_quadrants(items, lambda image: _grid_low_in(0))
    assert blind["hits"] == sum(it.quadrant == 0 for it in items) == 3
    assert [r["worst_quadrant"] for r in blind["per_item"]] == [0] * 12
    assert blind["per_item"][0]["quadrant_means"] == pytest.approx([0.3, 0.8, 0.8, 0.8])
    with pytest.raises(ValueError, match="expected a 2-D"):
        evaluate_quadrants(items, lambda image: np.ones(5))


def test_quadrant_figure_writes_a_png(dataset, tmp_path):
    items = quadrant_set(dataset)
    grids = quadrant_maps(items, _oracle(dataset))
    grids[1] = _grid_low_in((items[1].quadrant + 1) % 4)  # one miss
    assert score_quadrant_maps(items, grids)["hits"] == 11
    path = quadrant_figure(items, grids, tmp_path / "figs" / "quadrants.png", n=4)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as img:
        w, h = img.size
    assert 400 < w <= 1400 and h > 300
    assert [p.name for p in path.parent.iterdir()] == ["quadrants.png"]  # no temporary file left
    picked = localised._spread(items, 4)
    assert [items[i].dist_type for i in picked[:3]] == list(LocalisedConfig().types)
    with pytest.raises(ValueError, match="12 items but 11 maps"):
        quadrant_figure(items, grids[:-1], tmp_path / "x.png")


def test_quadrant_image_is_frozen():
    item = QuadrantImage(np.zeros((2, 2, 3), np.uint8), 1, "jpeg", 4, "p0")
    with pytest.raises(AttributeError):
        item.quadrant = 2
