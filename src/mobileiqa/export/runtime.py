"""onnxruntime CPU sessions on exported files and one scoring call; imports no torch (cheap in a fresh process,
e.g. :func:`mobileiqa.export.latency.measure_isolated`'s child). :mod:`mobileiqa.export.onnx` re-exports these."""

from __future__ import annotations

import os

import numpy as np

INPUT, OUTPUT = "image", "score"


def session(path: str | os.PathLike, threads: int = 1, optimize: bool = True):
    """An onnxruntime CPU session on an ``.onnx`` or ``.ort`` file."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    if not optimize:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def run(sess, x: np.ndarray) -> np.ndarray:
    return np.asarray(sess.run([OUTPUT], {INPUT: np.ascontiguousarray(x, dtype=np.float32)})[0]).reshape(-1)
