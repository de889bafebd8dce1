"""The model card (Markdown) of a registered version: data and its hash, metrics with intervals and baselines,
compute table, intended use and limitations.

:func:`render_card` is pure (evidence + export facts in, Markdown out); :mod:`mobileiqa.tracking.mlflow_registry`
attaches the card to the version (``model_card.md`` artifact + the version's description), its first paragraph
(:data:`SUMMARY` and the version's architecture, profile and commit) becomes the registered model's description
(:func:`~mobileiqa.tracking.mlflow_registry.card_summary`), and ``mobileiqa card`` prints it.
"""

from __future__ import annotations

import math
from pathlib import Path

from mobileiqa.tracking.mlflow_registry import ARTIFACT_FILES, Evidence

#: what the model is, in one sentence: opens the card's first paragraph (its summary)
SUMMARY = ("No-reference image quality model for photos on phones and CPU servers: one image in, one quality score "
           "out (higher = better).")

INTENDED_USE = """\
- No-reference quality score of a single photo (higher = better, on the scale recorded in the ONNX metadata),
  for ranking, filtering or flagging images on a phone or a CPU server.
- Inputs: RGB photos at the resolution policy recorded in the ONNX metadata; scores of the same version are
  comparable with each other, not across versions without re-calibration."""

LIMITATIONS = """\
- Trained on the dataset named above only: the default dataset is synthetic distortions of a few dozen reference
  photos rated by simulated annotators (full-reference metrics), not human MOS; accuracy on authentic camera
  distortions (KonIQ-10k, SPAQ, LIVE-C) must be measured before relying on it.
- The correlations are over the evaluated split; the intervals are bootstrap 95 % intervals over its images.
- Latency is the export-time figure on the named machine; phones differ.
- int8 files are shipped only when their drift against fp32 stayed within the export bound.
- Not a measure of aesthetics or content; not for decisions about people."""


EXPLANATIONS = """\
- Besides the score, this version outputs `quality_map` (a G x G grid of local quality on the normalised MOS scale
  [0, 1], row 0 = top; where the photo is degraded) and `spread` (named in the ONNX metadata's `mobileiqa.outputs`).
- `spread` is the predicted disagreement of the (simulated) raters about the photo, in normalised MOS units: it is
  not a confidence interval of the model's error.
- The map was trained on full-reference error maps (local SSIM and GMSD, calibrated like the scalar labels) of the
  synthetic dataset: coarse (one cell per 1/G of each side) and measured against those targets only."""


def _f(x, digits: int = 4) -> str:
    return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{digits}f}"


def _ci(entry: dict, metric: str) -> str:
    ci = (entry.get("ci") or entry.get("ci95") or {}).get(metric)
    if isinstance(ci, dict):
        ci = [ci.get("low"), ci.get("high")]
    if not ci or len(ci) != 2 or None in ci:
        return ""
    return f" ({_f(ci[0], 3)}–{_f(ci[1], 3)})"


def _size(path: Path) -> str:
    return f"{path.stat().st_size / 1e6:.2f} MB" if path.is_file() else "–"


def render_card(name: str, ev: Evidence, export: dict | None = None, export_dir: str | Path | None = None,
                version: str | None = None) -> str:
    """Markdown card for ``name`` (version ``version`` once known)."""
    title = f"# Model card: {name}" + (f" v{version}" if version else "")
    m = ev.metrics or {"srcc": ev.srcc, "plcc": ev.plcc, "krcc": ev.krcc}
    lines = [title, "",
             f"{SUMMARY} Architecture `{ev.model_arch or 'unknown'}`; profile `{ev.profile}`; "
             f"git commit `{ev.git_commit}`.", "",
             "## Data", "",
             f"- Evaluation split: `{ev.split}` ({ev.n} images)",
             f"- Dataset manifest sha256: `{ev.dataset_sha256}`",
             f"- Data validation: {({True: 'passed', False: 'FAILED', None: 'not recorded'})[ev.validation_passed]}",
             "", "## Metrics", "",
             "Correlations with MOS on the evaluation split; 95 % bootstrap intervals in brackets. Lower-is-better "
             "baselines are negated first, so every row reads higher = better.", "",
             "| scorer | SRCC | PLCC | KRCC |", "|---|---|---|---|",
             f"| **this model** | {_f(m.get('srcc'))}{_ci(m, 'srcc')} | {_f(m.get('plcc'))}{_ci(m, 'plcc')} | "
             f"{_f(m.get('krcc'))}{_ci(m, 'krcc')} |"]
    for b, r in sorted(ev.baselines.items()):
        lines.append(f"| {b} | {_f(r.get('srcc'))}{_ci(r, 'srcc')} | {_f(r.get('plcc'))}{_ci(r, 'plcc')} | "
                     f"{_f(r.get('krcc'))}{_ci(r, 'krcc')} |")
    lines += ["", "## Compute", "", "| item | value |", "|---|---|",
              f"| latency at export | {_f(ev.latency_ms, 1)} ms on `{ev.latency_machine or '?'}` |",
              f"| shipped formats | {', '.join(ev.formats) or '–'} |"]
    if ev.int8_shipped:
        lines.append(f"| int8 drift vs fp32 | ΔSRCC {_f(ev.int8_delta_srcc)}, ΔPLCC {_f(ev.int8_delta_plcc)} |")
    for key in ("params_m", "gmacs", "opset", "parity_max_abs"):
        value = (export or {}).get(key)
        if isinstance(value, int | float):
            lines.append(f"| {key} | {value:g} |")
    if export_dir is not None:
        for key, file in ARTIFACT_FILES.items():
            if (Path(export_dir) / file).is_file():
                lines.append(f"| `{file}` ({key}) | {_size(Path(export_dir) / file)} |")
    lines += ["", "## Intended use", "", INTENDED_USE, "", "## Limitations", "", LIMITATIONS, ""]
    heads = ((export or {}).get("latency") or {}).get("explain_heads")
    if isinstance(heads, dict):
        cost, kernel = heads.get("cost_pct"), heads.get("kernel_pct")
        own = "" if kernel is None else f"; their own operators take {_f(kernel, 1)} % of the score's time"
        lines += ["## Explanations", "", EXPLANATIONS,
                  f"- The two heads add {_f(cost, 1)} % to the export-time latency (full graph vs score only{own}).",
                  ""]
    return "\n".join(lines)
