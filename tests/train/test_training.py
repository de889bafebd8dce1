"""Teacher training and distillation on the tiny profile: outputs, selection on validation, adapters,
determinism, NaN guard, MLflow tracking, and exact resume after kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from mobileiqa.data.manifest import PreparedDataset, read_manifest
from mobileiqa.eval.metrics import srcc
from mobileiqa.models.checkpoint import load_model
from mobileiqa.train.batches import split_images
from mobileiqa.train.distill import distill_student
from mobileiqa.train.loop import LoopConfig, Trainer
from mobileiqa.train.scoring import predict
from mobileiqa.train.teacher import train_teacher

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def teacher_run(prepared_tiny, tiny_params, tmp_path_factory):
    out = tmp_path_factory.mktemp("teacher")
    metrics = train_teacher(tiny_params.train_teacher, prepared_tiny, out, tiny_params.models.teacher)
    return out, metrics


def test_teacher_writes_a_loadable_model_chosen_on_validation(teacher_run, tiny_params):
    out, metrics = teacher_run
    model, info = load_model(out / "model.pt")
    assert info["model"] == tiny_params.models.teacher and not model.training
    assert len(metrics["history"]) == tiny_params.train_teacher.epochs
    best = max(range(len(metrics["history"])), key=lambda i: metrics["history"][i]["val_srcc"])
    assert metrics["best_epoch"] == best and metrics["val_srcc"] == metrics["history"][best]["val_srcc"]
    assert not any(k.startswith("test") for row in metrics["history"] for k in row)
    assert info["meta"]["dataset_sha256"] and info["meta"]["resolution"]["long_side"] == 96
    assert json.loads((out / "metrics.json").read_text())["best_epoch"] == metrics["best_epoch"]


def test_training_is_deterministic_under_a_seed(teacher_run, prepared_tiny, tiny_params, tmp_path):
    _, first = teacher_run
    again = train_teacher(tiny_params.train_teacher, prepared_tiny, tmp_path, tiny_params.models.teacher)
    assert [h["train_loss"] for h in again["history"]] == [h["train_loss"] for h in first["history"]]
    assert again["val_srcc"] == first["val_srcc"]


def test_distillation_through_adapters_exports_the_bare_student(teacher_run, prepared_tiny, tiny_params, tmp_path):
    out, _ = teacher_run
    cfg = tiny_params.distill_student
    cfg = replace(cfg, weights=replace(cfg.weights, teacher_score=0.5))
    # a student whose head differs from the teacher's (grid, width, opinions) needs the adapter
    from mobileiqa.models import registry

    name = "mobileiqa_student_mobilenetv3_small_050_tiny"
    spec = registry.get_spec(name)
    odd = replace(spec, name="test_student_odd_head", head=replace(spec.head, grid=8, width=12, num_opinions=3))
    registry._REGISTRY[odd.name] = odd
    try:
        metrics = distill_student(cfg, prepared_tiny, out / "model.pt", tmp_path, odd.name)
    finally:
        registry._REGISTRY.pop(odd.name)
        registry._REGISTRY[odd.name] = odd  # load_model below needs the name again
    student, _ = load_model(tmp_path / "model.pt")
    registry._REGISTRY.pop(odd.name)
    assert student.config.grid == 8 and not any("adapter" in k for k in student.state_dict())
    terms = {k for row in metrics["history"] for k in row if k.startswith("train_loss")}
    assert terms == {"train_loss", "train_loss_lda", "train_loss_dof", "train_loss_score", "train_loss_teacher_score",
                     "train_loss_rank", "train_loss_aux", "train_loss_annotators"}
    # the last three: the optional extras (tiny switches rank and aux on; the annotator head is on by default)


class _ListSampler:
    """The sampler protocol the Trainer needs, over a fixed list of batches."""

    start_batch = 0

    def __init__(self, batches):
        self.n = len(batches)

    def set_epoch(self, epoch, start_batch=0):
        pass

    def __len__(self):
        return self.n


def test_non_finite_loss_stops_naming_the_step(tmp_path):
    model = torch.nn.Linear(1, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    batches = [(torch.ones(1, 1), torch.ones(1), torch.zeros(1))] * 3

    def step(batch):
        return {"loss": model(batch[0]).sum() * float("nan")}

    loop = LoopConfig(epochs=1, progress=False)
    trainer = Trainer(model, opt, None, batches, _ListSampler(batches), step, dict, loop, tmp_path)
    with pytest.raises(FloatingPointError, match="at step 0"):
        trainer.fit()


def test_tracking_logs_params_metrics_tags_and_artifacts(prepared_tiny, tiny_params, tmp_path, monkeypatch):
    import mlflow

    from mobileiqa.stages.train_teacher import run_train_teacher

    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    params = replace(tiny_params, tracking=replace(tiny_params.tracking, enabled=True, experiment="test"))
    run_train_teacher(params, prepared_tiny, tmp_path / "teacher")
    client = mlflow.MlflowClient(uri)
    run = client.search_runs([client.get_experiment_by_name("test").experiment_id])[0]
    assert run.data.params["train_teacher.lr"] == str(params.train_teacher.lr)
    assert run.data.tags["dataset_sha256"] and run.data.tags["git_commit"]
    assert len(client.get_metric_history(run.info.run_id, "val_srcc")) == params.train_teacher.epochs
    assert {"train_loss", "lr", "val_plcc", "val_krcc"} <= set(run.data.metrics)
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"model.pt", "metrics.json", "training_curves.png"} <= names


def _cli(out: Path, dataset: Path, resume: bool = False) -> list[str]:
    return [sys.executable, "-m", "mobileiqa", "train-teacher", "--params", str(ROOT / "params.yaml"),
            "--overlay", str(ROOT / "params/tiny.yaml"), "--set", "tracking.enabled=false",
            "--set", "train_teacher.checkpoint_every_steps=1", "--set", "train_teacher.threads=1",
            "--set", "train_teacher.epochs=3", "--dataset", str(dataset), "--out", str(out),
            *(["--resume"] if resume else [])]


def test_resume_after_kill_9_ends_like_an_uninterrupted_run(prepared_tiny, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    full = subprocess.run(_cli(tmp_path / "full", prepared_tiny), env=env, capture_output=True, text=True)
    assert full.returncode == 0, full.stderr[-2000:]

    out = tmp_path / "killed"
    proc = subprocess.Popen(_cli(out, prepared_tiny), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    last = out / "checkpoints" / "last.pt"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if last.is_file():
            state = torch.load(last, weights_only=True)["state"]
            if state["step"] >= 3 and state["batch"] > 0:  # mid-epoch, a few steps in
                break
        time.sleep(0.05)
    assert proc.poll() is None, "training finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    resumed = subprocess.run(_cli(out, prepared_tiny, resume=True), env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]

    a = json.loads((tmp_path / "full" / "metrics.json").read_text())
    b = json.loads((out / "metrics.json").read_text())
    assert a["best_epoch"] == b["best_epoch"]
    for row_a, row_b in zip(a["history"], b["history"], strict=True):
        for key in ("train_loss", "val_srcc", "val_plcc", "val_rmse"):
            assert abs(row_a[key] - row_b[key]) <= 1e-6, (key, row_a[key], row_b[key])
    wa = torch.load(tmp_path / "full" / "model.pt", weights_only=True)["state_dict"]
    wb = torch.load(out / "model.pt", weights_only=True)["state_dict"]
    assert all(torch.allclose(wa[k].float(), wb[k].float(), atol=1e-6) for k in wa)


def test_torchrun_two_cpu_processes_share_the_work(prepared_tiny, tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    torchrun = str(Path(sys.executable).parent / "torchrun")
    out = tmp_path / "ddp"
    cmd = [torchrun, "--nnodes=1", "--nproc-per-node=2", "--master-addr=127.0.0.1", f"--master-port={port}",
           "-m", "mobileiqa", "train-teacher", "--params", str(ROOT / "params.yaml"), "--overlay",
           str(ROOT / "params/tiny.yaml"), "--set", "tracking.enabled=false", "--set", "train_teacher.threads=1",
           "--set", "train_teacher.device=cpu", "--dataset", str(prepared_tiny), "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["history"]) == 2 and "val_srcc" in metrics
    state = torch.load(out / "checkpoints" / "last.pt", weights_only=True)["state"]
    batches = 8  # 75 images: the train split's 25 images in batches of 4 give 7 batches, padded to 8 for 2 ranks
    assert state["step"] == 2 * batches // 2  # each rank stepped through its half, in both epochs
    assert proc.stdout.count("teacher: best epoch") == 1  # only rank 0 reports and writes files


def test_crop_training_validates_on_whole_images(prepared_tiny, tiny_params, tmp_path):
    cfg = replace(tiny_params.train_teacher, crop=64, epochs=1)
    metrics = train_teacher(cfg, prepared_tiny, tmp_path, tiny_params.models.teacher)
    model, info = load_model(tmp_path / "model.pt")
    assert info["meta"]["resolution"]["long_side"] == 96  # the policy that evaluation and export share
    # the recorded val SRCC is the saved model's on whole (uncropped) val images
    dataset = PreparedDataset.load(prepared_tiny)
    val = split_images(dataset, read_manifest(dataset.manifest), "val", cfg.resolution, crop=0,
                       norm=model.normalisation)
    assert min(min(size) for size in val.sizes()) > cfg.crop  # whole images are larger than the crops
    pred = predict(model, val, 4, torch.device("cpu"))
    assert len(metrics["history"]) == 1
    assert metrics["val_srcc"] == pytest.approx(srcc(pred, val.mos.numpy()), abs=1e-6)


def test_eval_every_validates_every_nth_epoch_and_the_last_and_picks_best_among_them(tmp_path):
    model = torch.nn.Linear(1, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    calls = []

    def evaluate():  # validation gets worse every call, so the best is the first *validated* epoch
        calls.append(len(calls))
        return {"val_srcc": 1.0 - 0.1 * len(calls)}

    def step(batch):
        return {"loss": model(batch[0]).pow(2).sum()}

    batches = [(torch.ones(1, 1), torch.ones(1), torch.zeros(1))]
    trainer = Trainer(model, opt, None, batches, _ListSampler(batches), step, evaluate,
                      LoopConfig(epochs=5, eval_every=2, progress=False), tmp_path)
    trainer.fit()
    assert [("val_srcc" in h) for h in trainer.history] == [False, True, False, True, True]
    assert len(calls) == 3 and trainer.state.best_epoch == 1
    with pytest.raises(ValueError, match="eval_every"):
        LoopConfig(epochs=1, eval_every=0)


def test_ema_validates_keeps_and_resumes_the_moving_average_of_the_weights(tmp_path):
    """Plain SGD on ``w * x`` with a constant gradient moves the weight by the same step every batch, so the
    average after each step is known in closed form; validation, ``best.pt`` and ``last.pt`` must hold it."""
    def run(epochs: int, folder, resume: bool = False):
        torch.manual_seed(0)
        model = torch.nn.Linear(1, 1, bias=False)
        torch.nn.init.constant_(model.weight, 1.0)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        seen = []

        def evaluate():
            seen.append(float(model.weight))
            return {"val_srcc": float(len(seen))}  # every validation is the best so far: best.pt = the last one

        batches = [(torch.ones(1, 1), torch.ones(1), torch.zeros(1))] * 2
        trainer = Trainer(model, opt, None, batches, _ListSampler(batches), lambda b: {"loss": model(b[0]).sum()},
                          evaluate, LoopConfig(epochs=epochs, ema=0.9, progress=False), folder)
        if resume:
            assert trainer.resume()
        trainer.fit()
        return trainer, model, seen

    expected, w, ema = [], 1.0, 1.0
    for step in range(6):  # 3 epochs x 2 batches: each step w -= 0.1, then the average follows with a warmed decay
        w -= 0.1
        decay = min(0.9, (1 + step) / (10 + step))
        ema = decay * ema + (1 - decay) * w
        if step % 2:
            expected.append(ema)
    trainer, model, seen = run(3, tmp_path / "whole")
    assert seen == pytest.approx(expected, abs=1e-6)  # validated on the average, not the live weight
    assert float(model.weight) == pytest.approx(w)  # the live weights are back after each validation
    best = torch.load(trainer.best_path, weights_only=True)["model"]["weight"]
    assert float(best) == pytest.approx(expected[-1], abs=1e-6) and abs(expected[-1] - w) > 0.05
    # stopped after 2 epochs and resumed for the 3rd: the same average
    run(2, tmp_path / "halves")
    _, _, seen = run(3, tmp_path / "halves", resume=True)
    assert seen == pytest.approx(expected[-1:], abs=1e-6)
    with pytest.raises(ValueError, match="ema"):
        LoopConfig(epochs=1, ema=1.0)
