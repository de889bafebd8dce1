"""Typed params.yaml section for mobile export (formats, parity, int8 drift bound, latency probe); read through
mobileiqa.config. Each field is also an option of the export formats table (:mod:`mobileiqa.export.formats`),
so ``mobileiqa export --option NAME=VALUE`` and ``params.yaml`` set the same things."""

from __future__ import annotations

from dataclasses import dataclass, field

from mobileiqa.export.formats import check_formats, parse_size
from mobileiqa.preprocess import MIN_SIDE, PHOTO_HEIGHT, PHOTO_WIDTH

CALIBRATE_METHODS = ("minmax", "entropy", "percentile")


@dataclass(frozen=True)
class ExportConfig:
    """The `export` section of params.yaml."""

    formats: list[str] = field(default_factory=lambda: ["onnx", "ort", "int8"])
    # onnx
    opset: int = 17
    parity_atol: float = 1e-4  # max |torch - onnx| (and |onnx - ort|) on the parity images
    parity_sizes: list[str] = field(default_factory=lambda: ["224x160", "131x97", "333x250"])  # WxH
    # int8 (static QDQ, calibrated on train images, drift measured on the test split)
    int8_max_srcc_drop: float = 0.005  # ships only if |ΔSRCC| (int8 - fp32, test split) <= this
    calibration_images: int = 64  # train images fed to the calibrator (first N in manifest order)
    calibrate_method: str = "minmax"
    per_channel: bool = True
    drift_max_images: int = 0  # test images scored for drift; 0 = the whole split
    # latency probe recorded in export.json (ORT CPU, random input)
    latency_width: int = PHOTO_WIDTH
    latency_height: int = PHOTO_HEIGHT
    latency_threads: int = 1
    latency_repeats: int = 9  # the median of this many timed runs
    # explanation heads: ORT-profiled forwards of the full and the score-only graph, whose node kernel times give
    # the heads' own cost (steadier than the difference of two medians on a busy machine); 0 = no profile
    latency_profile_repeats: int = 3

    def __post_init__(self) -> None:
        check_formats(self.formats)
        if self.opset < 13:
            raise ValueError(f"export.opset must be >= 13, got {self.opset}")
        if not self.parity_atol > 0:
            raise ValueError(f"export.parity_atol must be > 0, got {self.parity_atol}")
        if len(self.parity_sizes) < 1:
            raise ValueError("export.parity_sizes must list at least one WxH size")
        for size in self.parity_sizes:
            parse_size(size, "export.parity_sizes")
        if self.int8_max_srcc_drop < 0:
            raise ValueError(f"export.int8_max_srcc_drop must be >= 0, got {self.int8_max_srcc_drop}")
        if self.calibrate_method not in CALIBRATE_METHODS:
            raise ValueError(f"export.calibrate_method must be one of {CALIBRATE_METHODS}, "
                             f"got {self.calibrate_method!r}")
        for name in ("calibration_images", "latency_threads", "latency_repeats"):
            if getattr(self, name) < 1:
                raise ValueError(f"export.{name} must be >= 1, got {getattr(self, name)}")
        if self.latency_profile_repeats < 0:
            raise ValueError(f"export.latency_profile_repeats must be >= 0 (0 = no profile), "
                             f"got {self.latency_profile_repeats}")
        if self.drift_max_images < 0:
            raise ValueError(f"export.drift_max_images must be >= 0 (0 = whole split), got {self.drift_max_images}")
        if min(self.latency_width, self.latency_height) < MIN_SIDE:
            raise ValueError(f"export.latency_width/latency_height must be >= {MIN_SIDE} px (the models' minimum "
                             "input)")
