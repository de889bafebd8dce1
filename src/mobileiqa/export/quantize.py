"""Static int8 quantisation (QDQ) calibrated on training images, its accuracy drift, and the shipping gate.

* :func:`quantize_int8` — ``onnxruntime.quantization.quantize_static`` in QDQ format (int8 weights, per channel by
  default; uint8 activations), calibrated on the first ``calibration_images`` images of the manifest's
  ``train`` split, preprocessed exactly as predict does (the model's resolution policy).
* :func:`drift` — ΔSRCC / ΔPLCC (int8 minus fp32, against MOS) on the ``test`` split.
* :func:`int8_gate` — int8 ships only when ``|ΔSRCC| <= export.int8_max_srcc_drop``; otherwise the reason is
  recorded and the int8 files are not shipped.
* :func:`explain_drift` — for a model with explanation heads: how far the int8 file's ``quality_map`` and
  ``spread`` lie from the fp32 file's on the same test images. The int8 file carries every output of the fp32 file
  (the heads are quantised with the rest of the graph, QDQ, calibrated on the same images); their drift is
  recorded beside the score's, and only the score's drift gates shipping.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from mobileiqa.atomic import atomic_path
from mobileiqa.data.images import prepare_image
from mobileiqa.data.manifest import PreparedDataset, read_manifest, split_rows
from mobileiqa.eval.metrics import plcc, srcc
from mobileiqa.export.metadata import read_metadata
from mobileiqa.preprocess import IMAGENET, Normalisation, ResolutionPolicy

METHODS = {"minmax": "MinMax", "entropy": "Entropy", "percentile": "Percentile"}


def split_files(dataset_dir: str | os.PathLike, split: str, limit: int = 0) -> tuple[list[Path], np.ndarray]:
    """Image files and MOS of one manifest split, in manifest order (first ``limit`` when > 0)."""
    dataset = PreparedDataset.load(dataset_dir)
    frame = read_manifest(dataset.manifest)
    rows = split_rows(frame, split, dataset.manifest, "int8 calibration needs 'train' and drift needs 'test'")
    if limit:
        rows = rows.iloc[:limit]
    return [dataset.root / p for p in rows["path"]], rows["mos"].to_numpy(np.float64)


class ImageCalibrationReader:
    """An onnxruntime ``CalibrationDataReader`` over image files, one preprocessed image per step."""

    def __init__(self, files: Sequence[Path], policy: ResolutionPolicy, input_name: str = "image",
                 norm: Normalisation = IMAGENET) -> None:
        self.files, self.policy, self.input_name, self.norm = list(files), policy, input_name, norm
        self._it: Iterator[Path] | None = None
        self._bar = None

    def get_next(self) -> dict | None:
        if self._it is None:
            self._it = iter(self.files)
            self._bar = tqdm(total=len(self.files), desc="int8 calibration", unit="img", leave=False)
        for path in self._it:
            self._bar.update(1)
            return {self.input_name: prepare_image(path, self.policy, norm=self.norm)[None]}
        self._bar.close()
        return None

    def rewind(self) -> None:
        self._it = None


def quantize_int8(onnx_path: str | os.PathLike, out_path: str | os.PathLike, files: Sequence[Path],
                  policy: ResolutionPolicy, per_channel: bool = True, method: str = "minmax") -> Path:
    """Write a static QDQ int8 copy of ``onnx_path`` (metadata kept) calibrated on ``files``, normalised the way
    the file's metadata says."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    norm = read_metadata(onnx_path).normalisation
    if not files:
        raise ValueError("int8 calibration needs at least one training image")
    out_path = Path(out_path)
    with atomic_path(out_path) as tmp:
        target = tmp.with_suffix(".onnx")
        try:
            quantize_static(str(onnx_path), str(target), ImageCalibrationReader(files, policy, norm=norm),
                            quant_format=QuantFormat.QDQ, per_channel=per_channel, activation_type=QuantType.QUInt8,
                            weight_type=QuantType.QInt8, calibrate_method=getattr(CalibrationMethod, METHODS[method]))
            proto = onnx.load(str(target))
        finally:
            target.unlink(missing_ok=True)
        src = onnx.load(str(onnx_path), load_external_data=False)
        del proto.metadata_props[:]
        proto.metadata_props.extend(src.metadata_props)
        proto.doc_string = src.doc_string + " [int8 QDQ]"
        onnx.save(proto, str(tmp))
    return out_path


