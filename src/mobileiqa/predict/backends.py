"""The two ways a :class:`~mobileiqa.predict.Predictor` runs a model: PyTorch for ``.pt`` checkpoints, onnxruntime
for ``.onnx`` / ``.ort`` files; and which file of a downloaded registry version to load."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mobileiqa.export.runtime import run, session

MODEL_SUFFIXES = (".pt", ".onnx", ".ort")


class TorchBackend:
    """A mobileiqa checkpoint's model, run by PyTorch (eval mode, no gradients)."""

    name = "torch"

    def __init__(self, model) -> None:
        self.model = model.eval()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        import torch  # lazy: torch only for .pt checkpoints; the ONNX path runs without it

        with torch.no_grad():
            return self.model(torch.from_numpy(x)).numpy()


class OrtBackend:
    """An ``.onnx`` / ``.ort`` file, run by onnxruntime."""

    def __init__(self, path: Path, threads: int | None) -> None:
        self.name = "ort" if path.suffix == ".ort" else "onnx"
        self.session = session(path, threads=threads or 0)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return run(self.session, x)


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
