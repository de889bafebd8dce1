"""fp32 ONNX export with dynamic batch, height and width, and the torch-vs-ONNX parity check.

Exporter: the TorchScript-based ``torch.onnx.export(..., dynamo=False)`` at opset 17, one self-contained file.
Its symbolic for ``adaptive_avg_pool2d`` refuses dynamic input sizes, and the dynamo exporter (torch 2.14's
default) took ~70 s on the tiny student here and failed at batch 2 (a batch-1 specialisation). So before export
each LDA block is swapped for :class:`ExportableLDA`, which computes PyTorch's adaptive average pooling exactly
(bins ``[floor(i*N/G), ceil((i+1)*N/G))``) as two small pooling matrices built from the runtime shape:
``P_h @ x @ P_w^T`` — plain Range/Mul/Div/MatMul ops that every ONNX runtime (mobile builds included) has.
The swap changes no weights and gives identical torch outputs; parity with the original model is checked on
images of several sizes (some not divisible by 32 or by the LDA grid) — see :func:`parity`.

A model with explanation heads (:mod:`mobileiqa.models.explain`) exports through :class:`ExplainedNet`: the graph
has the outputs ``score``, ``quality_map`` ``(B, G, G)`` and ``spread`` ``(B,)`` (metadata key
``mobileiqa.outputs``), and parity covers every output. A model without heads exports exactly as before: one
output, ``score``.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from mobileiqa.atomic import atomic_path
from mobileiqa.export.metadata import ExplainOutputs, ExportMetadata, embed
from mobileiqa.export.runtime import (  # noqa: F401 (output_names, run, run_all, session: re-exported)
    INPUT,
    OUTPUT,
    QUALITY_MAP,
    SPREAD,
    output_names,
    run,
    run_all,
    session,
)
from mobileiqa.models.iqa_net import IQANet
from mobileiqa.models.lda import LDA

EXPORTER = "torchscript (torch.onnx.export dynamo=False) with LDA adaptive pooling as shape-built pooling matrices"


def pooling_matrix(n, grid: int, like: Tensor) -> Tensor:
    """``(grid, n)`` matrix averaging each of ``grid`` adaptive bins over ``n`` positions (PyTorch's bins)."""
    i = torch.arange(grid, device=like.device)
    start = torch.div(i * n, grid, rounding_mode="floor")
    end = torch.div((i + 1) * n + grid - 1, grid, rounding_mode="floor")
    j = torch.arange(n, device=like.device)
    inside = (j[None, :] >= start[:, None]) & (j[None, :] < end[:, None])
    return inside.to(like.dtype) / (end - start).to(like.dtype)[:, None]


def adaptive_avg_pool(x: Tensor, grid: int) -> Tensor:
    """``F.adaptive_avg_pool2d(x, grid)`` for ``(B, C, H, W)`` that exports with dynamic H and W."""
    ph = pooling_matrix(x.shape[-2], grid, x)
    pw = pooling_matrix(x.shape[-1], grid, x)
    return torch.matmul(torch.matmul(ph, x), pw.transpose(0, 1))


class ExportableLDA(nn.Module):
    """An :class:`~mobileiqa.models.lda.LDA` block (same parameters) with exportable adaptive pooling."""

    def __init__(self, lda: LDA) -> None:
        super().__init__()
        self.expand, self.reduce, self.grid, self.pool_first = lda.expand, lda.reduce, lda.grid, lda.pool_first

    def forward(self, x: Tensor) -> Tensor:
        if self.pool_first:
            return self.reduce(F.gelu(self.expand(adaptive_avg_pool(x, self.grid))))
        return self.reduce(adaptive_avg_pool(F.gelu(self.expand(x)), self.grid))


def exportable(model: IQANet) -> IQANet:
    """A deep copy of ``model`` in eval mode with every LDA block swapped for :class:`ExportableLDA` and the
    explanation heads' pooling for :func:`adaptive_avg_pool`."""
    out = copy.deepcopy(model).eval()
    for k, block in enumerate(out.lda):
        if not isinstance(block, LDA):
            raise TypeError(f"lda[{k}] is {type(block).__name__}, expected LDA; extend mobileiqa.export.onnx")
        out.lda[k] = ExportableLDA(block)
    if out.explain_heads is not None:
        out.explain_heads.pool = adaptive_avg_pool
    return out


class ExplainedNet(nn.Module):
    """``x -> (score, quality_map, spread)``: the graph of a model with explanation heads."""

    def __init__(self, net: IQANet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        e = self.net.explain(x)
        return e.score, e.quality_map, e.spread


def explain_outputs(model: IQANet) -> ExplainOutputs | None:
    """What ``model``'s explanation heads add to an exported file (``None`` without heads)."""
    if model.explain_heads is None:
        return None
    return ExplainOutputs(grid=model.config.grid, heads=model.explain_heads.config.to_dict())


def export_onnx(model: IQANet, path: str | os.PathLike, meta: ExportMetadata, opset: int = 17,
                example_size: tuple[int, int] = (224, 160)) -> Path:
    """Export ``model`` (input ``image`` ``(B, 3, H, W)`` float32, output ``score`` ``(B,)``; with explanation
    heads also ``quality_map`` ``(B, G, G)`` and ``spread`` ``(B,)``) with ``meta`` embedded; written atomically
    to ``path``. The outputs ``meta`` declares are the model's (:func:`explain_outputs`): a ``meta`` declaring
    other ones is an error."""
    import onnx

    explain = explain_outputs(model)
    if meta.explain is not None and meta.explain != explain:
        raise ValueError(f"the metadata declares explanation outputs {meta.explain} but the model has "
                         f"{explain or 'no explanation heads'}")
    meta = dataclasses.replace(meta, explain=explain)
    w, h = example_size
    example = torch.zeros(2, 3, h, w)
    net = exportable(model) if explain is None else ExplainedNet(exportable(model)).eval()
    names = list(meta.outputs)
    path = Path(path)
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about Python-side shape checks (constant in the graph)
        onnx_path = tmp.with_suffix(".onnx")
        try:
            with torch.no_grad():
                torch.onnx.export(net, (example,), str(onnx_path), dynamo=False, opset_version=opset,
                                  input_names=[INPUT], output_names=names, do_constant_folding=True,
                                  dynamic_axes={INPUT: {0: "batch", 2: "height", 3: "width"},
                                                **{n: {0: "batch"} for n in names}})
            proto = onnx.load(str(onnx_path))
        finally:
            onnx_path.unlink(missing_ok=True)
        embed(proto, meta)
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))
    return path


