"""ORT format for onnxruntime mobile: conversion, the mobile usability report and the mobile check.

:func:`convert_to_ort` runs onnxruntime's converter (``convert_onnx_models_to_ort``, optimisation style
``Fixed``, level ``all``) and keeps beside the ``.ort`` file the ``.required_operators.config`` it writes: the
operator list a reduced onnxruntime mobile build needs (``--include_ops_by_config``).

:func:`mobile_check` decides "passes": the ``.ort`` file loads, its scores match the ONNX file within the parity
tolerance, and every operator it uses is in a domain that onnxruntime's mobile builds ship kernels for
(``ai.onnx`` and ``com.microsoft``; a hardware-specific domain such as ``com.microsoft.nchwc`` fails). The text
report of onnxruntime's usability checker (``check_onnx_model_mobile_usability``: NNAPI / Core ML partitioning,
dynamic shapes) is kept as ``mobile_check.txt``; it is advice and does not gate.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import tempfile
from pathlib import Path

MOBILE_DOMAINS = ("ai.onnx", "com.microsoft")


def convert_to_ort(onnx_path: str | os.PathLike, out_dir: str | os.PathLike) -> tuple[Path, Path, str]:
    """Convert ``onnx_path`` to ``out_dir/<stem>.ort``; returns ``(ort path, operators config path, log)``."""
    from onnxruntime.tools.convert_onnx_models_to_ort import OptimizationStyle, convert_onnx_models_to_ort

    onnx_path, out_dir = Path(onnx_path), Path(out_dir)
    stem = onnx_path.name.removesuffix(".onnx")
    log = io.StringIO()
    with tempfile.TemporaryDirectory(prefix="mobileiqa-ort-") as tmp:
        src = Path(tmp) / "in" / onnx_path.name  # alone in its folder: the converter walks the model's folder
        src.parent.mkdir()
        shutil.copyfile(onnx_path, src)
        with contextlib.redirect_stdout(log):
            convert_onnx_models_to_ort(src, Path(tmp) / "out", [OptimizationStyle.Fixed])
        made = Path(tmp) / "out" / f"{stem}.ort"
        configs = sorted((Path(tmp) / "out").glob("*.config"))
        if not made.is_file() or not configs:
            raise RuntimeError(f"ORT conversion of {onnx_path} produced no .ort file or operator config:\n"
                               f"{log.getvalue()[-2000:]}")
        out_dir.mkdir(parents=True, exist_ok=True)
        ort_path, config_path = out_dir / made.name, out_dir / f"{stem}.required_operators.config"
        shutil.move(made, ort_path)
        shutil.move(configs[0], config_path)
    return ort_path, config_path, log.getvalue()


def required_operators(config_path: str | os.PathLike) -> dict[str, list[str]]:
    """``{domain: [op, ...]}`` from a ``required_operators.config`` (lines ``domain;opset;Op1,Op2``)."""
    ops: dict[str, set[str]] = {}
    for line in Path(config_path).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        domain, _opset, names = [*line.split(";"), "", ""][:3]
        ops.setdefault(domain, set()).update(n.strip() for n in names.split(",") if n.strip())
    return {d: sorted(v) for d, v in sorted(ops.items())}


def usability_report(onnx_path: str | os.PathLike) -> str:
    """The text onnxruntime's mobile usability checker logs for ``onnx_path``."""
    from onnxruntime.tools.mobile_helpers import usability_checker

    stream = io.StringIO()
    logger = logging.getLogger(f"mobileiqa.usability.{id(stream)}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    logger.addHandler(handler)
    try:
        with contextlib.redirect_stdout(stream):
            try_eps = usability_checker.analyze_model(Path(onnx_path), skip_optimize=False, logger=logger)
        logger.info("NNAPI/CoreML may help: compare them with the CPU EP on device" if try_eps
                    else "Use the CPU EP for this model on mobile")
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def mobile_check(ort_path: str | os.PathLike, config_path: str | os.PathLike, parity_result: dict) -> dict:
    """Verdict of the mobile check (see the module docstring) from the ``.ort`` parity result and operator list."""
    ops = required_operators(config_path)
    foreign = sorted(d for d in ops if d not in MOBILE_DOMAINS)
    reasons = []
    if not parity_result.get("passed"):
        reasons.append(f".ort scores differ from ONNX by {parity_result.get('max_abs_diff')} "
                       f"> {parity_result.get('atol')}")
    if foreign:
        reasons.append(f"operators in domains outside the mobile build ({foreign}): "
                       + "; ".join(f"{d}: {','.join(ops[d])}" for d in foreign))
    return {"passed": not reasons, "loads": True, "parity": parity_result, "domains": sorted(ops),
            "operators": ops, "operator_count": sum(len(v) for v in ops.values()), "reasons": reasons,
            "ort_file": Path(ort_path).name, "operators_config": Path(config_path).name}
