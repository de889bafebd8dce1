"""The promotion rule: move alias ``champion`` to a challenger version only when every gate passes, under a lock,
with every attempt recorded.

Gates (:func:`evaluate_gates`, a pure function of the two versions'
:class:`~mobileiqa.tracking.mlflow_registry.Evidence`):

* ``srcc_floor`` / ``beats_baselines`` — absolute floors that hold also when there is no champion yet: SRCC >=
  ``register.min_srcc`` and >= the best classic baseline's SRCC + ``register.min_srcc_over_baselines``;
* ``comparable`` — champion and challenger were evaluated on the same split of the same dataset (hash); when not,
  the champion is re-scored on the challenger's split (``rescore``) or the gate fails;
* ``srcc`` / ``plcc`` — challenger >= champion − ``register.srcc_margin`` / ``plcc_margin``;
* ``latency`` — the single-image latency recorded at export (with its machine) <= ``register.latency_budget_ms``;
* ``int8_drift`` — when an int8 file shipped, |ΔSRCC| and |ΔPLCC| vs fp32 <= ``export.int8_max_srcc_drop``
  (the export gate's bound, passed in as ``int8_max_drift``);
* ``data_validation`` — the data validation stage passed (when ``register.require_validation``).

Concurrency. The invariant: ``champion`` only ever points at a version whose recorded attempt passed its gates
against the champion of that moment; no version is lost; every attempt (promoted, refused, lock timeout) is
recorded. It holds because the read-evaluate-move sequence runs under a mutex that the *registry itself*
provides: :class:`PromotionLock` creates a registered model named ``<model>.promotion-lock`` — creation is an
insert on the store's unique model-name key (SQLite, PostgreSQL, or the same through an ``mlflow server``), so
exactly one creator succeeds; the others get ``RESOURCE_ALREADY_EXISTS`` and retry until ``lock_timeout_s``.
Inside the lock the champion is re-read, so two promotions never judge against the same stale champion; each
record stores the champion it was judged against (``previous_champion``), which makes the history a chain.
A lock left by a killed process is never broken automatically (that would reopen the race): the timeout error
names its owner, and ``mobileiqa promote --break-lock`` removes it. Versions are never deleted here.

History: each attempt is a tag ``promotion.<UTC time>.<id>`` (JSON: outcome, gates with numbers, previous and
resulting champion) on the version, and the same entry plus the version on the registered model.
"""

from __future__ import annotations

import json
import os
import random
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import pandas as pd

from mobileiqa.data.manifest import PreparedDataset, read_manifest
from mobileiqa.eval.metrics import accuracy
from mobileiqa.eval.scorecard import score_in_chunks, split_frame
from mobileiqa.eval.targets import EPS, Check, floor_checks, latency_check
from mobileiqa.predict.inputs import encode_images
from mobileiqa.tracking.mlflow_registry import CHALLENGER, CHAMPION, MAX_TAG, Evidence, resolve_version
from mobileiqa.tracking.pyfunc import INPUT_COLUMN
from mobileiqa.tracking.settings import RegisterConfig

HISTORY_PREFIX = "promotion."
LOCK_SUFFIX = ".promotion-lock"
#: ``rescore(name, champion_version, challenger_evidence) -> (srcc, plcc)`` of the champion on the challenger's split
Rescore = Callable[[str, str, Evidence], tuple[float, float]]


#: a promotion gate: a named pass/fail with its numbers (the targets' :class:`~mobileiqa.eval.targets.Check`)
Gate = Check


def floor_gates(cfg: RegisterConfig, challenger: Evidence) -> list[Gate]:
    """The absolute floors (:func:`mobileiqa.eval.targets.floor_checks`), which hold with or without a champion."""
    return floor_checks(challenger.srcc, {k: v.get("srcc") for k, v in challenger.baselines.items()}, cfg.min_srcc,
                        cfg.min_srcc_over_baselines)