def score_files(scorer: Callable[[np.ndarray], np.ndarray], files: Sequence[Path], policy: ResolutionPolicy,
                desc: str, norm: Normalisation = IMAGENET) -> np.ndarray:
    return np.asarray([float(scorer(prepare_image(f, policy, norm=norm)[None])[0])
                       for f in tqdm(files, desc=desc, unit="img", leave=False)])


def output_files(runner: Callable[[np.ndarray], dict], files: Sequence[Path], policy: ResolutionPolicy, desc: str,
                 norm: Normalisation = IMAGENET) -> dict[str, np.ndarray]:
    """Every output of ``runner`` (``np (1,3,H,W)`` → ``{name: array}``, as
    :func:`~mobileiqa.export.runtime.run_all`) for each file, stacked per output name."""
    rows = [runner(prepare_image(f, policy, norm=norm)[None]) for f in tqdm(files, desc=desc, unit="img", leave=False)]
    return {k: np.concatenate([np.asarray(r[k], np.float64) for r in rows]) for k in (rows[0] if rows else {})}


def explain_drift(fp32: dict[str, np.ndarray], int8: dict[str, np.ndarray]) -> dict:
    """Mean and max abs difference (int8 vs fp32) of ``quality_map`` (over every cell) and ``spread``, and the
    mean per-image Pearson correlation of the two maps (``None`` where a map is constant)."""
    out = {}
    for name in ("quality_map", "spread"):
        diff = np.abs(fp32[name] - int8[name])
        out[f"{name}_mean_abs_diff"] = float(diff.mean()) if diff.size else None
        out[f"{name}_max_abs_diff"] = float(diff.max()) if diff.size else None
    corr = []
    for a, b in zip(fp32["quality_map"], int8["quality_map"], strict=True):
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            r = np.corrcoef(a.ravel(), b.ravel())[0, 1]
        if math.isfinite(r):
            corr.append(r)
    out["quality_map_mean_pearson"] = float(np.mean(corr)) if corr else None
    return out


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def drift(fp32: np.ndarray, int8: np.ndarray, mos: np.ndarray) -> dict:
    """SRCC/PLCC of both against MOS and their differences (int8 - fp32); ``None`` where undefined (constant)."""
    out = {"n": len(mos)}
    for name, fn in (("srcc", srcc), ("plcc", plcc)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            a, b = _finite(fn(fp32, mos)), _finite(fn(int8, mos))
        out[f"{name}_fp32"], out[f"{name}_int8"] = a, b
        out[f"delta_{name}"] = None if a is None or b is None else b - a
    out["max_abs_score_diff"] = float(np.max(np.abs(fp32 - int8))) if len(mos) else None
    return out


def int8_gate(drift_result: dict, max_srcc_drop: float) -> tuple[bool, str | None]:
    """``(ships, reason it does not)``: ships only when ``|ΔSRCC| <= max_srcc_drop``."""
    delta = drift_result.get("delta_srcc")
    if delta is None:
        return False, ("ΔSRCC is undefined (fp32 or int8 scores are constant on the test split, or too few "
                       "images); int8 cannot be validated")
    if abs(delta) > max_srcc_drop:
        return False, (f"|ΔSRCC| = {abs(delta):.4f} on {drift_result.get('n')} test images exceeds "
                       f"export.int8_max_srcc_drop = {max_srcc_drop:g}")
    return True, None
