"""Typed params.yaml sections of tracking: ``tracking`` (where MLflow runs go) and ``register`` (the registered
model's name, the promotion gates — absolute floors, metric margins, latency budget, data validation —, automatic
promotion and the promotion lock);
read through :mod:`mobileiqa.config`. The int8 drift bound has one home, ``export.int8_max_srcc_drop``, which
export, promotion and the ablation all read.
"""

from __future__ import annotations

from dataclasses import dataclass

SERVE_FORMATS = ("onnx", "ort", "int8")

#: the project's own store: sqlite + artifacts under mlruns/, both git-ignored
DEFAULT_URI = "sqlite:///mlflow.db"


@dataclass(frozen=True)
class TrackingConfig:
    """The ``tracking`` section: where MLflow runs go, and whether there are any."""

    enabled: bool = True
    experiment: str = "mobileiqa"
    uri: str | None = None  # None: $MLFLOW_TRACKING_URI, else the project's sqlite store
    system_metrics: bool = True


@dataclass(frozen=True)
class RegisterConfig:
    """The `register` section of params.yaml."""

    model_name: str = "mobileiqa-student"
    profile: str = "cpu"              # recorded as a tag on every version (overlays set their own)
    serve_format: str = "onnx"        # which shipped file the pyfunc scores with: onnx | ort | int8
    srcc_margin: float = 0.01         # challenger SRCC may trail the champion's by at most this much
    plcc_margin: float = 0.01         # same for PLCC
    latency_budget_ms: float = 1000.0  # export-time latency (export.latency_* size, 1 thread) must not exceed this
    require_validation: bool = True   # the data validation summary must report success
    lock_timeout_s: float = 120.0     # how long `promote` waits for a concurrent promotion to finish
    # absolute floors, checked also when there is no champion yet: a model below them is never champion
    min_srcc: float = 0.60            # SRCC on the evaluated split
    min_srcc_over_baselines: float = 0.10  # SRCC >= the best classic baseline's + this
    # `register` promotes the new version at once when every gate passes (dvc repro, KFP); off: it stays
    # @challenger until `mobileiqa promote`. `dvc exp run` never promotes (experiments are challengers).
    auto_promote: bool = True

    def __post_init__(self) -> None:
        if self.serve_format not in SERVE_FORMATS:
            raise ValueError(f"serve_format must be one of {SERVE_FORMATS}, got {self.serve_format!r}")
        for key in ("srcc_margin", "plcc_margin", "latency_budget_ms", "lock_timeout_s", "min_srcc_over_baselines"):
            if getattr(self, key) < 0:
                raise ValueError(f"{key} must be >= 0, got {getattr(self, key)}")
        if not self.model_name or "/" in self.model_name or "@" in self.model_name:
            raise ValueError(f"model_name must be a non-empty name without '/' or '@', got {self.model_name!r}")
