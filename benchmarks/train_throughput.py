"""Training throughput on synthetic high-resolution batches: teacher training and distillation img/s.

Made for the lent GPU box (its own Python with torch + timm, no mlflow/dvc/kfp, ~64 MiB of files): it needs only
the source tree and imports nothing but torch, timm and ``mobileiqa.models`` / ``mobileiqa.train.losses``:

    PYTHONPATH=src python benchmarks/train_throughput.py --size 1907x1231 --batch 4 --bf16 --channels-last \\
        --out "$OUT/train_throughput.json"

Modes: ``teacher`` (MOS regression of the teacher), ``distill`` (frozen teacher forward + student training,
live), ``distill-cached`` (student training against precomputed teacher features, as a feature cache would).
Prints one line per mode and writes JSON. Numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import time
from pathlib import Path

import torch
from torch.nn import functional as F

from mobileiqa.models import create_model
from mobileiqa.train.losses import distill_terms
from mobileiqa.train.settings import DistillWeights

MODES = ("teacher", "distill", "distill-cached")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def run(mode: str, teacher_name: str, student_name: str, size: tuple[int, int], batch: int, steps: int,
        warmup: int, device: torch.device, bf16: bool, channels_last: bool) -> dict:
    w, h = size
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    amp = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    x = torch.randn(batch, 3, h, w, device=device).to(memory_format=fmt)
    y = torch.rand(batch, device=device)
    teacher = create_model(teacher_name).to(device).to(memory_format=fmt)
    if mode == "teacher":
        model, params = teacher.train(), teacher.parameters()
    else:
        teacher.eval().requires_grad_(False)
        model = create_model(student_name).to(device).to(memory_format=fmt).train()
        params = model.parameters()
        if mode == "distill-cached":
            with torch.no_grad(), amp:
                cached = teacher.features(x)
    opt = torch.optim.AdamW(params, lr=1e-4)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    t0 = None
    for i in range(warmup + steps):
        if i == warmup:
            _sync(device)
            t0 = time.perf_counter()
        with amp:
            if mode == "teacher":
                loss = F.mse_loss(model(x).float(), y)
            else:
                if mode == "distill":
                    with torch.no_grad():
                        t = teacher.features(x)
                else:
                    t = cached
                loss = distill_terms(model.features(x), t, y, DistillWeights())["loss"]
        opt.zero_grad(set_to_none=True)
        loss.float().backward()
        opt.step()
    _sync(device)
    seconds = time.perf_counter() - t0
    return {"mode": mode, "teacher": teacher_name, "student": student_name, "width": w, "height": h,
            "batch": batch, "steps": steps, "bf16": bf16, "channels_last": channels_last,
            "img_per_s": round(batch * steps / seconds, 2), "step_s": round(seconds / steps, 4),
            "peak_mem_gb": round(torch.cuda.max_memory_allocated(device) / 2**30, 2) if device.type == "cuda"
            else None, "final_loss": float(loss)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher", default="mobileiqa_teacher_mobilevitv2_200")
    ap.add_argument("--student", default="mobileiqa_student_mobilenetv3_large_100")
    ap.add_argument("--size", default="1907x1231", help="WxH")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--modes", nargs="*", default=list(MODES), choices=MODES)
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--out", help="write the results as JSON here")
    args = ap.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    size = tuple(int(v) for v in args.size.lower().split("x"))
    rows = []
    for mode in args.modes:
        r = run(mode, args.teacher, args.student, size, args.batch, args.steps, args.warmup, device, args.bf16,
                args.channels_last)
        rows.append(r)
        print(json.dumps(r), flush=True)
    machine = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"machine": machine, "torch": torch.__version__, "rows": rows},
                                             indent=2) + "\n")


if __name__ == "__main__":
    main()
