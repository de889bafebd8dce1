"""The two ways a :class:`~mobileiqa.predict.Predictor` runs a model: PyTorch for ``.pt`` checkpoints, onnxruntime
for ``.onnx`` / ``.ort`` files; and which file of a downloaded registry version to load.

Each backend scores a batch (``backend(x) -> (B,)``); a backend whose model has explanation heads
(``backend.explains``) also gives every output (``backend.outputs(x) -> {"score", "quality_map", "spread"}``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mobileiqa.export.runtime import OUTPUT, QUALITY_MAP, SPREAD, output_names, run, run_all, session

MODEL_SUFFIXES = (".pt", ".onnx", ".ort")
EXPLAIN_OUTPUTS = (QUALITY_MAP, SPREAD)


class TorchBackend:
    """A mobileiqa checkpoint's model, run by PyTorch (eval mode, no gradients)."""

    name = "torch"

    def __init__(self, model) -> None:
        self.model = model.eval()
        self.explains = getattr(model, "explain_heads", None) is not None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        import torch  # lazy: torch only for .pt checkpoints; the ONNX path runs without it

        with torch.no_grad():
            return self.model(torch.from_numpy(x)).numpy()

    def outputs(self, x: np.ndarray) -> dict[str, np.ndarray]:
        import torch  # lazy: see __call__

        with torch.no_grad():
            e = self.model.explain(torch.from_numpy(x))
        return {OUTPUT: e.score.numpy(), QUALITY_MAP: e.quality_map.numpy(), SPREAD: e.spread.numpy()}


class OrtBackend:
    """An ``.onnx`` / ``.ort`` file, run by onnxruntime."""

    def __init__(self, path: Path, threads: int | None) -> None:
        self.name = "ort" if path.suffix == ".ort" else "onnx"
        self.session = session(path, threads=threads or 0)
        names = output_names(self.session)
        self.explains = all(n in names for n in EXPLAIN_OUTPUTS)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return run(self.session, x)

    def outputs(self, x: np.ndarray) -> dict[str, np.ndarray]:
        return run_all(self.session, x)


def pick_model_file(folder: Path, where: str = "") -> Path:
    """The fp32 ``.onnx`` file of a downloaded registry version (``model.onnx`` preferred; else any non-int8
    ``.onnx``; else ``.ort``)."""
    if folder.is_file():
        return folder
    found = sorted(p for p in folder.rglob("*") if p.suffix in (".onnx", ".ort") and p.is_file())
    for rank in (lambda p: p.name == "model.onnx", lambda p: p.suffix == ".onnx" and ".int8" not in p.name,
                 lambda p: p.suffix == ".ort" and ".int8" not in p.name, lambda p: True):
        hits = [p for p in found if rank(p)]
        if hits:
            return hits[0]
    raise FileNotFoundError(f"{where or folder}: the downloaded artifacts ({folder}) hold no .onnx/.ort file")
