"""Short crop-training probes of the from-scratch CPU recipe, and the memory-layout speed check (docs/TRAINING.md).

A probe trains one model for ``--steps`` optimiser steps on the default recipe's batches (8 photos x 4 images x 2
random 128 px crops, MSE + within-photo ranking + distortion type/level head, AdamW one-cycle) from images held in
memory, and prints the validation SRCC (whole images) every ``--eval`` steps; variations are flags:

    python benchmarks/train_probe.py base --steps 414                  # the teacher as in train_teacher
    python benchmarks/train_probe.py plain --plain                     # backbone + global pool + linear only
    python benchmarks/train_probe.py mscn --plain --mscn               # + a fixed MSCN input channel set
    python benchmarks/train_probe.py bb1e2 --lr 0.01 --head-lr 0.003   # backbone lr 1e-2, head 3e-3
    python benchmarks/train_probe.py pre40 --pre 0.4                   # distortion classification only at first
    python benchmarks/train_probe.py --layout-speed                    # s/step contiguous vs channels-last
    python benchmarks/train_probe.py --thread-speed                    # s/step of the default pair, 1 vs all threads

Needs the prepared dataset (``dvc repro prepare``); decoded images are cached under ``.cache/``.
One thread, as the recipe. Results go to ``--out`` (default ``.cache/probe/<name>.json``); numbers are printed,
never asserted.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from mobileiqa.data.images import load_image
from mobileiqa.data.manifest import read_manifest
from mobileiqa.eval.metrics import accuracy
from mobileiqa.models import create_model
from mobileiqa.models.registry import get_spec
from mobileiqa.preprocess import ResolutionPolicy, normalise
from mobileiqa.train.auxiliary import AuxHead, BatchLabels, aux_loss
from mobileiqa.train.data import PhotoBatchSampler
from mobileiqa.train.losses import rank_loss

ROOT = Path(__file__).resolve().parents[1]
TEACHER = "mobileiqa_teacher_mobilenetv3_small_100_nano"


class MSCN(nn.Module):
    """The image plus its mean-subtracted, contrast-normalised copy (BRISQUE's MSCN, 7x7 Gaussian window)."""

    def __init__(self, c: float = 0.02) -> None:
        super().__init__()
        g = torch.exp(-((torch.arange(7) - 3.0) ** 2) / (2 * (7 / 6) ** 2))
        k = g[:, None] * g[None]
        self.register_buffer("k", (k / k.sum()).expand(3, 1, 7, 7).clone())
        self.c = c

    def forward(self, x):
        def blur(t):
            return F.conv2d(F.pad(t, (3, 3, 3, 3), mode="reflect"), self.k, groups=3)
        mu = blur(x)
        sd = (blur(x * x) - mu * mu).clamp_min(0).sqrt()
        return torch.cat([x, (x - mu) / (sd + self.c)], 1)


class Probe(nn.Module):
    """``forward(x) -> (score, (type logits, level logits))`` for the IQA model or a plain backbone head."""

    def __init__(self, model_name: str, labels: BatchLabels, plain: bool, mscn: bool) -> None:
        super().__init__()
        import timm

        from mobileiqa.models.iqa_net import IQANet

        model = create_model(model_name)
        if mscn:  # a 6-channel stem fed with image + MSCN
            bb = timm.create_model(get_spec(model_name).backbone, features_only=True, out_indices=(0, 1, 2, 3, 4),
                                   in_chans=6)
            backbone = nn.Sequential(MSCN(), bb)
            backbone.feature_info = bb.feature_info
            model = IQANet(backbone, model.config)
        self.model, self.plain, self.n_types = model, plain, len(labels.type_names)
        if plain:
            self.fc = nn.Linear(sum(model.backbone.feature_info.channels()), 1 + self.n_types + labels.num_levels)
        else:
            self.aux = AuxHead(model.config.width, self.n_types, labels.num_levels)

    def forward(self, x):
        if self.plain:
            out = self.fc(torch.cat([m.mean((2, 3)) for m in self.model.backbone(x)], 1))
            return out[:, 0], (out[:, 1:1 + self.n_types], out[:, 1 + self.n_types:])
        f = self.model.features(x)
        return f.score, self.aux(f.fused)


def load_images(dataset: Path, frame, cache: Path | None = None) -> dict[str, np.ndarray]:
    """Train + val images at the recipe's resolution, decoded once into a pickle keyed by the manifest's hash."""
    if cache is None:
        digest = hashlib.sha256((dataset / "manifest.csv").read_bytes()).hexdigest()[:12]
        cache = ROOT / ".cache" / f"probe_images-{digest}.pkl"
    if cache.exists():
        with open(cache, "rb") as fh:
            return pickle.load(fh)
    policy = ResolutionPolicy()
    images = {r.path: np.asarray(policy.apply(load_image(dataset / r.path)))
              for r in frame[frame.split != "test"].itertuples()}
    cache.parent.mkdir(parents=True, exist_ok=True)
    with open(cache.with_suffix(".tmp"), "wb") as fh:
        pickle.dump(images, fh)
    os.replace(cache.with_suffix(".tmp"), cache)
    return images


def layout_speed(repeats: int = 5) -> None:
    """Seconds per training step (64 crops of 128 px) and per 16 whole 512x384 images, both memory layouts."""
    torch.manual_seed(0)
    model = create_model(TEACHER)
    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    x, xe = torch.randn(64, 3, 128, 128), torch.randn(16, 3, 384, 512)
    for layout in (torch.contiguous_format, torch.channels_last) * 2:
        model = model.to(memory_format=layout)
        xs = x.contiguous(memory_format=layout)
        times = []
        for _ in range(repeats + 1):
            t = time.perf_counter()
            model.features(xs).score.sum().backward()
            opt.step()
            opt.zero_grad()
            times.append(time.perf_counter() - t)
        model.eval()
        with torch.no_grad():
            model(xe)
            t = time.perf_counter()
            model(xe.contiguous(memory_format=layout))
            ev = time.perf_counter() - t
        model.train()
        name = "channels_last" if layout == torch.channels_last else "contiguous"
        print(f"{name:14s} train step {np.median(times[1:]):.3f} s   eval 16 images {ev:.3f} s", flush=True)


def thread_speed(repeats: int = 6) -> None:
    """Seconds per training step (32 crops of 128 px, channels-last, MSE, AdamW) of params.yaml's teacher and
    student on one thread and on one per core; the median of ``repeats`` steps after two warm-up steps."""
    from mobileiqa.config import load_params

    params = load_params(ROOT / "params.yaml")
    for threads in sorted({1, torch.get_num_threads()}):  # called before any thread count is set: one per core
        torch.set_num_threads(threads)
        for name in (params.models.teacher, params.models.student):
            torch.manual_seed(0)
            model = create_model(name).to(memory_format=torch.channels_last)
            opt = torch.optim.AdamW(model.parameters(), 1e-3)
            x = torch.randn(32, 3, 128, 128).contiguous(memory_format=torch.channels_last)
            times = []
            for _ in range(repeats + 2):
                t = time.perf_counter()
                (model.features(x).score - 0.5).pow(2).mean().backward()
                opt.step()
                opt.zero_grad()
                times.append(time.perf_counter() - t)
            print(f"{name:42s} {threads} thread(s): train step {np.median(times[2:]):.3f} s", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("name", nargs="?", default="probe")
    p.add_argument("--dataset", type=Path, default=ROOT / "artifacts" / "dataset")
    p.add_argument("--model", default=TEACHER)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--eval", type=int, default=100, help="validate every N steps")
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--head-lr", type=float, default=0.0, help="lr of everything but the backbone (0 = --lr)")
    p.add_argument("--aux", type=float, default=0.5)
    p.add_argument("--rank", type=float, default=1.0)
    p.add_argument("--pre", type=float, default=0.0, help="fraction of steps trained on the aux head alone")
    p.add_argument("--plain", action="store_true", help="backbone + global pool + linear instead of the IQA head")
    p.add_argument("--mscn", action="store_true", help="feed image + MSCN to a 6-channel backbone stem")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path)
    p.add_argument("--cache", type=Path, help="decoded-image pickle (default .cache/probe_images-<manifest hash>.pkl)")
    p.add_argument("--layout-speed", action="store_true")
    p.add_argument("--thread-speed", action="store_true")
    a = p.parse_args()
    if a.thread_speed:  # before one thread is set: torch's default is one per core
        thread_speed()
        return
    torch.set_num_threads(1)
    if a.layout_speed:
        layout_speed()
        return
    torch.manual_seed(a.seed)
    frame = read_manifest(a.dataset / "manifest.csv")
    images = load_images(a.dataset, frame, a.cache)
    train = frame[frame.split == "train"].reset_index(drop=True)
    val = frame[frame.split == "val"].reset_index(drop=True)
    labels = BatchLabels(train, need_distortions=True)
    net = Probe(a.model, labels, a.plain, a.mscn)
    backbone = [q for n, q in net.named_parameters() if n.startswith("model.backbone.")]
    rest = [q for n, q in net.named_parameters() if not n.startswith("model.backbone.")]
    head_lr = a.head_lr or a.lr
    opt = torch.optim.AdamW([dict(params=backbone, lr=a.lr), dict(params=rest, lr=head_lr)], weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[a.lr, head_lr], total_steps=a.steps, pct_start=0.2)
    sampler = PhotoBatchSampler(train.content_id.astype(str).tolist(), 4, 8, crops=2, flips=True, seed=a.seed)
    mos = torch.tensor(train.mos.to_numpy(np.float32))

    def crop(i, hflip, vflip, fy, fx):
        arr = images[train.path[i]]
        h, w = arr.shape[:2]
        y0, x0 = min(int(fy * (h - a.crop + 1)), h - a.crop), min(int(fx * (w - a.crop + 1)), w - a.crop)
        arr = arr[y0:y0 + a.crop, x0:x0 + a.crop]
        arr = arr[:, ::-1] if hflip else arr
        return torch.from_numpy(normalise(np.ascontiguousarray(arr[::-1] if vflip else arr)))

    @torch.no_grad()
    def val_srcc() -> float:
        net.eval()
        pred = [float(net(torch.from_numpy(normalise(images[path]))[None])[0]) for path in val.path]
        net.train()
        return float(accuracy(np.asarray(pred), val.mos.to_numpy()).srcc)

    step, epoch, t0, sums, history = 0, 0, time.time(), {}, []
    print(a.name, "parameters", sum(q.numel() for q in net.parameters()), flush=True)
    while step < a.steps:
        sampler.set_epoch(epoch)
        epoch += 1
        for batch in sampler:
            idx = torch.tensor([b[0] for b in batch])
            score, logits = net(torch.stack([crop(*b) for b in batch]))
            pre = step < a.pre * a.steps
            terms = {"mse": (0.0 if pre else 1.0) * F.mse_loss(score, mos[idx]),
                     "rank": (0.0 if pre else a.rank) * rank_loss(score, mos[idx], labels.photo[idx]),
                     "aux": (1.0 if pre else a.aux) * aux_loss(logits, labels, idx)}
            opt.zero_grad()
            sum(terms.values()).backward()
            opt.step()
            sched.step()
            step += 1
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())
            if step % a.eval == 0 or step == a.steps:
                row = {"step": step, **{k: v / a.eval for k, v in sums.items()}, "val_srcc": val_srcc(),
                       "seconds": time.time() - t0}
                history.append(row)
                print(a.name, " ".join(f"{k}={v:.4g}" for k, v in row.items()), flush=True)
                sums = {}
            if step >= a.steps:
                break
    out = a.out or ROOT / ".cache" / "probe" / f"{a.name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(a).items()}, "history": history}, indent=1))
    print("wrote", out)


if __name__ == "__main__":
    main()