def evaluate_gates(cfg: RegisterConfig, int8_max_drift: float, challenger: Evidence, champion: Evidence | None,
                   champion_version: str | None = None, rescored: tuple[float, float] | None = None) -> list[Gate]:
    """Every gate for ``challenger`` against ``champion`` (``None`` = no champion yet); see the module docstring."""
    gates = floor_gates(cfg, challenger)
    if champion is None:
        gates.append(Gate("comparable", True, "no champion yet: only the floors judge the metrics"))
    else:
        same = (champion.dataset_sha256, champion.split) == (challenger.dataset_sha256, challenger.split)
        theirs = f"split {champion.split!r} of dataset {champion.dataset_sha256[:12]}"
        ours = f"split {challenger.split!r} of dataset {challenger.dataset_sha256[:12]}"
        if same:
            gates.append(Gate("comparable", True, f"both evaluated on {ours}"))
            srcc, plcc = champion.srcc, champion.plcc
        elif rescored is not None:
            srcc, plcc = rescored
            gates.append(Gate("comparable", True, f"champion v{champion_version} re-scored on {ours} "
                                                  f"(its recorded numbers are for {theirs})"))
        else:
            gates.append(Gate("comparable", False, f"champion v{champion_version} was evaluated on {theirs}, the "
                                                   f"challenger on {ours}; re-score the champion (promote --dataset "
                                                   "DIR with the challenger's dataset)"))
            srcc = plcc = None
        for name, ours_v, theirs_v, margin in (("srcc", challenger.srcc, srcc, cfg.srcc_margin),
                                               ("plcc", challenger.plcc, plcc, cfg.plcc_margin)):
            if theirs_v is None:
                gates.append(Gate(name, False, f"{name.upper()} {ours_v:.4f}: no comparable champion figure"))
                continue
            delta = ours_v - theirs_v
            ok = delta >= -margin - EPS
            gates.append(Gate(name, ok, f"{name.upper()} {ours_v:.4f} vs champion v{champion_version} "
                                        f"{theirs_v:.4f}: Δ {delta:+.4f} ({'within' if ok else 'beyond'} margin "
                                        f"-{margin:g})"))
    gates.append(latency_check(challenger.latency_ms, challenger.latency_machine, cfg.latency_budget_ms))
    if not challenger.int8_shipped:
        gates.append(Gate("int8_drift", True, "no int8 file shipped"))
    else:
        ds, dp = challenger.int8_delta_srcc, challenger.int8_delta_plcc
        if ds is None or dp is None:
            gates.append(Gate("int8_drift", False, "an int8 file shipped without its drift figures"))
        else:
            ok = max(abs(ds), abs(dp)) <= int8_max_drift + EPS
            gates.append(Gate("int8_drift", ok, f"int8 ΔSRCC {ds:+.4f}, ΔPLCC {dp:+.4f} "
                                                f"({'within' if ok else 'beyond'} bound {int8_max_drift:g})"))
    if cfg.require_validation:
        v = challenger.validation_passed
        gates.append(Gate("data_validation", v is True,
                          {True: "passed", False: "FAILED", None: "no validation summary recorded"}[v]))
    return gates


# ---------------------------------------------------------------------------------------------------- lock
class LockTimeoutError(RuntimeError):
    """Another promotion held the lock for longer than ``register.lock_timeout_s``."""


