"""The training loop, shared by teacher training and distillation: epochs of size-grouped batches, gradient
accumulation, evaluation on the validation split after every (N-th) epoch, best-epoch selection on validation
(never test), atomic checkpoints every epoch and every N steps, exact resume, and optional DDP.

It knows nothing about MLflow: progress goes to a :class:`Logger` (the tracking package provides one backed by
MLflow; :class:`NullLogger` does nothing). Everything in a checkpoint loads with ``weights_only=True``.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import torch
from torch import Tensor, nn
from tqdm import tqdm

from mobileiqa.models.checkpoint import atomic_torch_save
from mobileiqa.train.data import SizeBatchSampler
from mobileiqa.train.distributed import is_main_process, mean_across_ranks
from mobileiqa.train.losses import check_finite

StepFn = Callable[[tuple[Tensor, Tensor, Tensor]], dict[str, Tensor]]
EvalFn = Callable[[], dict[str, float]]


class Logger(Protocol):
    def log_metrics(self, metrics: dict[str, float], step: int) -> None: ...
    def log_artifact(self, path: str | os.PathLike) -> None: ...


class NullLogger:
    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        pass

    def log_artifact(self, path: str | os.PathLike) -> None:
        pass


class PrefixLogger:
    """``logger`` with ``prefix`` before every metric name: a second loop in the same run keeps its own series."""

    def __init__(self, logger: Logger | None, prefix: str) -> None:
        self.logger, self.prefix = logger or NullLogger(), prefix

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        self.logger.log_metrics({f"{self.prefix}{k}": v for k, v in metrics.items()}, step)

    def log_artifact(self, path: str | os.PathLike) -> None:
        self.logger.log_artifact(path)


@dataclass(frozen=True)
class LoopConfig:
    epochs: int
    accumulate: int = 1  # optimiser step every N batches
    max_grad_norm: float | None = None
    checkpoint_every_steps: int = 0  # 0 = only at the end of each epoch
    select_metric: str = "val_srcc"  # best epoch = max of this validation metric
    step_scheduler: bool = False  # step the scheduler after every optimiser step (onecycle), not every epoch
    progress: bool = True
    eval_every: int = 1  # validate after every N-th epoch of the run and after the last (others can't be best)
    ema: float = 0.0  # > 0: validate and keep an exponential moving average of the weights with this decay

    def __post_init__(self) -> None:
        if self.eval_every < 1:
            raise ValueError(f"LoopConfig.eval_every must be >= 1, got {self.eval_every}")
        if not 0 <= self.ema < 1:
            raise ValueError(f"LoopConfig.ema is a decay in [0, 1) (0 = off), got {self.ema}")

    def validates(self, epoch: int) -> bool:
        """Whether epoch ``epoch`` (0-based, counted over the whole run) ends with a validation pass."""
        return (epoch + 1) % self.eval_every == 0 or epoch + 1 == self.epochs


@dataclass
class LoopState:
    epoch: int = 0  # epoch in progress (or next to run)
    batch: int = 0  # batches of that epoch already consumed
    step: int = 0  # optimiser steps so far
    best_metric: float = -math.inf
    best_epoch: int = -1
    sums: dict = field(default_factory=dict)  # running sums of this epoch's loss terms (resume-exact means)
    count: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


@contextlib.contextmanager
def caching_threads(threads: int):
    """Run the block with ``threads`` torch CPU threads (0: leave them as they are), then restore them: feature
    caching is inference on whole images and may use other threads than training (``cache_threads``)."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def select_device(preference: str = "auto", threads: int = 0) -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; anything else is taken as given (``cpu``, ``cuda:1``...). ``threads``
    > 0 also sets the torch CPU threads of the run (a recipe's ``threads``; 0 leaves them as they are)."""
    if threads:
        torch.set_num_threads(threads)
    if preference != "auto":
        return torch.device(preference)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")




class Trainer:
    """Runs ``step_fn`` over the sampler's batches; ``trainable`` holds every module whose weights are saved."""

    def __init__(self, trainable: nn.Module, optimizer: torch.optim.Optimizer, scheduler, loader, sampler:
                 SizeBatchSampler, step_fn: StepFn, eval_fn: EvalFn, config: LoopConfig, out_dir: str | os.PathLike,
                 logger: Logger | None = None, autocast: Callable[[], contextlib.AbstractContextManager] | None = None):
        self.trainable, self.optimizer, self.scheduler = trainable, optimizer, scheduler
        self.loader, self.sampler, self.step_fn, self.eval_fn = loader, sampler, step_fn, eval_fn
        self.config, self.out_dir = config, Path(out_dir)
        self.logger = logger or NullLogger()
        self.autocast = autocast or contextlib.nullcontext
        self.state = LoopState()
        self.history: list[dict[str, float]] = []
        self.ema: dict[str, Tensor] | None = None  # the averaged state (config.ema > 0), started at fit()

    # -- checkpoints ---------------------------------------------------------------------------------------
    @property
    def last_path(self) -> Path:
        return self.out_dir / "last.pt"

    @property
    def best_path(self) -> Path:
        return self.out_dir / "best.pt"

    def _module(self) -> nn.Module:
        return getattr(self.trainable, "module", self.trainable)  # unwrap DDP

    def save(self, path: Path) -> None:
        if not is_main_process():
            return
        atomic_torch_save({
            "state": self.state.to_dict(),
            "model": self._module().state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else {},
            "rng": torch.get_rng_state(),
            "history": self.history,
            **({"ema": self.ema} if self.ema is not None else {}),
        }, path)

    def resume(self, path: str | os.PathLike | None = None) -> bool:
        """Load ``path`` (default ``last.pt``) if it exists; returns whether training resumes."""
        path = Path(path) if path else self.last_path
        if not path.is_file():
            return False
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        self._module().load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        if self.scheduler is not None and ckpt["scheduler"]:
            self.scheduler.load_state_dict(ckpt["scheduler"])
        torch.set_rng_state(ckpt["rng"])
        self.state = LoopState(**ckpt["state"])
        self.history = list(ckpt["history"])
        self.ema = ckpt.get("ema")
        return True

    def continue_from(self, earlier: Trainer) -> None:
        """Count ``earlier``'s epochs (a previous phase of the same run) first: its history, epoch count and
        best epoch (copied to this trainer's ``best.pt``) carry over; a later epoch must beat it to be chosen."""
        self.history = list(earlier.history)
        self.state.epoch = earlier.state.epoch
        self.state.best_metric, self.state.best_epoch = earlier.state.best_metric, earlier.state.best_epoch
        if is_main_process() and earlier.best_path.is_file():
            self.out_dir.mkdir(parents=True, exist_ok=True)
            atomic_torch_save(torch.load(earlier.best_path, map_location="cpu", weights_only=True), self.best_path)

    # -- weight averaging ----------------------------------------------------------------------------------
    def _update_ema(self) -> None:
        """One step of the moving average (every float tensor of the state, BatchNorm statistics too), its decay
        warmed up as ``(1 + step) / (10 + step)`` so the first steps do not hold on to the starting weights."""
        decay = min(self.config.ema, (1 + self.state.step) / (10 + self.state.step))
        with torch.no_grad():
            for key, value in self._module().state_dict().items():
                if value.is_floating_point():
                    self.ema[key].lerp_(value.detach(), 1 - decay)
                else:
                    self.ema[key].copy_(value)

    @contextlib.contextmanager
    def averaged(self):
        """The block sees the averaged weights in the trained module (when ``config.ema`` > 0), then the live ones
        again: validation, the best epoch's weights and the final model are the average's."""
        if self.ema is None:
            yield
            return
        module = self._module()
        live = {k: v.detach().clone() for k, v in module.state_dict().items()}
        module.load_state_dict(self.ema)
        try:
            yield
        finally:
            module.load_state_dict(live)

    # -- the loop ------------------------------------------------------------------------------------------
    def fit(self) -> LoopState:
        cfg = self.config
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if cfg.ema and self.ema is None:
            self.ema = {k: v.detach().clone() for k, v in self._module().state_dict().items()}
        while self.state.epoch < cfg.epochs:
            self._train_epoch()
            # the average is swapped in only where it is read: a validation and perhaps best.pt
            with self.averaged() if cfg.validates(self.state.epoch) else contextlib.nullcontext():
                self._close_epoch()
            self.state.epoch, self.state.batch, self.state.sums, self.state.count = self.state.epoch + 1, 0, {}, 0
            self.save(self.last_path)
        return self.state

    def _close_epoch(self) -> None:
        """Validate (when due), log, and keep the epoch's weights if they are the best so far."""
        cfg = self.config
        metrics = {**mean_across_ranks(self._epoch_means),
                   **(self.eval_fn() if cfg.validates(self.state.epoch) else {}),
                   "lr": self.optimizer.param_groups[0]["lr"]}
        if self.scheduler is not None and not cfg.step_scheduler:
            self.scheduler.step()
        metrics["epoch"] = self.state.epoch
        self.history.append(metrics)
        self.logger.log_metrics(metrics, step=self.state.epoch)
        if cfg.progress and is_main_process():
            keys = [k for k in ("train_loss", "val_srcc", "val_plcc") if k in metrics]
            shown = ", ".join(f"{k} {metrics[k]:.4f}" for k in keys)
            tqdm.write(f"epoch {self.state.epoch + 1}/{cfg.epochs}: {shown}")
        value = metrics.get(cfg.select_metric, float("nan"))
        if not math.isnan(value) and value > self.state.best_metric:
            self.state.best_metric, self.state.best_epoch = value, self.state.epoch
            self._save_best()

    def _save_best(self) -> None:
        if is_main_process():
            atomic_torch_save({"model": self._module().state_dict(), "epoch": self.state.epoch,
                               "metric": self.state.best_metric}, self.best_path)

    def _train_epoch(self) -> None:
        cfg, st = self.config, self.state
        self.trainable.train()
        self.sampler.set_epoch(st.epoch, start_batch=st.batch)
        total = len(self.sampler) + st.batch
        bar = tqdm(total=total, initial=st.batch, unit="batch", desc=f"epoch {st.epoch + 1}/{cfg.epochs}",
                   disable=not (cfg.progress and is_main_process()))
        t0 = time.perf_counter()
        try:
            for batch in self.loader:
                with self.autocast():
                    terms = self.step_fn(batch)
                check_finite(terms["loss"], st.step, terms)
                (terms["loss"] / cfg.accumulate).backward()
                st.batch += 1
                for k, v in terms.items():
                    st.sums[f"train_{k}"] = st.sums.get(f"train_{k}", 0.0) + float(v.detach())
                st.count += 1
                if st.batch % cfg.accumulate == 0 or st.batch == total:
                    if cfg.max_grad_norm:
                        nn.utils.clip_grad_norm_(self.trainable.parameters(), cfg.max_grad_norm)
                    self.optimizer.step()
                    self.optimizer.zero_grad(set_to_none=True)
                    if self.scheduler is not None and cfg.step_scheduler:
                        self.scheduler.step()
                    if self.ema is not None:
                        self._update_ema()
                    st.step += 1
                    if cfg.checkpoint_every_steps and st.step % cfg.checkpoint_every_steps == 0:
                        self.save(self.last_path)
                bar.update()
                bar.set_postfix(loss=f"{float(terms['loss'].detach()):.4f}")
        finally:
            bar.close()
        self._epoch_means = {k: v / max(st.count, 1) for k, v in st.sums.items()}
        self._epoch_means["train_seconds"] = time.perf_counter() - t0
