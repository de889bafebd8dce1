"""Dataset adapters: the public IQA datasets, read in their published layouts, as manifest frames.

``load_dataset("koniq10k", root)`` returns an :class:`AdapterResult`: ``frame`` in the manifest schema
(:data:`mobileiqa.data.manifest.COLUMNS`, MOS normalised with the dataset's published scale) holding the
usable images, and ``problems`` naming every listed image that could not be used and why. Metadata errors
raise :class:`~mobileiqa.data.manifest.ManifestError` naming the file and row. One module per dataset; the
shared pipeline is in :mod:`.base`, the file readers in :mod:`.tables`.
"""

from __future__ import annotations

from pathlib import Path

from mobileiqa.data.adapters import bid, folder_csv, kadid, koniq, livec, spaq, uhdiqa
from mobileiqa.data.adapters.base import Adapter, AdapterResult, Labels

ADAPTERS: dict[str, Adapter] = {m.ADAPTER.name: m.ADAPTER for m in (koniq, spaq, livec, bid, uhdiqa, kadid,
                                                                     folder_csv)}


def load_dataset(name: str, root: str | Path, *, split_seed: int = 0, **options) -> AdapterResult:
    """Read dataset ``name`` under ``root``; ``options`` are :meth:`Adapter.load`'s and the adapter's own."""
    try:
        adapter = ADAPTERS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; known: {sorted(ADAPTERS)}") from None
    return adapter.load(root, split_seed=split_seed, **options)


__all__ = ["ADAPTERS", "Adapter", "AdapterResult", "Labels", "load_dataset"]
