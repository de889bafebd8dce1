"""Training the explanation heads of a finished student: the score's weights and outputs stay bit-identical, the
targets follow each view's crop and flips, the heads learn, and a rerun reads the cached views back."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from mobileiqa.data.local_targets import LocalTargets
from mobileiqa.data.manifest import PreparedDataset, read_manifest
from mobileiqa.models.checkpoint import load_model, save_model
from mobileiqa.models.explain import ExplainHeads
from mobileiqa.train.batches import split_images
from mobileiqa.train.explain import ExplainImages, explain_terms, head_param_groups, train_explain_heads
from mobileiqa.train.losses import map_loss, spread_loss, within_image_ranks
from tests.conftest import TINY_STUDENT
from tests.modelgen import spread_model


@pytest.fixture(scope="module")
def explained(tiny_dataset, tiny_params, tmp_path_factory):
    """A tiny student, saved, then given heads by train_explain_heads: ``(before, after path, metrics, folder)``."""
    folder, _, _ = tiny_dataset
    out = tmp_path_factory.mktemp("explain")
    model = spread_model(TINY_STUDENT)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    path = save_model(model, TINY_STUDENT, out / "model.pt")
    recipe = tiny_params.distill_student.train
    cfg = dataclasses.replace(tiny_params.distill_student.explain, views=1, epochs=4, lr=1e-2,
                              corr_stages=(1,))  # the tiny backbone has 2 stages: correlations of the second
    metrics = train_explain_heads(path, folder, recipe, cfg, out)
    return before, path, metrics, folder, out, recipe, cfg


def test_the_score_and_every_model_weight_stay_bit_identical(explained):
    before, path, *_ = explained
    model, ckpt = load_model(path)
    state = model.state_dict()
    assert all(torch.equal(before[k], state[k]) for k in before)
    added = set(state) - set(before)
    assert added and all(k.startswith("explain_heads.") for k in added)
    assert ckpt["explain"] is not None and ckpt["meta"]["explain_trained"] == "quality_map,spread"
    x = torch.rand(2, 3, 96, 128, generator=torch.Generator().manual_seed(3))
    plain = spread_model(TINY_STUDENT)  # the same seeded weights, never given heads
    assert torch.equal(model(x), plain(x))
    assert torch.equal(model.explain(x).score, plain(x))


def test_the_heads_learn_and_report_their_validation(explained):
    _, path, metrics, _, out, _, cfg = explained
    views = torch.load(out / "checkpoints" / "explain" / "views.pt", weights_only=True)["views"]
    trained = load_model(path)[0].explain_heads.eval()
    torch.manual_seed(cfg.seed)  # the heads as training started: the same seeded init and input statistics
    start = ExplainHeads(trained.width, trained.stage_channels, trained.grid, trained.config).eval()
    start.fit_input_stats(views["map_in"], views["spread_in"])
    variance = float(np.nanvar(views["std"].numpy()))

    def loss(heads) -> float:  # over every cached view at once (a tiny set's epoch means swing with its batches)
        with torch.no_grad():
            return float(explain_terms(heads.member_maps_from(views["map_in"].float()),
                                       heads.spread_order(views["spread_in"]), views["map"],
                                       views["has_map"].bool(), views["std"], cfg, variance,
                                       heads.config.fine)["loss"])

    assert loss(trained) < loss(start)
    assert metrics["trained"] == ["quality_map", "spread"]
    assert {"val_map_srcc", "val_spread_srcc", "val_explain"} <= set(metrics)
    assert np.isfinite(metrics["val_explain"])
    assert metrics["spread_scale"]["gain"] > 0


def test_the_spread_head_trains_at_its_own_weight_decay(tiny_params):
    cfg = dataclasses.replace(tiny_params.distill_student.explain, spread_weight_decay=0.3)
    heads = ExplainHeads(4, [3, 5, 6], grid=3, config=cfg.heads())
    assert heads.corr_stages == cfg.corr_stages == (2,) and heads.spread_fc1.in_features == 8 + 2 * 14 + 15
    rest, spread = head_param_groups(heads, cfg)
    assert {id(p) for p in spread["params"]} == {id(p) for n, p in heads.named_parameters() if n.startswith("spread")}
    assert len(rest["params"]) + len(spread["params"]) == len(list(heads.parameters()))
    opt = torch.optim.AdamW(head_param_groups(heads, cfg), lr=1e-3, weight_decay=1e-4)
    assert [g["weight_decay"] for g in opt.param_groups] == [1e-4, 0.3]


def test_a_rerun_reads_the_cached_views_back(explained):
    _, path, _, folder, out, recipe, cfg = explained
    views = out / "checkpoints" / "explain" / "views.pt"
    stamp = views.stat().st_mtime_ns
    train_explain_heads(path, folder, recipe, dataclasses.replace(cfg, epochs=1), out / "again")
    assert (out / "again" / "checkpoints" / "explain" / "views.pt").is_file()  # another folder: its own cache
    train_explain_heads(path, folder, recipe, cfg, out, resume=True)
    assert views.stat().st_mtime_ns == stamp


def test_targets_follow_the_crop_and_the_flips(tiny_dataset, tiny_params):
    folder, _, _ = tiny_dataset
    dataset = PreparedDataset.load(folder)
    policy = tiny_params.distill_student.train.resolution
    images = split_images(dataset, read_manifest(dataset.manifest), "train", policy, crop=64,
                          norm=spread_model(TINY_STUDENT).normalisation)
    data = ExplainImages(images, LocalTargets.load(folder), grid=6)
    x, target, has, std, _ = data[(0, False, False, 0.3, 0.7)]
    assert has and x.shape[-2:] == (64, 64) and target.shape == (6, 6) and np.isfinite(float(std))
    assert float(target.std()) > 0
    _, hflipped, *_ = data[(0, True, False, 0.3, 0.7)]
    _, vflipped, *_ = data[(0, False, True, 0.3, 0.7)]
    _, elsewhere, *_ = data[(0, False, False, 0.9, 0.0)]
    assert torch.allclose(hflipped, target.flip(1)) and torch.allclose(vflipped, target.flip(0))
    assert not torch.allclose(elsewhere, target)


def test_a_batch_without_targets_gives_a_zero_loss_with_a_graph(tiny_params):
    cfg = tiny_params.distill_student.explain
    fine = torch.rand(3, 1, 4, 4, requires_grad=True)
    terms = explain_terms(fine, torch.zeros(3), torch.rand(3, 4, 4), torch.zeros(3, dtype=torch.bool),
                          torch.full((3,), float("nan")), cfg, 1.0, 1)
    assert set(terms) == {"loss"} and float(terms["loss"]) == 0.0
    terms["loss"].backward()
    assert fine.grad is not None


def test_the_map_term_weighs_the_fine_grid_and_its_means(tiny_params):
    cfg = dataclasses.replace(tiny_params.distill_student.explain, map_ranks=False)  # the values' own order
    target = torch.rand(2, 4, 4, generator=torch.Generator().manual_seed(2))
    has, std = torch.ones(2, dtype=torch.bool), torch.full((2,), float("nan"))
    # each 2x2 block's cells swapped inside the block: wrong on the fine grid, right in the block means
    swapped = target.reshape(2, 2, 2, 2, 2).flip(2).flip(4).reshape(2, 4, 4)
    fine = explain_terms(swapped[:, None], torch.zeros(2), target, has, std, cfg, 1.0, fine=2)
    means = [m.reshape(2, 2, 2, 2, 2).mean(dim=(2, 4)) for m in (swapped, target)]
    assert float(map_loss(*means)) < 1e-4  # the block means agree
    assert float(map_loss(swapped, target)) > 0.1  # the fine cells do not
    assert float(fine["loss_map"]) == pytest.approx(float(map_loss(swapped, target)), abs=1e-4)
    flipped = target.flip(1).flip(2)  # wrong in the block means too: both terms count
    means = [m.reshape(2, 2, 2, 2, 2).mean(dim=(2, 4)) for m in (flipped, target)]
    both = explain_terms(flipped[:, None], torch.zeros(2), target, has, std, cfg, 1.0, fine=2)
    assert float(map_loss(*means)) > 0.1
    assert float(both["loss_map"]) == pytest.approx(float(map_loss(flipped, target) + map_loss(*means)), abs=1e-5)
    one = explain_terms(swapped[:, None], torch.zeros(2), target, has, std, cfg, 1.0, fine=1)
    assert float(one["loss_map"]) == pytest.approx(float(map_loss(swapped, target)))


def test_each_map_member_is_trained_on_the_targets_not_only_their_mean(tiny_params):
    cfg = tiny_params.distill_student.explain
    target = torch.rand(2, 4, 4, generator=torch.Generator().manual_seed(3))
    has, std = torch.ones(2, dtype=torch.bool), torch.full((2,), float("nan"))
    low, high = target - 0.2, target + 0.2  # each member off by a level, their mean on the target
    members = torch.stack([low, high], dim=1)
    terms = explain_terms(members, torch.zeros(2), target, has, std, cfg, 1.0, fine=1)
    expected = (map_loss(low, target, cfg.map_ranks) + map_loss(high, target, cfg.map_ranks)) / 2
    assert float(terms["loss_map"]) == pytest.approx(float(expected), abs=1e-6)
    assert float(map_loss(members.mean(dim=1), target)) < 1e-6 < float(expected)  # the mean alone: perfect (values)
    flipped = torch.stack([low, high.flip(2)], dim=1)  # one member's order wrong: only its own term grows
    worse = explain_terms(flipped, torch.zeros(2), target, has, std, cfg, 1.0, fine=1)
    assert float(worse["loss_map"]) == pytest.approx(
        float(map_loss(low, target, cfg.map_ranks) + map_loss(high.flip(2), target, cfg.map_ranks)) / 2, abs=1e-6)


def test_the_map_loss_rewards_the_order_inside_each_image_however_flat():
    torch.manual_seed(0)
    target = torch.rand(2, 4, 4) * torch.tensor([1.0, 0.05])[:, None, None] + 0.5  # one steep, one nearly flat map
    level = target.mean(dim=(1, 2), keepdim=True)
    ordered = level + 0.1 * (target - level) / (target - level).std(dim=(1, 2), keepdim=True)
    reversed_ = 2 * level - ordered  # the same level and contrast, every cell's order inverted
    assert float(map_loss(target, target)) < 1e-2
    # the nearly flat image counts as much as the steep one: reversing only its order costs about as much
    flat_reversed = torch.stack([ordered[0], reversed_[1]])
    steep_reversed = torch.stack([reversed_[0], ordered[1]])
    gap_flat = float(map_loss(flat_reversed, target) - map_loss(ordered, target))
    gap_steep = float(map_loss(steep_reversed, target) - map_loss(ordered, target))
    assert gap_flat > 0.5 and gap_steep > 0.5


def test_the_spread_loss_ranks_the_order_whatever_its_scale():
    target = torch.tensor([0.10, 0.20, 0.30])
    ordered, swapped = torch.tensor([-1.0, 0.0, 1.0]), torch.tensor([0.0, -1.0, 1.0])
    assert spread_loss(swapped, target, 0.01) > spread_loss(ordered, target, 0.01)
    assert torch.isclose(spread_loss(ordered + 5.0, target, 0.01), spread_loss(ordered, target, 0.01))


def test_the_fitted_spread_scale_keeps_the_order_and_matches_the_targets():
    heads = ExplainHeads(4, [3], grid=2)
    order = torch.linspace(-2, 2, 50)
    target = torch.nn.functional.softplus(0.5 * order - 2.5)
    heads.fit_spread_scale(order, target)
    assert abs(float(heads.spread_gain) - 0.5) < 1e-4 and abs(float(heads.spread_bias) + 2.5) < 1e-4
    heads.fit_spread_scale(order, target.flip(0))  # an order that ranks backwards is not turned round
    assert float(heads.spread_gain) > 0


def test_ranks_within_each_image_average_their_ties():
    maps = torch.tensor([[[0.3, 0.1], [0.2, 0.9]], [[0.5, 0.5], [0.1, 0.5]]])
    assert within_image_ranks(maps).tolist() == [[[2.0, 0.0], [1.0, 3.0]], [[2.0, 2.0], [0.0, 2.0]]]
    assert torch.equal(within_image_ranks(torch.full((1, 2, 2), 0.4)), torch.full((1, 2, 2), 1.5))


def test_the_rank_map_loss_scores_the_order_and_not_the_spacing():
    target = torch.tensor([[[0.0, 0.01], [0.02, 1.0]]])  # one cell far above the others
    even = torch.tensor([[[0.0, 1 / 3], [2 / 3, 1.0]]])  # the same order, evenly spaced
    mse = F.mse_loss(even, target)
    assert float(map_loss(even, target, ranks=True)) == pytest.approx(float(mse), abs=1e-5)  # r = 1 with the ranks
    assert float(map_loss(even, target)) > float(mse) + 0.05  # the values' own correlation is well below 1
    swapped = torch.tensor([[[1 / 3, 0.0], [2 / 3, 1.0]]])  # two cells out of order: the rank term sees it
    assert float(map_loss(swapped, target, ranks=True)) > float(F.mse_loss(swapped, target)) + 0.05
