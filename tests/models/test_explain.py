"""The explanation heads (quality map, opinion spread): shapes and ranges, the score untouched, no gradient into
the model, checkpoints with and without them."""

from __future__ import annotations

import warnings

import pytest
import torch

from mobileiqa.models import create_model
from mobileiqa.models.checkpoint import load_model, save_model
from mobileiqa.models.explain import (
    GRAM_CHANNELS,
    ExplainConfig,
    ExplainHeads,
    correlated_moments,
    spatial_std,
    upper_pairs,
)
from tests.conftest import TINY_STUDENT
from tests.modelgen import spread_model


def _images(n: int = 3, h: int = 96, w: int = 128) -> torch.Tensor:
    return torch.rand(n, 3, h, w, generator=torch.Generator().manual_seed(1))


def test_heads_give_a_bounded_map_on_the_grid_and_a_positive_spread():
    model = spread_model(TINY_STUDENT)
    model.attach_explain_heads(ExplainConfig(hidden=8))
    with torch.no_grad():
        e = model.eval().explain(_images())
    g = model.config.grid
    assert e.quality_map.shape == (3, g, g) and e.spread.shape == (3,)
    assert float(e.quality_map.min()) >= 0 and float(e.quality_map.max()) <= 1
    assert bool((e.spread > 0).all())
    assert float(e.quality_map.std()) > 0  # a map, not a constant


def test_attaching_heads_changes_neither_the_weights_nor_the_score():
    model = spread_model(TINY_STUDENT)
    x = _images()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    score = model(x)
    model.attach_explain_heads()
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert sorted(set(after) - set(before)) and all(k.startswith("explain_heads.") for k in set(after) - set(before))
    assert torch.equal(model(x), score)
    assert torch.equal(model.explain(x).score, score)


def test_explanation_losses_send_no_gradient_into_the_model():
    model = spread_model(TINY_STUDENT)
    heads = model.attach_explain_heads(ExplainConfig(hidden=8))
    e = model.explain(_images())
    (e.quality_map.mean() + e.spread.mean()).backward()
    assert all(p.grad is None for n, p in model.named_parameters() if not n.startswith("explain_heads."))
    assert all(p.grad is not None for p in heads.parameters())


def test_a_model_without_heads_says_how_to_get_them():
    with pytest.raises(ValueError, match="attach_explain_heads"):
        create_model(TINY_STUDENT).explain(_images(1))


def test_spread_inputs_read_the_disagreement_of_the_opinions():
    fused = torch.zeros(2, 4, 3, 3)
    agree = torch.ones(2, 3, 4, 3, 3)
    differ = agree.clone()
    differ[:, 0] = 3.0
    heads = ExplainHeads(4, [], grid=3)
    assert torch.equal(heads.spread_inputs(fused, agree, [])[:, 4:], torch.zeros(2, 4))
    assert bool((heads.spread_inputs(fused, differ, [])[:, 4:] > 0.9).all())  # std of (3, 1, 1) = 0.943
    single = heads.spread_inputs(fused, differ[:, :1], [])
    assert single.shape == (2, 8) and not bool(single[:, 4:].any())


def test_the_heads_read_every_backbone_stage_pooled_to_the_grid_and_its_spatial_moments():
    fused, opinions, lda = torch.zeros(2, 4, 3, 3), torch.zeros(2, 2, 4, 3, 3), torch.zeros(2, 2, 4, 3, 3)
    flat = torch.full((2, 5, 12, 12), 0.5)
    rough = flat.clone()
    rough[:, :, :6] = 1.5  # top half brighter: pooled rows differ, spatial std 0.5, mean 1.0
    heads = ExplainHeads(4, [5, 5], grid=3, config=ExplainConfig(corr_stages=()))
    maps = heads.map_inputs(lda, fused, [flat, rough])
    assert maps.shape == (2, 4 * 3 + 5 + 5, 3, 3)
    assert torch.allclose(maps[:, 12:17], torch.full((2, 5, 3, 3), 0.5))
    assert torch.allclose(maps[:, 17:, 0], torch.full((2, 5, 3), 1.5))
    assert torch.allclose(maps[:, 17:, 2], torch.full((2, 5, 3), 0.5))
    spread = heads.spread_inputs(fused, opinions, [flat, rough])
    assert spread.shape == (2, 8 + 10 + 10)  # pooled + disagreement, the stds, then the means
    assert torch.equal(spread[:, 8:13], torch.zeros(2, 5))
    assert torch.allclose(spread[:, 13:18], torch.full((2, 5), 0.5))
    assert torch.allclose(spread[:, 18:23], torch.full((2, 5), 0.5))  # the means: 0.5 flat, 1.0 half 0.5 half 1.5
    assert torch.allclose(spread[:, 23:], torch.ones(2, 5))
    without = ExplainHeads(4, [5, 5], grid=3, config=ExplainConfig(stage_means=False, corr_stages=()))
    assert torch.equal(without.spread_inputs(fused, opinions, [flat, rough]), spread[:, :18])


