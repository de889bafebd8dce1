"""The from-scratch CPU recipe's pieces: photo batches of crops, the within-photo ranking loss, the
training-only auxiliary head, the one-cycle schedule, and their validation."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pandas as pd
import pytest
import torch

from mobileiqa.models.checkpoint import load_model
from mobileiqa.train.auxiliary import (
    AnnotatorHead,
    AuxHead,
    AuxOutputs,
    BatchLabels,
    TrainingNet,
    annotator_loss,
    aux_loss,
    local_map_loss,
)
from mobileiqa.train.data import PhotoBatchSampler
from mobileiqa.train.losses import rank_loss
from mobileiqa.train.settings import TrainConfig
from mobileiqa.train.teacher import train_teacher

GROUPS = ["a"] * 5 + ["b"] * 4 + ["c"] * 3 + ["d"] * 6


def test_photo_batches_hold_few_photos_and_cover_every_row_once_per_crop():
    s = PhotoBatchSampler(GROUPS, images_per_photo=2, photos_per_batch=2, crops=3, flips=True, seed=4)
    batches = list(s)
    assert len(batches) == len(s)
    counts = Counter(i for b in batches for i, *_ in b)
    assert sorted(counts) == list(range(len(GROUPS))) and set(counts.values()) == {3}
    for b in batches:
        rows = {i for i, *_ in b}
        assert len(rows) <= 2 * 2 and len({GROUPS[i] for i in rows}) <= 2  # <= 2 chunks of <= 2 images
        assert all(n == 3 for n in Counter(i for i, *_ in b).values())
        crops = [(y, x) for i, _, _, y, x in b]
        assert len(set(crops)) == len(crops)  # every crop of an image has its own window


def test_photo_batches_are_seeded_resumable_and_sharded():
    s = PhotoBatchSampler(GROUPS, 2, 2, crops=2, flips=True, seed=1)
    s.set_epoch(3)
    full = list(s)
    assert full == list(s) and full != list(PhotoBatchSampler(GROUPS, 2, 2, crops=2, flips=True, seed=2))
    s.set_epoch(3, start_batch=2)
    assert list(s) == full[2:] and len(s) == len(full) - 2
    shards = [PhotoBatchSampler(GROUPS, 2, 2, crops=2, seed=1, rank=r, world_size=2) for r in (0, 1)]
    assert len(list(shards[0])) == len(list(shards[1])) == len(shards[0])


def test_rank_loss_prefers_the_right_order_within_a_photo_only():
    mos = torch.tensor([0.1, 0.5, 0.9, 0.3])
    photo = torch.tensor([0, 0, 0, 1])
    good = rank_loss(torch.tensor([0.0, 0.5, 1.0, 0.0]), mos, photo)
    bad = rank_loss(torch.tensor([1.0, 0.5, 0.0, 0.0]), mos, photo)
    assert good < bad
    score = torch.tensor([0.9, 0.1, 0.5, 0.2], requires_grad=True)
    lone = rank_loss(score, mos, torch.arange(4))  # no two images of one photo: no pairs
    lone.backward()
    assert float(lone) == 0.0 and score.grad is not None


def test_aux_labels_need_synthetic_distortions():
    frame = pd.DataFrame({"content_id": ["p", "p", "q"], "dist_type": ["blur", "noise", "blur"],
                          "dist_level": [1, 3, 2]})
    labels = BatchLabels(frame, need_distortions=True)
    assert labels.type_names == ["blur", "noise"] and labels.num_levels == 3
    assert labels.photo.tolist() == [0, 0, 1] and labels.level.tolist() == [0, 2, 1]
    head = AuxHead(8, 2, 3)
    loss = aux_loss(head(torch.randn(2, 8, 4, 4)), labels, torch.tensor([2, 0]))
    assert loss.ndim == 0 and torch.isfinite(loss)
    authentic = frame.assign(dist_type=["", "", ""], dist_level=[0, 0, 0])
    with pytest.raises(ValueError, match="aux_weight"):
        BatchLabels(authentic, need_distortions=True, source="m.csv")
    BatchLabels(authentic)  # fine without the auxiliary task
    mixed = frame.assign(dist_type=["mix:camera_shake+webp", "blur", "mix:tone_mapping_hdr+jpeg"])
    assert BatchLabels(mixed, need_distortions=True).type_names == ["blur", "mixture"]  # mixtures share a class


def test_annotator_labels_and_loss():
    frame = pd.DataFrame({"content_id": ["p", "q", "r"], "annotator_ssim": [0.2, 0.5, 0.9],
                          "annotator_gmsd": [0.3, 0.4, 0.8]})
    labels = BatchLabels(frame, need_annotators=True)
    assert labels.annotator_names == ["ssim", "gmsd"]
    idx = torch.tensor([2, 0])
    exact = torch.tensor([[0.9, 0.8], [0.2, 0.3]])
    assert float(annotator_loss(exact, labels, idx)) < 1e-12  # the rows' own scores, in the asked order
    assert float(annotator_loss(exact, labels, torch.tensor([0, 2]))) == pytest.approx((0.7**2 * 2 + 0.5**2 * 2) / 4)
    assert BatchLabels(frame).annotators is None  # read only when asked for
    with pytest.raises(ValueError, match=r"m\.csv.*annotator_gmsd"):  # a gap names the manifest and the column
        BatchLabels(frame.assign(annotator_gmsd=[0.3, None, 0.8]), need_annotators=True, source="m.csv")
    assert BatchLabels(frame[["content_id"]], need_annotators=True).annotators is None  # a real MOS dataset


def test_annotator_head_only_where_the_manifest_has_annotators():
    from types import SimpleNamespace

    from mobileiqa.models.iqa_net import HeadConfig
    from mobileiqa.train.run import extra_terms, training_extras

    frame = pd.DataFrame({"content_id": ["p", "q"], "dist_type": ["blur", "jpeg"], "dist_level": [1, 2],
                          "annotator_ssim": [0.2, 0.5], "annotator_gmsd": [0.3, 0.4]})
    head = HeadConfig()
    cfg = TrainConfig()
    assert cfg.annotator_weight > 0  # the default recipe trains the annotator head

    def ctx(rows):
        return SimpleNamespace(cfg=cfg, train_images=SimpleNamespace(frame=rows),
                               dataset=SimpleNamespace(manifest="ds/manifest.csv"))

    labels, _, annotators, _ = training_extras(ctx(frame), head)
    assert annotators is not None and annotators(torch.randn(3, head.num_opinions, head.width, 2, 2)).shape == (3, 2)
    with pytest.warns(UserWarning, match=r"ds/manifest\.csv.*annotator_weight"):
        labels, _, annotators, _ = training_extras(ctx(frame[["content_id", "dist_type", "dist_level"]]), head)
    assert annotators is None  # real MOS data: trained without the head, and no annotator loss term
    extras = AuxOutputs(logits=None, annotators=None)
    assert "loss_annotators" not in extra_terms(cfg, torch.zeros(2), torch.zeros(2), extras, labels, torch.arange(2))


def test_recipe_dict_leaves_out_added_fields_only_while_they_are_off():
    from mobileiqa.train.settings import recipe_dict

    plain = recipe_dict(TrainConfig(lr=1e-3, annotator_weight=0.0), ("annotator_weight",))
    assert "annotator_weight" not in plain and plain["lr"] == 1e-3 and "ema" in plain
    # on (today's default) it is part of the key, so its results never mix with the rows recorded before it existed
    assert recipe_dict(TrainConfig(), ("annotator_weight",))["annotator_weight"] == TrainConfig().annotator_weight > 0
    assert "annotator_weight" in recipe_dict(TrainConfig(annotator_weight=0.0), ())
    with pytest.raises(KeyError, match="lr"):
        recipe_dict(TrainConfig(), ("lr",))  # a field without a recorded "off" value


@pytest.mark.parametrize("bad, match", [
    (dict(crop=0, images_per_photo=2), "crop"),
    (dict(crop=64, crops_per_image=2, images_per_photo=0, rank_weight=0.0), "images_per_photo"),
    (dict(crop=64, images_per_photo=1, rank_weight=1.0), "images_per_photo >= 2"),
    (dict(crop=64, images_per_photo=16, batch_size=8), "batch_size"),
    (dict(scheduler="step"), "onecycle"),
    (dict(warmup=1.5), "warmup"),
])
def test_recipe_options_are_checked(bad, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**bad)


def test_training_net_keeps_extras_out_of_the_model():
    from mobileiqa.models import create_model

    model = create_model("mobileiqa_student_mobilenetv3_small_050_tiny")
    head = model.config
    net = TrainingNet(model, aux=AuxHead(head.width, 5, 2), annotators=AnnotatorHead(head.width, head.num_opinions, 7))
    features, extras = net(torch.randn(2, 3, 64, 64))
    types, levels = extras.logits
    assert features.score.shape == (2,) and types.shape == (2, 5) and levels.shape == (2, 2)
    assert extras.annotators.shape == (2, 7)
    assert not any(k.startswith(("aux", "annotators")) for k in model.state_dict())
    _, extras = TrainingNet(model)(torch.randn(2, 3, 64, 64))
    assert extras.logits is None and extras.annotators is None


def test_recipe_trains_on_photo_batches_of_crops(prepared_tiny, tiny_params, tmp_path):
    cfg = replace(tiny_params.train_teacher, epochs=2, crop=64, images_per_photo=2, crops_per_image=2,
                  batch_size=4, rank_weight=1.0, aux_weight=0.5, annotator_weight=1.0, local_map_weight=1.0,
                  scheduler="onecycle", cache_images=True)
    metrics = train_teacher(cfg, prepared_tiny, tmp_path, tiny_params.models.teacher)
    rows = metrics["history"]
    assert {"train_loss_score", "train_loss_rank", "train_loss_aux", "train_loss_annotators",
            "train_loss_local_map"} <= set(rows[0])
    assert rows[0]["train_loss_local_map"] > 0
    assert rows[0]["lr"] > rows[-1]["lr"] and rows[-1]["lr"] < cfg.lr * 0.05  # one cycle ends near 0
    model, _ = load_model(tmp_path / "model.pt")
    assert not any(k.startswith(("aux", "annotators", "local_map", "model.")) for k in model.state_dict())


def test_local_map_loss_counts_the_rows_with_a_target_only():
    pred = torch.tensor([[[0.5, 0.5], [0.5, 0.5]], [[0.0, 0.0], [0.0, 1.0]]], requires_grad=True)
    target = torch.tensor([[[0.5, 0.5], [0.5, 0.1]], [[9.0, 9.0], [9.0, 9.0]]])
    loss = local_map_loss(pred, target, torch.tensor([True, False]))  # row 1's target is absent, not 9
    assert float(loss) == pytest.approx(0.4**2 / 4)
    none = local_map_loss(pred, target, torch.tensor([False, False]))
    assert float(none) == 0.0
    none.backward()  # a batch without targets still has a graph
    assert pred.grad is not None


def test_training_views_carry_their_local_targets(prepared_tiny, tiny_params):
    from mobileiqa.data.local_targets import LocalTargets
    from mobileiqa.data.manifest import PreparedDataset, read_manifest
    from mobileiqa.preprocess import IMAGENET
    from mobileiqa.train.batches import split_images
    from mobileiqa.train.data import collate

    dataset = PreparedDataset.load(prepared_tiny)
    images = split_images(dataset, read_manifest(dataset.manifest), "train", tiny_params.train_teacher.resolution,
                          crop=64, norm=IMAGENET)
    assert len(images[0]) == 3  # plain training images: (image, mos, index)
    images.with_local_targets(LocalTargets.load(prepared_tiny), grid=4)
    x, _, index, target, has = images[(0, False, False, 0.3, 0.7)]
    assert has and index == 0 and x.shape[-2:] == (64, 64) and target.shape == (4, 4) and float(target.std()) > 0
    assert torch.allclose(images[(0, True, False, 0.3, 0.7)][3], target.flip(1))  # the target follows the flip
    assert not torch.allclose(images[(0, False, False, 0.9, 0.0)][3], target)  # and the crop window
    batch = collate([images[(0, False, False, 0.3, 0.7)], images[(1, False, True, 0.0, 0.0)]])
    assert [tuple(t.shape) for t in batch] == [(2, 3, 64, 64), (2,), (2,), (2, 4, 4), (2,)]
    assert batch[4].tolist() == [True, True]


@pytest.mark.parametrize("total", [1, 2, 3, 4, 5, 7, 8, 40])
def test_onecycle_survives_very_short_runs(total):
    from mobileiqa.train.optim import build_scheduler

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = build_scheduler(opt, TrainConfig(epochs=1, scheduler="onecycle", lr=0.1), total)
    lrs = [opt.param_groups[0]["lr"]]
    for _ in range(total - 1):  # torch's OneCycleLR raised ZeroDivisionError at one warm-up step (total 5)
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    assert all(0 < lr <= 0.1 + 1e-12 for lr in lrs)


def test_channels_last_on_cpu_trains_the_same_model_and_saves_it_contiguous(prepared_tiny, tiny_params, tmp_path):
    from mobileiqa.train.optim import memory_format

    assert memory_format(TrainConfig(channels_last=True)) == torch.channels_last
    assert memory_format(TrainConfig(channels_last=False)) == torch.contiguous_format
    runs = {}
    for layout in (True, False):
        cfg = replace(tiny_params.train_teacher, epochs=1, channels_last=layout, device="cpu")
        runs[layout] = train_teacher(cfg, prepared_tiny, tmp_path / str(layout), tiny_params.models.teacher)
    # the layout changes the order of floating-point sums, not the model: the same losses to ~1e-4 (metrics of a
    # barely trained tiny model are too flat to compare)
    for key in ("train_loss", "train_loss_score", "val_rmse"):
        assert runs[True]["history"][0][key] == pytest.approx(runs[False]["history"][0][key], rel=1e-3), key
    saved = torch.load(tmp_path / "True" / "model.pt", map_location="cpu", weights_only=True)["state_dict"]
    convs = [v for v in saved.values() if v.ndim == 4]
    assert convs and all(w.is_contiguous() for w in convs)  # model.pt is layout-neutral


def test_init_from_teacher_copies_matching_tensors_but_not_a_head_of_another_scale():
    from mobileiqa.models import create_model
    from mobileiqa.train.distill import init_from_teacher

    torch.manual_seed(0)
    teacher = create_model("mobileiqa_teacher_mobilenetv3_small_100_nano").eval()
    student = create_model("mobileiqa_student_mobilenetv3_small_100_nano").eval()
    copied = init_from_teacher(student, teacher, same_backbone=True)
    t, s = teacher.state_dict(), student.state_dict()
    assert {k.split(".")[0] for k in copied} == {"backbone", "lda", "opinions", "fusion"}
    assert all(torch.equal(s[k], t[k]) for k in copied)
    heads = [k for k in s if k.startswith("head.") and s[k].is_floating_point() and s[k].numel() > 1]
    assert heads and not any(torch.equal(s[k], t[k]) for k in heads)  # unbounded teacher, sigmoid student
    x = torch.randn(1, 3, 64, 80)
    with torch.no_grad():
        assert torch.allclose(student.features(x).fused, teacher.features(x).fused)
    with pytest.warns(UserWarning, match="init_from_teacher.*no tensor"):
        assert init_from_teacher(student, torch.nn.Linear(2, 2), same_backbone=False) == []


def test_init_from_teacher_never_overwrites_the_backbone_of_another_architecture():
    """A Lite2 teacher and a Lite0 student share stem/block tensors of equal name and shape; only head tensors
    (LDA, MALs) may be copied, so the student's own backbone stays as it was built."""
    from mobileiqa.models import create_model
    from mobileiqa.train.distill import init_from_teacher

    torch.manual_seed(0)
    teacher = create_model("mobileiqa_teacher_efficientnet_lite2").eval()
    student = create_model("mobileiqa_student_efficientnet_lite0").eval()
    with torch.no_grad():  # a trained teacher: no backbone tensor keeps its init value (BatchNorm's 1s and 0s)
        for v in teacher.backbone.state_dict().values():
            if v.is_floating_point():
                v.add_(torch.rand_like(v))
    before = {k: v.clone() for k, v in student.state_dict().items()}
    t = teacher.state_dict()
    coinciding = [k for k in before if k.startswith("backbone.") and k in t and t[k].shape == before[k].shape
                  and before[k].is_floating_point() and not torch.equal(t[k], before[k])]
    assert len(coinciding) > 20  # the trap is real: names and shapes coincide
    copied = init_from_teacher(student, teacher, same_backbone=False)
    after = student.state_dict()
    assert copied and not any(k.startswith("backbone.") for k in copied)
    assert all(torch.equal(after[k], before[k]) for k in coinciding)
    assert all(torch.equal(after[k], t[k]) for k in copied)