def parity_inputs(sizes, batch: int = 2, seed: int = 0) -> list[np.ndarray]:
    """Deterministic normalised-range inputs ``(batch, 3, H, W)``, one per ``(W, H)`` size."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((batch, 3, h, w)).astype(np.float32) for w, h in sizes]


def _named(value) -> dict[str, np.ndarray]:
    """A scorer's answer as ``{output name: float64 array}`` (a bare array is the ``score``)."""
    if isinstance(value, dict):
        return {k: np.asarray(v, np.float64) for k, v in value.items()}
    return {OUTPUT: np.asarray(value, np.float64)}


def parity(reference, candidate, inputs, atol: float) -> dict:
    """Compare two scorers on ``inputs``: each maps ``np (B,3,H,W)`` to the scores ``np (B,)`` or to every output
    by name (:func:`~mobileiqa.export.runtime.run_all`); the max abs difference per size over every output (with
    several outputs, also per output: ``outputs``). Both must give the same outputs."""
    rows, worst_by_name = [], {}
    for x in inputs:
        a = _named(reference(x))
        try:
            b = _named(candidate(x))
        except Exception as exc:  # onnxruntime's Fail / RuntimeException
            raise ValueError(
                f"the exported graph does not run at {x.shape[3]}x{x.shape[2]} ({str(exc).splitlines()[0][:300]}): "
                "a shape computed in Python was frozen at the traced size (timm's MobileViT does this to its patch "
                "grid, so the MobileViT teachers export for one input size only); export the student, or set "
                "export.parity_sizes to the one size you will run") from None
        if sorted(a) != sorted(b):
            raise ValueError(f"the outputs differ: {sorted(b)} where the reference has {sorted(a)}")
        diffs = {k: float(np.max(np.abs(a[k] - b[k].reshape(a[k].shape)))) for k in a}
        row = {"size": f"{x.shape[3]}x{x.shape[2]}", "batch": int(x.shape[0]), "max_abs_diff": max(diffs.values())}
        if len(diffs) > 1:
            row["outputs"] = diffs
        rows.append(row)
        for k, d in diffs.items():
            worst_by_name[k] = max(worst_by_name.get(k, 0.0), d)
    worst = max(r["max_abs_diff"] for r in rows)
    out = {"atol": atol, "max_abs_diff": worst, "passed": bool(worst <= atol), "sizes": rows}
    if len(worst_by_name) > 1:
        out["outputs"] = worst_by_name
    return out


def torch_scorer(model: IQANet):
    """``np (B,3,H,W)`` → the scores, or with explanation heads every output by name (as :func:`run_all`)."""
    def score(x: np.ndarray):
        with torch.no_grad():
            if getattr(model, "explain_heads", None) is None:
                return model(torch.from_numpy(x)).numpy()
            e = model.explain(torch.from_numpy(x))
            return {OUTPUT: e.score.numpy(), QUALITY_MAP: e.quality_map.numpy(), SPREAD: e.spread.numpy()}
    return score
