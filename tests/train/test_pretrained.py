"""Training from offline ImageNet weights on the tiny dataset: the fine-tuning knobs (frozen stem/blocks, frozen
BatchNorm statistics, a lower backbone learning rate), the head phase on cached frozen-backbone features, and
distillation between models of different input normalisations."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest
import torch

from mobileiqa.models import create_model
from mobileiqa.models.checkpoint import load_model
from mobileiqa.preprocess import HALF, IMAGENET, normalise
from mobileiqa.train import features_cache
from mobileiqa.train.distill import distill_student
from mobileiqa.train.teacher import train_teacher

LITE0 = "mobileiqa_student_efficientnet_lite0_tiny"
WEIGHTS = "package:efficientnet-lite0"


def _recipe(tiny_params, **kw):
    return dataclasses.replace(tiny_params.train_teacher, **{"epochs": 1, **kw})


def test_fine_tuning_keeps_frozen_blocks_and_bn_statistics(prepared_tiny, tiny_params, tmp_path):
    cfg = _recipe(tiny_params, freeze_blocks=2, freeze_bn=True, backbone_lr_scale=0.1)
    train_teacher(cfg, prepared_tiny, tmp_path, LITE0, WEIGHTS)
    trained, ckpt = load_model(tmp_path / "model.pt")
    start = create_model(LITE0, pretrained=WEIGHTS).backbone.state_dict()
    after = trained.backbone.state_dict()
    frozen = [k for k in start if k.startswith(("conv_stem.", "bn1.", "blocks.0.", "blocks.1."))]
    stats = [k for k in start if k.endswith(("running_mean", "running_var"))]
    assert frozen and all(torch.equal(after[k], start[k]) for k in frozen + stats)
    tuned = [k for k in start if k.startswith("blocks.5.") and k.endswith("weight") and "bn" not in k]
    assert tuned and not all(torch.equal(after[k], start[k]) for k in tuned)
    assert trained.normalisation == HALF and ckpt["normalisation"] == HALF.to_dict()
    assert ckpt["meta"]["weights"] == WEIGHTS and ckpt["meta"]["frozen_tensors"] > 0


def test_without_freezing_bn_statistics_move(prepared_tiny, tiny_params, tmp_path):
    train_teacher(_recipe(tiny_params), prepared_tiny, tmp_path, LITE0, WEIGHTS)
    start = create_model(LITE0, pretrained=WEIGHTS).backbone.state_dict()
    after = load_model(tmp_path / "model.pt")[0].backbone.state_dict()
    assert not torch.equal(after["bn1.running_mean"], start["bn1.running_mean"])


def test_head_features_on_pooled_maps_equal_the_model():
    """What makes the head phase exact: a pool-first model's head on pre-pooled stage maps."""
    torch.manual_seed(0)
    net = create_model(LITE0).eval()
    x = torch.randn(2, 3, 100, 132)
    with torch.no_grad():
        pooled = features_cache.pooled_maps(net, x)
        assert torch.allclose(net.head_features(pooled).score, net(x), atol=1e-6)
    teacher = create_model("mobileiqa_teacher_mobilevitv2_050_tiny")
    teacher.config = dataclasses.replace(teacher.config, lda_pool_first=False)
    with pytest.raises(ValueError, match="pool-first LDA"):
        features_cache.check_cacheable(teacher, "x")


def test_head_phase_trains_the_head_only_and_reuses_its_cache(prepared_tiny, tiny_params, tmp_path, monkeypatch):
    cfg = _recipe(tiny_params, epochs=0, head_epochs=2, head_batch_size=4, head_mixup=0.4)
    metrics = train_teacher(cfg, prepared_tiny, tmp_path, LITE0, WEIGHTS)
    assert len(metrics["history"]) == 2 and metrics["steps"] > 0
    assert metrics["history"][0]["train_loss_mixup"] > 0
    trained = load_model(tmp_path / "model.pt")[0]
    start = create_model(LITE0, pretrained=WEIGHTS)
    assert all(torch.equal(v, start.backbone.state_dict()[k]) for k, v in trained.backbone.state_dict().items())
    assert not torch.equal(trained.head.fc2.weight, start.head.fc2.weight)
    caches = sorted((tmp_path / "checkpoints" / "features").glob("*.pt"))
    assert [p.name.split("-")[:2] for p in caches] == [["teacher", "train"], ["teacher", "val"]]
    # a rerun in the same folder (a new head recipe, or --resume) reads the cached maps back
    monkeypatch.setattr(features_cache, "pooled_maps", lambda *a: pytest.fail("the cache was not reused"))
    shutil.rmtree(tmp_path / "checkpoints" / "head")
    again = train_teacher(dataclasses.replace(cfg, head_lr=1e-3), prepared_tiny, tmp_path, LITE0, WEIGHTS)
    assert len(again["history"]) == 2


def test_head_phase_then_end_to_end_chooses_the_best_epoch_of_both(prepared_tiny, tiny_params, tmp_path):
    cfg = _recipe(tiny_params, epochs=1, head_epochs=2, head_batch_size=4)
    metrics = train_teacher(cfg, prepared_tiny, tmp_path, LITE0, WEIGHTS)
    history = metrics["history"]
    assert [row["epoch"] for row in history] == [0, 1, 2]
    best = max(range(3), key=lambda i: history[i]["val_srcc"])
    assert metrics["best_epoch"] == best