class PromotionLock:
    """Registry-side mutex (see the module docstring): a registered model ``<model>.promotion-lock`` exists exactly
    while one promotion holds the lock; its tags name the owner."""

    def __init__(self, client, model_name: str, timeout_s: float) -> None:
        self.client, self.name, self.timeout_s = client, model_name + LOCK_SUFFIX, timeout_s
        self.token = uuid.uuid4().hex
        self.waited_s = 0.0

    def __enter__(self) -> PromotionLock:
        from mlflow.exceptions import MlflowException

        owner = {"owner": self.token, "host": socket.gethostname(), "pid": str(os.getpid()),
                 "since": datetime.now(UTC).isoformat(timespec="seconds")}
        t0, delay = time.monotonic(), 0.05
        while True:
            try:
                self.client.create_registered_model(self.name, tags=owner,
                                                    description="held while a promotion runs; see promotion.py")
                self.waited_s = time.monotonic() - t0
                return self
            except MlflowException as exc:
                # taken; or taken and released meanwhile: on a unique-key clash the store re-reads the holder,
                # which reports RESOURCE_DOES_NOT_EXIST when the holder has just deleted it. Both: try again.
                if exc.error_code not in ("RESOURCE_ALREADY_EXISTS", "RESOURCE_DOES_NOT_EXIST"):
                    raise
            if time.monotonic() - t0 > self.timeout_s:
                raise LockTimeoutError(f"promotion lock {self.name!r} is held by {self.holder()} for longer than "
                                  f"{self.timeout_s:g} s (register.lock_timeout_s); if its process is gone, run "
                                  "`mobileiqa promote --break-lock`")
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 1.5, 1.0)

    def __exit__(self, *exc) -> None:
        from mlflow.exceptions import MlflowException

        try:  # only remove our own lock (it may have been broken by hand and taken by someone else)
            if self.client.get_registered_model(self.name).tags.get("owner") == self.token:
                self.client.delete_registered_model(self.name)
        except MlflowException:
            pass

    def holder(self) -> str:
        from mlflow.exceptions import MlflowException

        try:
            tags = self.client.get_registered_model(self.name).tags
        except MlflowException:
            return "nobody (released)"
        return f"pid {tags.get('pid', '?')} on {tags.get('host', '?')} since {tags.get('since', '?')}"


def break_lock(client, model_name: str) -> str | None:
    """Remove a stale promotion lock; returns who held it (``None`` if there was none)."""
    from mlflow.exceptions import MlflowException

    lock = PromotionLock(client, model_name, 0)
    holder = lock.holder()
    try:
        client.delete_registered_model(lock.name)
    except MlflowException:
        return None
    return holder


# ----------------------------------------------------------------------------------------------- promotion
@dataclass(frozen=True)
class Outcome:
    model: str
    version: str
    outcome: str            # promoted | refused | already-champion | lock-timeout
    gates: tuple[Gate, ...]
    previous_champion: str | None
    champion: str | None    # after the attempt
    key: str                # the history tag of this attempt

    @property
    def promoted(self) -> bool:
        return self.outcome == "promoted"

    def report(self) -> str:
        head = {"promoted": f"{self.model} v{self.version} promoted to @{CHAMPION} "
                            f"(was {_v(self.previous_champion)})",
                "refused": f"{self.model} v{self.version} NOT promoted: "
                           f"{sum(not g.passed for g in self.gates)} gate(s) failed; @{CHAMPION} stays "
                           f"{_v(self.champion)}",
                "already-champion": f"{self.model} v{self.version} is already @{CHAMPION}",
                "lock-timeout": f"{self.model} v{self.version}: promotion lock not acquired"}[self.outcome]
        failed = [g for g in self.gates if not g.passed]
        passed = [g for g in self.gates if g.passed]
        return "\n".join([head, *(g.line() for g in failed + passed)])


def _v(version: str | None) -> str:
    return "none" if version is None else f"v{version}"


def _alias(client, name: str, alias: str) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def _record(client, name: str, version: str, entry: dict) -> str:
    key = f"{HISTORY_PREFIX}{datetime.now(UTC).strftime('%Y%m%dT%H%M%S.%fZ')}.{uuid.uuid4().hex[:8]}"
    entry = {**entry, "time": datetime.now(UTC).isoformat(timespec="microseconds"), "host": socket.gethostname(),
             "pid": os.getpid()}
    text = json.dumps(entry, separators=(",", ":"))
    if len(text) > MAX_TAG:
        text = json.dumps({**entry, "gates": [g for g in entry["gates"] if not g["passed"]]}, separators=(",", ":"))
    client.set_model_version_tag(name, version, key, text[:MAX_TAG])
    client.set_registered_model_tag(name, key, json.dumps({"version": version, **json.loads(text)},
                                                          separators=(",", ":"))[:MAX_TAG])
    return key


