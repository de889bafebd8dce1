"""The pipeline's headline metrics: the few figures a user compares between runs (``dvc metrics show``,
``dvc metrics diff main``, ``dvc exp show``), kept to :data:`MAX_KEYS` so that the table fits a terminal.

Built from the evaluate stage's ``metrics.json`` and the export stage's report; the full detail (intervals,
per-type and per-level figures, behaviour) stays in those files. Keys (flattened the way DVC prints them):

    student.srcc  student.srcc_ci  student.plcc   the student on the evaluated split (srcc_ci: half-width of the
                                                  95 % bootstrap interval, so it moves with evaluate.n_boot)
    teacher.srcc  teacher.plcc                    the teacher on the same split (absent when not evaluated)
    baseline.srcc baseline.plcc                   the best classic baseline by SRCC (sign-adjusted)
    latency_ms                                    single-image latency measured at export
    gate.floor    gate.baselines  gate.latency    the absolute targets of :mod:`mobileiqa.eval.targets`
"""

from __future__ import annotations

from mobileiqa.eval.targets import floor_checks, latency_check

MAX_KEYS = 12
DIGITS = 4


def _r(x) -> float | None:
    return None if x is None else round(float(x), DIGITS)


def headline(eval_metrics: dict, export: dict, min_srcc: float, min_srcc_over_baselines: float,
             latency_budget_ms: float) -> dict:
    """The headline metrics (nested as ``{group: {key: value}}``) of one pipeline run."""
    model = eval_metrics["model"]
    low, high = (model.get("ci95") or {}).get("srcc", (None, None))
    out: dict = {"student": {"srcc": _r(model["srcc"]),
                             "srcc_ci": None if low is None else _r((high - low) / 2),
                             "plcc": _r(model["plcc"])}}
    if eval_metrics.get("teacher"):
        out["teacher"] = {"srcc": _r(eval_metrics["teacher"]["srcc"]), "plcc": _r(eval_metrics["teacher"]["plcc"])}
    baselines = {k: v for k, v in eval_metrics.get("baselines", {}).items() if v.get("srcc") is not None}
    if baselines:
        best = max(baselines, key=lambda k: baselines[k]["srcc"])
        out["baseline"] = {"srcc": _r(baselines[best]["srcc"]), "plcc": _r(baselines[best]["plcc"])}
    latency = export.get("latency") or {}
    out["latency_ms"] = _r(latency.get("ms"))
    floors = floor_checks(model["srcc"], {k: v.get("srcc") for k, v in eval_metrics.get("baselines", {}).items()},
                          min_srcc, min_srcc_over_baselines)
    speed = latency_check(latency.get("ms"), latency.get("machine"), latency_budget_ms)
    names = {"srcc_floor": "floor", "beats_baselines": "baselines", "latency": "latency"}
    out["gate"] = {names[c.name]: c.passed for c in (*floors, speed)}
    return {k: ({kk: vv for kk, vv in v.items() if vv is not None} if isinstance(v, dict) else v)
            for k, v in out.items() if v is not None}


def count_keys(d: dict) -> int:
    """Leaf values of a nested dict (the columns ``dvc metrics show`` prints)."""
    return sum(count_keys(v) if isinstance(v, dict) else 1 for v in d.values())
