"""onnxruntime CPU sessions on exported files and the scoring calls; imports no torch (cheap in a fresh process,
e.g. :func:`mobileiqa.export.latency.measure_isolated`'s child). :mod:`mobileiqa.export.onnx` re-exports these.

Every exported file has the input ``image`` and the output ``score``; a model with explanation heads also has the
outputs ``quality_map`` ``(B, G, G)`` and ``spread`` ``(B,)`` (:mod:`mobileiqa.export.metadata`)."""

from __future__ import annotations

import os

import numpy as np

INPUT, OUTPUT = "image", "score"
QUALITY_MAP, SPREAD = "quality_map", "spread"  # the explanation heads' outputs


def session(path: str | os.PathLike, threads: int = 1, optimize: bool = True,
            profile_prefix: str | os.PathLike | None = None):
    """An onnxruntime CPU session on an ``.onnx`` or ``.ort`` file; ``profile_prefix``: with ORT's profiler on,
    its trace written to a file of that prefix when ``end_profiling()`` is called."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    if profile_prefix is not None:
        opts.enable_profiling = True
        opts.profile_file_prefix = os.fspath(profile_prefix)
    if not optimize:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def output_names(sess) -> list[str]:
    """The graph's output names, in graph order."""
    return [o.name for o in sess.get_outputs()]


def _feed(x: np.ndarray) -> dict:
    return {INPUT: np.ascontiguousarray(x, dtype=np.float32)}


def run(sess, x: np.ndarray) -> np.ndarray:
    """The scores ``(B,)`` of a batch ``x`` ``(B, 3, H, W)``."""
    return np.asarray(sess.run([OUTPUT], _feed(x))[0]).reshape(-1)


def run_all(sess, x: np.ndarray) -> dict[str, np.ndarray]:
    """Every output of the graph by name (``score`` flattened to ``(B,)``)."""
    names = output_names(sess)
    out = dict(zip(names, (np.asarray(v) for v in sess.run(names, _feed(x))), strict=True))
    out[OUTPUT] = out[OUTPUT].reshape(-1)
    return out