def promote(client, cfg: RegisterConfig, ref: str | None = None, rescore: Rescore | None = None, *,
            int8_max_drift: float) -> Outcome:
    """Judge version ``ref`` (a number or alias; default ``challenger``) and move ``champion`` to it when every
    gate passes. Always records the attempt; never raises on a refusal (the outcome says it)."""
    name = cfg.model_name
    version = resolve_version(client, name, ref or CHALLENGER)
    lock = PromotionLock(client, name, cfg.lock_timeout_s)
    try:
        lock.__enter__()
    except LockTimeoutError as exc:
        gate = Gate("lock", False, str(exc))
        key = _record(client, name, version, {"outcome": "lock-timeout", "gates": [asdict(gate)],
                                              "previous_champion": None, "champion": None})
        return Outcome(name, version, "lock-timeout", (gate,), None, None, key)
    try:
        champion = _alias(client, name, CHAMPION)  # re-read under the lock
        challenger_ev = Evidence.from_tags(client.get_model_version(name, version).tags, f"{name} v{version}")
        if champion == version:
            gates: list[Gate] = []
            outcome = "already-champion"
        else:
            champion_ev = None if champion is None else Evidence.from_tags(
                client.get_model_version(name, champion).tags, f"{name} v{champion}")
            rescored = None
            if champion_ev is not None and rescore is not None and \
                    (champion_ev.dataset_sha256, champion_ev.split) != (challenger_ev.dataset_sha256,
                                                                        challenger_ev.split):
                rescored = rescore(name, champion, challenger_ev)
            gates = evaluate_gates(cfg, int8_max_drift, challenger_ev, champion_ev, champion, rescored)
            outcome = "promoted" if all(g.passed for g in gates) else "refused"
            if outcome == "promoted":
                client.set_registered_model_alias(name, CHAMPION, version)
        after = version if outcome in ("promoted", "already-champion") else champion
        key = _record(client, name, version, {"outcome": outcome, "gates": [asdict(g) for g in gates],
                                              "previous_champion": champion, "champion": after,
                                              "lock_wait_s": round(lock.waited_s, 3)})
    finally:
        lock.__exit__(None, None, None)
    return Outcome(name, version, outcome, tuple(gates), champion, after, key)


def history(client, model_name: str) -> list[dict]:
    """Every recorded promotion attempt of the registered model, oldest first."""
    tags = client.get_registered_model(model_name).tags
    rows = [{"key": k, **json.loads(v)} for k, v in tags.items() if k.startswith(HISTORY_PREFIX)]
    return sorted(rows, key=lambda r: r["key"])


# ------------------------------------------------------------------------------------------------ re-scoring
def rescore_on_dataset(dataset_dir, batch: int = 16) -> Rescore:
    """A :data:`Rescore` that scores the champion's pyfunc on the challenger's split of the prepared dataset in
    ``dataset_dir`` (its manifest hash must match the challenger's ``dataset_sha256``)."""

    def rescore(name: str, version: str, challenger: Evidence) -> tuple[float, float]:
        import mlflow.pyfunc

        ds = PreparedDataset.load(dataset_dir)
        if ds.manifest_sha256 != challenger.dataset_sha256:
            raise ValueError(f"{dataset_dir}: manifest sha256 {ds.manifest_sha256[:12]} is not the challenger's "
                             f"evaluation dataset {challenger.dataset_sha256[:12]}; pass that dataset's folder")
        frame = split_frame(read_manifest(ds.manifest), ds.root, challenger.split)
        model = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
        scores = score_in_chunks(lambda files: model.predict(pd.DataFrame({INPUT_COLUMN: encode_images(files)})),
                                 list(frame["file"]), batch, f"re-score v{version}")
        m = accuracy(scores, frame["mos"].to_numpy(float))
        return float(m.srcc), float(m.plcc)

    return rescore