def test_channel_correlations_of_a_stage_are_pearson_over_space_and_zero_for_a_flat_channel():
    g = torch.Generator().manual_seed(3)
    base = torch.randn(2, 1, 9, 7, generator=g)
    noise = torch.randn(2, 1, 9, 7, generator=g)
    x = torch.cat([base, 2 * base + 1, -base, noise, torch.full_like(base, 4.0)], dim=1)  # 5 channels
    mean, std, corr = correlated_moments(x, upper_pairs(5))
    assert torch.allclose(mean, x.mean(dim=(2, 3)))
    assert torch.allclose(std, x.std(dim=(2, 3), unbiased=False), atol=1e-5)  # the centred Gram's diagonal
    assert torch.equal(std[:, 4], torch.zeros(2))
    assert corr.shape == (2, 10)  # pairs (0,1) (0,2) (0,3) (0,4) (1,2) ... (3,4), row by row
    assert torch.allclose(corr[:, 0], torch.ones(2), atol=1e-5)
    assert torch.allclose(corr[:, 1], -torch.ones(2), atol=1e-5)
    expected = [float(torch.corrcoef(torch.stack([base[i].flatten(), noise[i].flatten()]))[0, 1]) for i in range(2)]
    assert torch.allclose(corr[:, 2], torch.tensor(expected), atol=1e-5)
    assert torch.equal(corr[:, 3], torch.zeros(2))  # a constant channel correlates with nothing
    with pytest.warns(UserWarning, match=r"stage\(s\) \[2\] are skipped"):
        heads = ExplainHeads(4, [3, 5], grid=3, config=ExplainConfig(corr_stages=(1, 2)))  # no stage 2: skipped
    assert heads.corr_stages == (1,)
    with warnings.catch_warnings():  # the default (stage 2) on a 2-stage test backbone is skipped quietly
        warnings.simplefilter("error")
        assert ExplainHeads(4, [3, 5], grid=3).corr_stages == ()
    fused, opinions = torch.zeros(2, 4, 3, 3), torch.zeros(2, 2, 4, 3, 3)
    spread = heads.spread_inputs(fused, opinions, [torch.rand(2, 3, 6, 6, generator=g), x])
    assert spread.shape == (2, 8 + 2 * (3 + 5) + 10) and torch.allclose(spread[:, -10:], corr)
    assert heads.spread_mean.shape == (1, spread.shape[1])


def test_checkpoints_keep_the_heads_and_old_ones_load_without(tmp_path):
    model = spread_model(TINY_STUDENT)
    plain = save_model(model, TINY_STUDENT, tmp_path / "plain.pt")
    model.attach_explain_heads(ExplainConfig(hidden=8, map_members=2))
    with torch.no_grad():
        model.explain_heads.map_out.bias.fill_(0.7)
    both = save_model(model, TINY_STUDENT, tmp_path / "both.pt")
    loaded, ckpt = load_model(both)
    assert ckpt["explain"] == {"hidden": 8, "fine": 2, "map_members": 2, "stage_means": True, "corr_stages": [2],
                               "spread_dropout": 0.5}
    x = _images(2)
    assert torch.equal(loaded.explain(x).quality_map, model.eval().explain(x).quality_map)
    old, ckpt = load_model(plain)
    assert old.explain_heads is None and ckpt["explain"] is None
    assert torch.equal(old(x), loaded(x))


def test_heads_of_an_earlier_input_layout_are_dropped_with_a_warning_and_the_score_kept(tmp_path):
    model = spread_model(TINY_STUDENT)
    model.attach_explain_heads(ExplainConfig(hidden=8))
    path = save_model(model, TINY_STUDENT, tmp_path / "old.pt")
    ckpt = torch.load(path, weights_only=True)
    for name in ("map_mean", "map_std"):  # the first heads read fewer channels
        ckpt["state_dict"][f"explain_heads.{name}"] = ckpt["state_dict"][f"explain_heads.{name}"][:, :4]
    torch.save(ckpt, path)
    with pytest.warns(UserWarning, match="earlier layout"):
        loaded, meta = load_model(path)
    assert loaded.explain_heads is None and meta["explain"] is None
    x = _images(2)
    assert torch.equal(loaded(x), model.eval()(x))


def test_the_map_is_the_mean_of_the_fine_grid_the_head_mixes_on():
    model = spread_model(TINY_STUDENT)
    heads = model.attach_explain_heads(ExplainConfig(hidden=8, fine=2))
    with torch.no_grad():
        f = model.eval().features(_images(2))
        inputs = heads.map_inputs(f.lda, f.fused, model.stage_maps(_images(2)))
        fine = heads.fine_map_from(inputs)
        g = model.config.grid
        assert fine.shape == (2, 2 * g, 2 * g)
        blocks = fine.reshape(2, g, 2, g, 2).mean(dim=(2, 4))
        assert torch.allclose(heads.map_from(inputs), blocks, atol=1e-6)
        assert float((fine[:, ::2, ::2] - fine[:, 1::2, 1::2]).abs().max()) > 0  # cells vary inside a grid cell
        one = ExplainHeads(heads.width, heads.stage_channels, g, ExplainConfig(hidden=8, fine=1))
        one.load_state_dict(heads.state_dict())  # the same weights, mixing on the grid itself
        assert one.fine_map_from(inputs).shape == (2, g, g)
        assert not torch.allclose(one.map_from(inputs), heads.map_from(inputs))


