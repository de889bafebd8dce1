"""The headline metrics: the few figures `dvc metrics show` prints, judged by the same targets as the registry."""

from __future__ import annotations

from mobileiqa.eval.headline import MAX_KEYS, count_keys, headline

EXPORT = {"latency": {"ms": 637.21, "machine": "cpu-test"}}


def _metrics(srcc: float, teacher: bool = True) -> dict:
    return {"model": {"srcc": srcc, "plcc": 0.78111, "ci95": {"srcc": [srcc - 0.03, srcc + 0.05]}},
            "teacher": {"srcc": 0.8227, "plcc": 0.83} if teacher else None,
            "baselines": {"niqe": {"srcc": 0.3219, "plcc": 0.30}, "brisque": {"srcc": 0.2574, "plcc": 0.41},
                          "piqe": {"srcc": None, "plcc": None}}}


def test_the_headline_keeps_the_best_baseline_and_judges_the_targets():
    h = headline(_metrics(0.76702), EXPORT, 0.60, 0.10, 1000.0)
    assert h["student"] == {"srcc": 0.767, "srcc_ci": 0.04, "plcc": 0.7811}
    assert h["baseline"] == {"srcc": 0.3219, "plcc": 0.30}  # NIQE has the best SRCC, not the best PLCC
    assert h["latency_ms"] == 637.21 and h["gate"] == {"floor": True, "baselines": True, "latency": True}
    assert count_keys(h) == 11 <= MAX_KEYS
    weak = headline(_metrics(0.41), EXPORT, 0.60, 0.10, 500.0)
    assert weak["gate"] == {"floor": False, "baselines": False, "latency": False}


def test_without_a_teacher_or_latency_the_keys_are_left_out_and_the_latency_gate_fails():
    h = headline(_metrics(0.7, teacher=False), {}, 0.60, 0.10, 1000.0)
    assert "teacher" not in h and "latency_ms" not in h and h["gate"]["latency"] is False