def test_val_every_must_be_positive():
    from mobileiqa.train.settings import TrainConfig

    assert TrainConfig(val_every=3).val_every == 3
    with pytest.raises(ValueError, match="val_every"):
        TrainConfig(val_every=0)


@pytest.mark.parametrize("scheduler", ["onecycle", "cosine"])
def test_every_schedule_peaks_at_each_groups_own_lr(scheduler):
    """The backbone's group trains at ``lr * backbone_lr_scale`` under every schedule (one-cycle once gave every
    group the same peak, so the scale changed nothing)."""
    from mobileiqa.train.optim import build_optimizer, build_scheduler, param_groups

    model = torch.nn.ModuleDict({"backbone": torch.nn.Linear(2, 2), "head": torch.nn.Linear(2, 1)})
    cfg = TrainConfig(epochs=4, scheduler=scheduler, lr=0.01, backbone_lr_scale=0.25)
    opt = build_optimizer(param_groups(model, cfg), cfg)
    sched = build_scheduler(opt, cfg, 10)
    peaks = [0.0, 0.0]
    for _ in range(40 if scheduler == "onecycle" else 4):
        peaks = [max(p, g["lr"]) for p, g in zip(peaks, opt.param_groups, strict=True)]
        opt.step()
        sched.step()
    assert peaks[0] == pytest.approx(0.01, rel=0.02) and peaks[1] == pytest.approx(0.0025, rel=0.02)