def test_the_map_is_the_mean_of_its_members_each_initialised_apart():
    model = spread_model(TINY_STUDENT)
    torch.manual_seed(0)
    heads = model.attach_explain_heads(ExplainConfig(hidden=8, map_members=3)).eval()
    with torch.no_grad():
        f = model.eval().features(_images(2))
        inputs = heads.map_inputs(f.lda, f.fused, model.stage_maps(_images(2)))
        members = heads.member_maps_from(inputs)
        g = model.config.grid
        assert members.shape == (2, 3, 2 * g, 2 * g)
        assert torch.allclose(heads.fine_map_from(inputs), members.mean(dim=1))
        assert float((members[:, 0] - members[:, 1]).abs().max()) > 1e-3  # not three copies of one head
        # member 1 alone: its slice of every grouped conv is a one-member head of its own
        one = ExplainHeads(heads.width, heads.stage_channels, g, ExplainConfig(hidden=8, map_members=1)).eval()
        state = heads.state_dict()
        part = {k: v for k, v in state.items() if not k.startswith("map_")}
        part.update({"map_mean": state["map_mean"], "map_std": state["map_std"]})
        for name in ("map_in", "map_mix", "map_context", "map_out"):
            rows = state[f"{name}.weight"].shape[0] // 3
            part[f"{name}.weight"] = state[f"{name}.weight"][rows:2 * rows]
            part[f"{name}.bias"] = state[f"{name}.bias"][rows:2 * rows]
        one.load_state_dict(part)
        assert torch.allclose(one.fine_map_from(inputs), members[:, 1], atol=1e-6)


def test_a_checkpoint_of_one_member_heads_with_a_linear_context_loads_with_its_heads(tmp_path):
    model = spread_model(TINY_STUDENT)
    model.attach_explain_heads(ExplainConfig(hidden=8, map_members=1))
    path = save_model(model, TINY_STUDENT, tmp_path / "linear.pt")
    ckpt = torch.load(path, weights_only=True)
    key = "explain_heads.map_context.weight"
    ckpt["state_dict"][key] = ckpt["state_dict"][key][:, :, 0, 0]  # as the heads of 2026-12-07 saved it
    torch.save(ckpt, path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "earlier layout" warning: the heads are kept
        loaded, meta = load_model(path)
    assert meta["explain"]["map_members"] == 1
    x = _images(2)
    assert torch.equal(loaded.explain(x).quality_map, model.eval().explain(x).quality_map)


def test_a_one_member_map_head_saved_with_a_linear_context_loads():
    one = ExplainConfig(hidden=8, map_members=1, corr_stages=())
    heads = ExplainHeads(4, [3, 5], grid=3, config=one)
    state = heads.state_dict()
    state["map_context.weight"] = state["map_context.weight"][:, :, 0, 0]  # as nn.Linear(h, h) saved it
    again = ExplainHeads(4, [3, 5], grid=3, config=one)
    again.load_state_dict(state)
    assert torch.equal(again.map_context.weight, heads.map_context.weight)


def test_heads_saved_before_the_fine_grid_and_the_spread_statistics_keep_their_layout():
    old = ExplainConfig(hidden=8, fine=1, map_members=1, stage_means=False, corr_stages=(), spread_dropout=0.0)
    assert ExplainConfig.from_dict({"hidden": 8}) == old
    assert ExplainConfig.from_dict({"hidden": 8, "fine": 2}).fine == 2
    assert ExplainConfig.from_dict({"hidden": 8, "fine": 2}).corr_stages == ()
    saved = ExplainConfig(corr_stages=(1, 2)).to_dict()
    assert saved["corr_stages"] == [1, 2] and ExplainConfig.from_dict(saved) == ExplainConfig(corr_stages=(1, 2))


def test_explain_config_rejects_bad_values():
    with pytest.raises(ValueError, match="hidden"):
        ExplainConfig(hidden=0)
    with pytest.raises(ValueError, match="fine"):
        ExplainConfig(fine=0)
    with pytest.raises(ValueError, match="map_members"):
        ExplainConfig(map_members=0)
    with pytest.raises(ValueError, match="corr_stages"):
        ExplainConfig(corr_stages=(2, 2))
    with pytest.raises(ValueError, match="spread_dropout"):
        ExplainConfig(spread_dropout=1.0)
    with pytest.raises(KeyError, match="width"):
        ExplainConfig.from_dict({"width": 3})


def test_spatial_std_is_the_population_std_over_space():
    # both ways to the mean square: a narrow map's Gram diagonal, a wider map's ReduceL2
    for channels in (5, GRAM_CHANNELS + 1):
        x = torch.rand(2, channels, 31, 17, generator=torch.Generator().manual_seed(4)) * 3 + 1
        assert torch.allclose(spatial_std(x), x.std(dim=(2, 3), unbiased=False), atol=1e-5)
        assert torch.equal(spatial_std(torch.full((1, channels, 4, 4), 7.0)), torch.zeros(1, channels))
