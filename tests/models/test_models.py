"""Behaviour of every registered variant: shapes, finiteness, gradients, sizes, determinism, feature shapes."""

from __future__ import annotations

import pytest
import torch

from mobileiqa.models import IQAFeatures, create_model, get_spec, list_models
from mobileiqa.models.iqa_net import HeadConfig

SMALL = [n for n in list_models() if not get_spec(n).faithful]  # tiny and lite: cheap on CPU
SIZES = [(64, 64), (97, 131), (150, 224)]  # (H, W); two are not multiples of 32


@pytest.fixture(scope="module", params=SMALL)
def model(request):
    torch.manual_seed(0)
    return request.param, create_model(request.param)


def test_forward_shape_and_range_at_several_sizes(model):
    name, net = model
    net.eval()
    for h, w in SIZES:
        with torch.no_grad():
            y = net(torch.rand(2, 3, h, w))
        assert y.shape == (2,), (name, h, w)
        assert torch.isfinite(y).all()
        assert all(net.scale.contains(float(v)) for v in y)


def test_eval_mode_is_deterministic(model):
    _, net = model
    net.eval()
    x = torch.rand(2, 3, 96, 128)
    with torch.no_grad():
        assert torch.equal(net(x), net(x))


def test_every_parameter_gets_a_gradient_and_gates_open_after_one_step(model):
    name, net = model
    net = create_model(name)  # fresh copy: this test changes weights
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x, target = torch.rand(2, 3, 96, 96), torch.rand(2)

    def step():
        opt.zero_grad()
        torch.nn.functional.mse_loss(net(x), target).backward()

    step()
    for pname, p in net.named_parameters():
        assert p.grad is not None, f"{name}: no gradient for {pname}"
        assert torch.isfinite(p.grad).all(), f"{name}: non-finite gradient for {pname}"
    # the view attentions sit behind residual gates that start at 0, so their gradients start at exactly 0
    # (timm's zero-initialised residual branches in the backbone behave the same way)
    assert all(p.grad.abs().sum() == 0 for pn, p in net.named_parameters() if ".views." in pn and "gamma" not in pn)
    opt.step()
    step()
    still_zero = [pn for pn, p in net.named_parameters() if p.grad.abs().sum() == 0]
    assert not still_zero, f"{name}: gradients still exactly 0 after one step: {still_zero}"


def test_features_are_batch_first_and_consistent(model):
    _, net = model
    net.eval()
    cfg = net.config
    with torch.no_grad():
        f = net.features(torch.rand(2, 3, 97, 131))
    assert isinstance(f, IQAFeatures)
    g, c = cfg.grid, cfg.width
    assert f.lda.shape == (2, 5, c, g, g)
    assert f.opinions.shape == (2, cfg.num_opinions, c, g, g)
    assert f.fused.shape == (2, c, g, g)
    with torch.no_grad():
        assert torch.equal(f.score, net.head(f.fused))


@pytest.mark.parametrize("variant", ["tiny", "lite", "nano"])
@pytest.mark.parametrize("size", SIZES)
def test_teacher_and_student_features_match_in_shape(variant, size):
    teacher = create_model(next(n for n in list_models("teacher") if n.endswith(variant))).eval()
    student = create_model(next(n for n in list_models("student") if n.endswith(variant))).eval()
    assert teacher.config.distill_compatible(student.config)
    x = torch.rand(1, 3, *size)
    with torch.no_grad():
        ft, fs = teacher.features(x), student.features(x)
    for part in ("lda", "opinions", "fused"):
        assert getattr(ft, part).shape == getattr(fs, part).shape, part


def test_bad_inputs_are_rejected_with_a_clear_message():
    net = create_model("mobileiqa_student_mobilenetv3_small_050_tiny").eval()
    with pytest.raises(ValueError, match="too small"):
        net(torch.rand(1, 3, 63, 200))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        net(torch.rand(3, 64, 64))


def test_head_config_validation_names_the_key():
    with pytest.raises(ValueError, match="head_pool"):
        HeadConfig(grid=8, head_pool=4)
    with pytest.raises(KeyError, match="gird"):
        HeadConfig.from_dict({"gird": 12})
    with pytest.raises(KeyError, match="unknown model"):
        create_model("mobileiqa_student_nope")


def test_every_size_is_a_constructor_argument():
    net = create_model("mobileiqa_student_mobilenetv3_small_050_tiny", grid=9, width=8, num_opinions=4,
                       lda_hidden=12, lda_pool_first=False, attn_rank=None, head_pool=3)
    f = net.eval().features(torch.rand(1, 3, 64, 80))
    assert f.opinions.shape == (1, 4, 8, 9, 9)
    assert net.lda[0].expand.out_channels == 12
    assert net.opinions[0].channel_tokens.q.out_features == 5 * 81  # full-width projections


def test_student_scores_are_bounded_and_teacher_scores_are_not():
    assert get_spec("mobileiqa_student_mobilenetv3_large_100").head.scale.bounded
    assert not get_spec("mobileiqa_teacher_mobilevitv2_200").head.scale.bounded
