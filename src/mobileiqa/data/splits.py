"""Content-disjoint splits: every version of a scene (``content_id``) lands in exactly one split.

* :func:`assign_splits` — seeded train/val/test by content, with given fractions.
* :func:`repeated_splits` — N seeded splits for a median-of-N protocol.
* :func:`leave_group_out` — hold out one group of distortion types, KADID's or the phone families'
  (generalisation tests); a mixture with a held-out component is held out too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from mobileiqa.data.families import is_mixture, touches, types_in

DEFAULT_FRACTIONS = (0.7, 0.1, 0.2)


def _check_fractions(fractions: Sequence[float]) -> None:
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise ValueError(f"split fractions must be three non-negative numbers summing to 1, got {list(fractions)}")


def split_contents(contents: Iterable[str], seed: int, fractions: Sequence[float] = DEFAULT_FRACTIONS) -> dict:
    """Map each distinct content id to ``train``/``val``/``test``; independent of input order."""
    _check_fractions(fractions)
    unique = sorted(set(contents))
    # order by a seeded hash so the assignment of one content does not depend on which others exist
    keyed = sorted(unique, key=lambda c: hashlib.sha256(f"{seed}:{c}".encode()).hexdigest())
    n = len(keyed)
    n_test = round(n * fractions[2])
    n_val = round(n * fractions[1])
    if n >= 3:  # every split non-empty when there is enough content
        n_test, n_val = max(n_test, 1 if fractions[2] > 0 else 0), max(n_val, 1 if fractions[1] > 0 else 0)
    out = {}
    for i, content in enumerate(keyed):
        out[content] = "test" if i < n_test else "val" if i < n_test + n_val else "train"
    return out


def assign_splits(df: pd.DataFrame, seed: int, fractions: Sequence[float] = DEFAULT_FRACTIONS) -> pd.DataFrame:
    """Return a copy of ``df`` with its ``split`` column set by content."""
    mapping = split_contents(df["content_id"], seed, fractions)
    out = df.copy()
    out["split"] = out["content_id"].map(mapping)
    return out


def repeated_splits(df: pd.DataFrame, n: int, seed: int, fractions=DEFAULT_FRACTIONS) -> list[pd.DataFrame]:
    rng = np.random.default_rng(seed)
    return [assign_splits(df, int(s), fractions) for s in rng.integers(0, 2**31 - 1, size=n)]


def leave_group_out(df: pd.DataFrame, group: str) -> pd.DataFrame:
    """Hold out one distortion group (e.g. ``"blur"``, or a phone group like ``"optics"``) — distortion- *and*
    content-disjoint.

    Train/val keep their contents with every *other* group, mixtures included only when none of their components
    is in the held-out group; test keeps its contents with the held-out group only, as single-distortion images
    (a mixture is never a pure example of one group). No held-out distortion, alone or in a mixture, and no test
    content is ever seen in training.
    """
    try:
        types_in(group)
    except ValueError as exc:
        raise ValueError(f"leave_group_out: {exc}") from None
    types = df["dist_type"].astype(str)
    touched = types.map({t: _touches(t, group) for t in types.unique()}).astype(bool)
    pure = touched & ~types.map(is_mixture).astype(bool)
    is_test = df["split"] == "test"
    return df[(is_test & pure) | (~is_test & ~touched)].reset_index(drop=True)


def _touches(dist_type: str, group: str) -> bool:
    try:
        return touches(dist_type, group)
    except ValueError:  # not a known distortion (e.g. an authentic photo's empty type): in no group
        return False