def test_distillation_renormalises_the_batch_for_a_teacher_of_other_statistics(prepared_tiny, tiny_params,
                                                                                 tmp_path):
    teacher_dir = tmp_path / "teacher"
    train_teacher(_recipe(tiny_params), prepared_tiny, teacher_dir, tiny_params.models.teacher)
    teacher = load_model(teacher_dir / "model.pt")[0]
    assert teacher.normalisation == IMAGENET
    cfg = dataclasses.replace(tiny_params.distill_student, train=_recipe(tiny_params))
    metrics = distill_student(cfg, prepared_tiny, teacher_dir / "model.pt", tmp_path / "s", LITE0, WEIGHTS)
    student, ckpt = load_model(tmp_path / "s" / "model.pt")
    assert student.normalisation == HALF and ckpt["normalisation"] == HALF.to_dict()
    assert np.isfinite(metrics["history"][0]["train_loss_lda"])
    # the affine map the step applies is exact
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    a, b = HALF.affine_to(IMAGENET)
    assert np.allclose(a[:, None, None] * normalise(rgb, HALF) + b[:, None, None], normalise(rgb, IMAGENET),
                       atol=1e-5)


def test_a_crop_too_large_for_photo_batches_fails_before_the_head_phase(prepared_tiny, tiny_params, tmp_path,
                                                                          monkeypatch):
    """Photos of other aspect ratios: a crop above the smallest side cannot stack into photo batches."""
    from mobileiqa.train.data import ManifestImages

    monkeypatch.setattr(ManifestImages, "sizes", lambda self: [(96, 72), (96, 54)] * len(self))
    monkeypatch.setattr(features_cache, "pooled_maps", lambda *a: pytest.fail("cached features before the check"))
    cfg = _recipe(tiny_params, epochs=1, head_epochs=2, crop=64, images_per_photo=2, rank_weight=0.0)
    with pytest.raises(ValueError, match=r"crop 64 .* set crop <= 54"):
        train_teacher(cfg, prepared_tiny, tmp_path, LITE0, WEIGHTS)


def test_distillation_head_phase_reuses_the_frozen_teachers_cache(prepared_tiny, tiny_params, tmp_path,
                                                                    monkeypatch):
    """A head-phase teacher keeps its pretrained backbone, so the student's head phase reads the teacher's maps
    from the teacher stage's cache and learns from its cached LDA maps, opinions and score."""
    head_only = _recipe(tiny_params, epochs=0, head_epochs=2, head_batch_size=4)
    teacher_dir = tmp_path / "teacher"
    train_teacher(head_only, prepared_tiny, teacher_dir, LITE0, WEIGHTS)
    computed = []
    original = features_cache.pooled_maps
    monkeypatch.setattr(features_cache, "pooled_maps", lambda *a: computed.append(1) or original(*a))
    cfg = dataclasses.replace(tiny_params.distill_student, train=head_only, init_from_teacher=False)
    metrics = distill_student(cfg, prepared_tiny, teacher_dir / "model.pt", tmp_path / "s", LITE0, WEIGHTS)
    # the student's maps are cached under its own tag; the teacher's are read from the teacher stage's folder
    teacher_files = list((tmp_path / "s" / "checkpoints" / "features").glob("teacher-*.pt"))
    assert teacher_files == [] and computed  # student maps computed (own tag), teacher maps read back
    history = metrics["history"]
    assert len(history) == 2 and all(np.isfinite(r["train_loss_lda"]) and r["train_loss_lda"] > 0 for r in history)
    student = load_model(tmp_path / "s" / "model.pt")[0]
    start = create_model(LITE0, pretrained=WEIGHTS)
    assert not torch.equal(student.head.fc2.weight, start.head.fc2.weight)


def test_mixup_term_mixes_maps_and_targets_alike(tiny_params):
    from mobileiqa.train.losses import score_loss
    from mobileiqa.train.run import mixup_terms

    torch.manual_seed(0)
    net = create_model(LITE0).eval()
    maps = [torch.randn(1, c, 6, 6).repeat(4, 1, 1, 1) for c in net.backbone.feature_info.channels()]
    mos = torch.full((4,), 0.3)
    cfg = dataclasses.replace(tiny_params.train_teacher, head_mixup=0.4)
    with torch.no_grad():
        # rows that are all the same image mix to that image: the term is the plain score loss
        same = mixup_terms(cfg, net, maps, mos)["loss_mixup"]
        assert torch.allclose(same, score_loss(net.head_features(maps).score, mos))
        # distinct rows: the term scores the mixed maps against the mixed MOS, with the same weights and partners
        maps = [torch.randn(4, m.shape[1], 6, 6) for m in maps]
        mos = torch.tensor([0.1, 0.4, 0.7, 0.9])
        torch.manual_seed(1)
        term = mixup_terms(cfg, net, maps, mos)["loss_mixup"]
        torch.manual_seed(1)
        lam = torch.distributions.Beta(0.4, 0.4).sample((4,))
        other = torch.randperm(4)
        w = lam.view(-1, 1, 1, 1)
        mixed = net.head_features([w * m + (1 - w) * m[other] for m in maps]).score
        assert torch.allclose(term, score_loss(mixed, lam * mos + (1 - lam) * mos[other]))
        assert not torch.allclose(term, score_loss(net.head_features(maps).score, mos))
    assert mixup_terms(dataclasses.replace(cfg, head_mixup=0.0), net, maps, mos) == {}
    with pytest.raises(ValueError, match="head_mixup"):
        dataclasses.replace(cfg, head_mixup=-1.0)
