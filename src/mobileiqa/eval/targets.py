"""The absolute targets a shipped model must meet, with or without a champion to compare against: the accuracy
floors (SRCC >= ``register.min_srcc`` and >= the best classic baseline's SRCC + ``register.min_srcc_over_baselines``,
both on the evaluated split) and the latency budget (``register.latency_budget_ms``). One home for the judgements
that the evaluation report's verdict, the pipeline's headline metrics and the registry's promotion gates print."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

EPS = 1e-9  # thresholds are inclusive: 0.59999999999 counts as 0.6


@dataclass(frozen=True)
class Check:
    """One judged target: its name, whether it passed, and the numbers behind the decision."""

    name: str
    passed: bool
    detail: str

    def line(self) -> str:
        return f"  [{'pass' if self.passed else 'FAIL'}] {self.name}: {self.detail}"


def floor_checks(srcc: float, baselines_srcc: Mapping[str, float | None], min_srcc: float,
                 min_srcc_over_baselines: float) -> list[Check]:
    """``srcc_floor`` and ``beats_baselines`` for a model with ``srcc``; ``baselines_srcc`` maps each classic
    baseline to its (sign-adjusted) SRCC on the same split, ``None`` when it could not be computed. With no
    baseline scored, ``beats_baselines`` fails: a floor that cannot be checked does not pass."""
    ok = srcc >= min_srcc - EPS
    checks = [Check("srcc_floor", ok, f"SRCC {srcc:.4f} {'>=' if ok else '<'} floor {min_srcc:g}")]
    scored = {k: float(v) for k, v in baselines_srcc.items() if isinstance(v, int | float)}
    if not scored:
        checks.append(Check("beats_baselines", False, "no classic baseline was evaluated on the split"))
        return checks
    best = max(scored, key=scored.get)
    need = scored[best] + min_srcc_over_baselines
    ok = srcc >= need - EPS
    checks.append(Check("beats_baselines", ok, f"SRCC {srcc:.4f} {'>=' if ok else '<'} best baseline {best} "
                                               f"{scored[best]:.4f} + {min_srcc_over_baselines:g}"))
    return checks


def latency_check(latency_ms: float | None, machine: str | None, budget_ms: float) -> Check:
    """``latency``: the single-image latency measured at export (on ``machine``) within ``budget_ms``."""
    if latency_ms is None:
        return Check("latency", False, "no latency figure was recorded at export")
    ok = latency_ms <= budget_ms
    return Check("latency", ok,
                 f"{latency_ms:.1f} ms on {machine or '?'} {'<=' if ok else '>'} budget {budget_ms:g} ms")
