"""Head training on cached frozen-backbone features: optional first phase for pretrained backbones (TRAINING.md).

With its backbone frozen (eval mode, so BatchNorm statistics stay the ImageNet ones) and a pool-first LDA
(``HeadConfig.lda_pool_first``), everything the head sees of an image is its stage maps average-pooled to the
grid. Those are computed once per training image and view (as is, and h-flipped when the recipe flips) and
once per validation image, stored as fp16 under the run's ``checkpoints/features/`` (keyed by the backbone's
tensors, the dataset, the resolution policy and the normalisation, so a rerun or ``--resume`` reads them back),
and the head — LDA, opinion MALs, fusion MAL, score head and the training-only extras — then trains for many
epochs at a few milliseconds per batch: :meth:`~mobileiqa.models.iqa_net.IQANet.head_features` on pooled maps is
exactly the model's function. Distillation caches the frozen teacher's LDA maps, opinion features and score
(computed from the teacher's own cached maps) the same way.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F
from tqdm import tqdm

from mobileiqa.models.checkpoint import atomic_torch_save
from mobileiqa.models.iqa_net import IQAFeatures, IQANet
from mobileiqa.train.data import ManifestImages, SizeBatchSampler

FEATURES_DIR = "features"


def check_cacheable(model: IQANet, name: str) -> None:
    if not model.config.lda_pool_first:
        raise ValueError(f"{name}: head_epochs > 0 trains the head on cached pooled backbone maps, which needs a "
                         "pool-first LDA (HeadConfig.lda_pool_first); pick such a model or set head_epochs: 0")


def backbone_digest(backbone: nn.Module) -> str:
    h = hashlib.sha256()
    for key, value in backbone.state_dict().items():
        h.update(key.encode())
        h.update(value.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


@dataclass
class CachedSplit:
    """One split's cached inputs of the head: ``maps[s]`` is ``(V, N, C_s, G, G)`` fp16 (view 0 as is, view 1
    h-flipped), plus the MOS; ``teacher`` (distillation) holds the frozen teacher's features per view."""

    maps: list[Tensor]
    mos: Tensor
    teacher: dict[str, Tensor] | None = None

    @property
    def views(self) -> int:
        return self.maps[0].shape[0]

    def __len__(self) -> int:
        return self.maps[0].shape[1]

    def batch(self, index: Tensor, view: Tensor) -> tuple[list[Tensor], Tensor, IQAFeatures | None]:
        view = view.clamp(max=self.views - 1)
        maps = [m[view, index].float() for m in self.maps]
        teacher = None
        if self.teacher is not None:
            t = {k: v[view.clamp(max=v.shape[0] - 1), index].float() for k, v in self.teacher.items()}
            # distillation matches LDA maps, opinions and score; the fused map is not cached (a same-shape stand-in)
            teacher = IQAFeatures(lda=t["lda"], opinions=t["opinions"], fused=t["opinions"][:, 0], score=t["score"])
        return maps, self.mos[index], teacher


@torch.no_grad()
def pooled_maps(model: IQANet, x: Tensor) -> list[Tensor]:
    grid = model.config.grid
    return [F.adaptive_avg_pool2d(m, grid) for m in model.backbone(x)]


@torch.no_grad()
def cache_split(model: IQANet, images: ManifestImages, views: int, folder: Path, tag: str, key: dict,
                batch_size: int, prepare, also: Sequence[Path] = ()) -> CachedSplit:
    """Pooled stage maps of every image of ``images`` in ``views`` views, read back from ``folder`` (or one of the
    ``also`` folders, e.g. the teacher stage's own cache) when a file of the same key exists, else computed and
    written to ``folder``. ``prepare(x)`` puts a batch on the model's device and memory format."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
    name = f"{tag}-{digest}.pt"
    for path in (folder / name, *(Path(f) / name for f in also)):
        if path.is_file():
            data = torch.load(path, map_location="cpu", weights_only=True)
            return CachedSplit(data["maps"], data["mos"])
    path = folder / name
    model.eval()
    sampler = SizeBatchSampler(images.sizes(), batch_size, shuffle=False)
    stages = len(model.lda)
    out: list[list[Tensor | None]] = [[None] * len(images) for _ in range(stages * views)]
    bar = tqdm(total=len(images) * views, desc=f"cache {tag} features", unit="img")
    for view in range(views):
        for batch in sampler:
            items = [(i, bool(view), False, 0.0, 0.0) for i, *_ in batch]
            x = torch.stack([images[item][0] for item in items])
            for s, m in enumerate(pooled_maps(model, prepare(x))):
                m = m.to("cpu", torch.float16).contiguous()
                for j, (i, *_rest) in enumerate(items):
                    out[view * stages + s][i] = m[j]
            bar.update(len(items))
    bar.close()
    maps = [torch.stack([torch.stack(out[v * stages + s]) for v in range(views)]) for s in range(stages)]
    split = CachedSplit(maps, images.mos.clone())
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob(f"{tag}-*.pt"):  # an outdated cache of this split
        old.unlink()
    atomic_torch_save({"maps": split.maps, "mos": split.mos, "key": key}, path)
    return split


@torch.no_grad()
def teacher_features(teacher: IQANet, split: CachedSplit, batch_size: int = 256) -> dict[str, Tensor]:
    """The frozen teacher's LDA maps, opinion features and score on its own cached maps, per view (fp16)."""
    teacher.eval()
    out: dict[str, list[Tensor]] = {"lda": [], "opinions": [], "score": []}
    for v in range(split.views):
        parts: dict[str, list[Tensor]] = {k: [] for k in out}
        for i in range(0, len(split), batch_size):
            f = teacher.head_features([m[v, i:i + batch_size].float() for m in split.maps])
            parts["lda"].append(f.lda.half())
            parts["opinions"].append(f.opinions.half())
            parts["score"].append(f.score.float())
        for k in out:
            out[k].append(torch.cat(parts[k]))
    return {k: torch.stack(v) for k, v in out.items()}


class CachedLoader:
    """Batches of a :class:`CachedSplit` in the order (and with the h-flips) of a sampler of :data:`Item` s:
    ``(maps, mos, index)``, or ``(maps, teacher features, mos, index)`` when the split holds teacher features."""

    def __init__(self, split: CachedSplit, sampler) -> None:
        self.split, self.sampler = split, sampler

    def __iter__(self) -> Iterator[tuple]:
        for items in self.sampler:
            index = torch.tensor([int(i[0]) for i in items])
            view = torch.tensor([int(bool(i[1])) for i in items])
            maps, mos, teacher = self.split.batch(index, view)
            yield (maps, mos, index) if teacher is None else (maps, teacher, mos, index)

    def __len__(self) -> int:
        return len(self.sampler)


@torch.no_grad()
def predict_cached(model: IQANet, split: CachedSplit, batch_size: int = 256) -> np.ndarray:
    """Scores of view 0 of every row (eval mode)."""
    model.eval()
    out = [model.head_features([m[0, i:i + batch_size].float() for m in split.maps]).score
           for i in range(0, len(split), batch_size)]
    return torch.cat(out).double().numpy()


def head_parameters(model: nn.Module) -> Sequence[nn.Parameter]:
    """Every trainable parameter outside ``backbone.`` (the head phase leaves the backbone as it is)."""
    return [p for n, p in model.named_parameters() if ".backbone." not in f".{n}" and p.requires_grad]
