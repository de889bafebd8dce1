"""The export front door, :func:`export_model`: a checkpoint (or a registered name) to any formats of
:mod:`mobileiqa.export.formats`, with parity, mobile and int8 drift checks and a latency probe.

Writes under ``out_dir``: ``model.onnx`` (fp32, metadata embedded), ``model.ort`` with
``model.required_operators.config`` and ``mobile_check.txt``, ``model.int8.onnx`` / ``model.int8.ort`` only when
int8 ships, and ``export.json``: parity numbers, mobile check, int8 drift (ΔSRCC/ΔPLCC on the test split), the
shipped formats and the reasons int8 was dropped, latency with the machine name. Files are built in a staging
folder inside ``out_dir`` and moved in at the end (``export.json`` last), so a failed export leaves no
half-made set; a parity failure (fp32 ONNX beyond ``export.parity_atol``) fails the export.

A checkpoint with explanation heads exports the outputs ``quality_map`` and ``spread`` beside ``score`` in every
file (fp32, ``.ort`` and int8; declared under ``mobileiqa.outputs``); parity covers every output, int8's drift
report adds the heads' drift (:func:`~mobileiqa.export.quantize.explain_drift`, recorded, not gating), and
``latency.explain_heads`` records what the heads cost: the full graph against the graph pruned to ``score``
(:func:`~mobileiqa.export.latency.measure_cost`), at the latency probe's size.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from mobileiqa.atomic import file_digest, write_json, write_text
from mobileiqa.data.manifest import PreparedDataset
from mobileiqa.environment import git_commit
from mobileiqa.export import onnx as onnx_export
from mobileiqa.export import ort_mobile, quantize
from mobileiqa.export.formats import FORMATS, parse_size, resolve
from mobileiqa.export.latency import measure, measure_cost
from mobileiqa.export.metadata import ExportMetadata, read_metadata
from mobileiqa.export.prune import prune_outputs
from mobileiqa.export.runtime import OUTPUT
from mobileiqa.models import create_model, list_models
from mobileiqa.models.checkpoint import load_model
from mobileiqa.preprocess import ResolutionPolicy

ONNX_FILE, ORT_FILE, INT8_FILE, INT8_ORT_FILE = "model.onnx", "model.ort", "model.int8.onnx", "model.int8.ort"
OPS_CONFIG, INT8_OPS_CONFIG, MOBILE_REPORT = ("model.required_operators.config", "model.int8.required_operators.config",
                                              "mobile_check.txt")


class ExportError(RuntimeError):
    """The export produced a file that fails its parity check; nothing is shipped."""


def load_source(model: str | os.PathLike):
    """``(model, name, checkpoint meta, version)`` from a ``.pt`` checkpoint or a registered name (random init)."""
    text = os.fspath(model)
    if text in list_models():
        return create_model(text).eval(), text, {}, "random-init"
    path = Path(text)
    if path.suffix != ".pt":
        raise ValueError(f"{path}: export takes a mobileiqa checkpoint (.pt) or a registered model name "
                         f"({', '.join(list_models())})")
    net, ckpt = load_model(path)
    return net, ckpt["model"], ckpt.get("meta") or {}, file_digest(path)[:16]


def build_metadata(name: str, net, meta: dict, version: str, dataset_dir: str | os.PathLike | None):
    policy = ResolutionPolicy(**meta["resolution"]) if isinstance(meta.get("resolution"), dict) else ResolutionPolicy()
    dataset = {"manifest_sha256": meta.get("dataset_sha256"), "source": "checkpoint"}
    if dataset_dir is not None:
        export_sha = PreparedDataset.load(dataset_dir).manifest_sha256
        if dataset["manifest_sha256"] is None:
            dataset = {"manifest_sha256": export_sha, "source": "export-dataset"}
        elif export_sha != dataset["manifest_sha256"]:
            dataset["export_dataset_sha256"] = export_sha  # drift was measured on another manifest: say so
    return ExportMetadata(model=name, version=version, scale=net.scale, policy=policy,
                          git_commit={"export": git_commit(), "train": meta.get("git_commit")}, dataset=dataset,
                          head=net.config.to_dict(), normalisation=net.normalisation,
                          explain=onnx_export.explain_outputs(net))


def export_model(model: str | os.PathLike, out_dir: str | os.PathLike, cfg,
                 dataset_dir: str | os.PathLike | None = None, formats=None, options: dict | None = None) -> dict:
    """Export ``model`` (checkpoint path or registered name) to the requested formats; returns the report
    (also written as ``out_dir/export.json``). ``formats``/``options`` override ``cfg`` (validated by the table)."""
    t0 = time.perf_counter()
    formats, cfg = resolve(formats, options, cfg)
    if "int8" in formats and dataset_dir is None:
        raise ValueError("format 'int8' needs a prepared dataset (--data DIR): train images calibrate it and the "
                         "test split measures its drift; or drop int8 from --formats")
    net, name, meta, version = load_source(model)
    metadata = build_metadata(name, net, meta, version, dataset_dir)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report: dict = {"model": name, "version": version, "source": os.fspath(model), "exporter": onnx_export.EXPORTER,
                    "opset": cfg.opset, "formats_requested": list(formats), "metadata": metadata.to_dict()}
    shipped: list[str] = []
    stage = Path(tempfile.mkdtemp(prefix=".export-", dir=out_dir))
    try:
        # fp32 ONNX + parity against torch
        onnx_path = onnx_export.export_onnx(net, stage / ONNX_FILE, metadata, opset=cfg.opset)
        sizes = [parse_size(s, "export.parity_sizes") for s in cfg.parity_sizes]
        inputs = onnx_export.parity_inputs(sizes)
        fp32 = onnx_export.session(onnx_path)
        onnx_scorer = lambda x: onnx_export.run_all(fp32, x)  # noqa: E731 (every output: parity covers them all)
        report["parity"] = {"onnx": onnx_export.parity(onnx_export.torch_scorer(net), onnx_scorer, inputs,
                                                       cfg.parity_atol)}
        if not report["parity"]["onnx"]["passed"]:
            raise ExportError(f"{name}: ONNX differs from PyTorch by {report['parity']['onnx']['max_abs_diff']:.3g} "
                              f"> export.parity_atol {cfg.parity_atol:g} ({report['parity']['onnx']['sizes']})")
        shipped.append("onnx")

        if "ort" in formats:
            ort_path, ops, log = ort_mobile.convert_to_ort(onnx_path, stage)
            ort_sess = onnx_export.session(ort_path)
            ort_parity = onnx_export.parity(onnx_scorer, lambda x: onnx_export.run_all(ort_sess, x), inputs,
                                            cfg.parity_atol)
            report["parity"]["ort"] = ort_parity
            report["mobile"] = ort_mobile.mobile_check(ort_path, ops, ort_parity)
            write_text(stage / MOBILE_REPORT, ort_mobile.usability_report(onnx_path) + "\n# ORT conversion\n" + log)
            report["mobile"]["report"] = MOBILE_REPORT
            if report["mobile"]["passed"]:
                shipped.append("ort")

        if "int8" in formats:
            report["int8"] = _int8(onnx_path, stage, fp32, metadata.policy, dataset_dir, cfg)
            if report["int8"]["shipped"]:
                shipped.append("int8")

        report["latency"] = measure(onnx_path, cfg.latency_width, cfg.latency_height, cfg.latency_threads,
                                    cfg.latency_repeats) | {"format": "onnx"}
        if "int8" in shipped:
            lat8 = measure(stage / INT8_FILE, cfg.latency_width, cfg.latency_height, cfg.latency_threads,
                           cfg.latency_repeats)
            report["latency"].update(int8_ms=lat8["ms"], int8_speedup=round(report["latency"]["seconds"]
                                                                            / lat8["seconds"], 3))
        if metadata.explain is not None:
            report["latency"]["explain_heads"] = _heads_cost(onnx_path, stage, cfg)
        report["shipped"] = shipped
        report["files"] = _ship(stage, out_dir, shipped)
        report["seconds"] = round(time.perf_counter() - t0, 1)
        write_json(out_dir / "export.json", report)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return report


def _int8(onnx_path: Path, stage: Path, fp32, policy, dataset_dir, cfg) -> dict:
    calib, _ = quantize.split_files(dataset_dir, "train", cfg.calibration_images)
    int8_path = quantize.quantize_int8(onnx_path, stage / INT8_FILE, calib, policy, cfg.per_channel,
                                       cfg.calibrate_method)
    test, mos = quantize.split_files(dataset_dir, "test", cfg.drift_max_images)
    int8_sess = onnx_export.session(int8_path)
    norm = read_metadata(onnx_path).normalisation
    a = quantize.output_files(lambda x: onnx_export.run_all(fp32, x), test, policy, "drift fp32", norm)
    b = quantize.output_files(lambda x: onnx_export.run_all(int8_sess, x), test, policy, "drift int8", norm)
    drift = quantize.drift(a[OUTPUT], b[OUTPUT], mos) | {"split": "test"}
    if len(a) > 1:  # explanation heads: recorded beside the score's drift, which alone gates
        drift["explain"] = quantize.explain_drift(a, b)
    ships, reason = quantize.int8_gate(drift, cfg.int8_max_srcc_drop)
    out = {"shipped": ships, "reason": reason, "drift": drift, "max_srcc_drop": cfg.int8_max_srcc_drop,
           "calibration": {"split": "train", "images": len(calib), "method": cfg.calibrate_method,
                           "per_channel": cfg.per_channel}, "format": "QDQ (int8 weights, uint8 activations)"}
    if ships:
        ort8, ops8, _ = ort_mobile.convert_to_ort(int8_path, stage)
        ort8_sess = onnx_export.session(ort8)
        inputs = onnx_export.parity_inputs([(224, 160)], batch=1)
        out["ort_parity"] = onnx_export.parity(lambda x: onnx_export.run_all(int8_sess, x),
                                               lambda x: onnx_export.run_all(ort8_sess, x), inputs, cfg.parity_atol)
        out["mobile"] = ort_mobile.mobile_check(ort8, ops8, out["ort_parity"])
    return out


def _heads_cost(onnx_path: Path, stage: Path, cfg) -> dict:
    """The explanation heads' latency: the shipped graph against a copy pruned to ``score`` (not shipped)."""
    score_only = prune_outputs(onnx_path, stage / "score_only.onnx", keep=(OUTPUT,))
    try:
        cost = measure_cost(onnx_path, score_only, cfg.latency_width, cfg.latency_height, cfg.latency_threads,
                            cfg.latency_repeats, cfg.latency_profile_repeats)
    finally:
        score_only.unlink(missing_ok=True)
    return {"ms_with_heads": cost["ms_full"], "ms_score_only": cost["ms_reduced"], "cost_ms": cost["cost_ms"],
            "cost_pct": cost["cost_pct"], "min_ms_with_heads": cost["min_ms_full"],
            "min_ms_score_only": cost["min_ms_reduced"], "width": cost["width"], "height": cost["height"],
            "threads": cost["threads"], "repeats": cost["repeats"], "machine": cost["machine"],
            **{k: cost[k] for k in ("kernel_ms", "kernel_pct", "kernel_ops") if k in cost},
            "method": "onnxruntime CPU, fp32 .onnx: the full graph vs the graph pruned to score, medians of "
                      "interleaved runs; cost_pct is of the score-only latency; kernel_ms (with "
                      "latency_profile_repeats > 0): ORT-profiled kernel time of the nodes the pruned graph lacks, "
                      "layout conversions left out; kernel_pct is of the score-only latency"}


def _ship(stage: Path, out_dir: Path, shipped: list[str]) -> dict[str, str]:
    """Move the shipped files from ``stage`` into ``out_dir``; remove stale files of formats not shipped."""
    files = {"onnx": [ONNX_FILE], "ort": [ORT_FILE, OPS_CONFIG, MOBILE_REPORT],
             "int8": [INT8_FILE, INT8_ORT_FILE, INT8_OPS_CONFIG]}
    out = {}
    for fmt in FORMATS:
        for name in files.get(fmt, []):
            if fmt in shipped and (stage / name).is_file():
                os.replace(stage / name, out_dir / name)
                out[name] = fmt
            elif fmt not in shipped:
                (out_dir / name).unlink(missing_ok=True)
    if (stage / MOBILE_REPORT).is_file():  # the report is kept even when the mobile check failed
        os.replace(stage / MOBILE_REPORT, out_dir / MOBILE_REPORT)
        out[MOBILE_REPORT] = "ort"
    return out
