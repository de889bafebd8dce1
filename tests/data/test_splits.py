"""Content-disjoint splits, repeated splits and leave-one-distortion-group-out."""

from __future__ import annotations

import pandas as pd
import pytest

from mobileiqa.data.distortions import DISTORTIONS
from mobileiqa.data.splits import assign_splits, leave_group_out, repeated_splits, split_contents


def _frame(n_contents=20):
    rows = [{"content_id": f"c{c}", "dist_type": d.name, "image_id": f"c{c}_{d.id}"}
            for c in range(n_contents) for d in DISTORTIONS.values()]
    return pd.DataFrame(rows)


def test_splits_are_content_disjoint_sized_and_order_independent():
    df = assign_splits(_frame(), seed=3, fractions=(0.6, 0.2, 0.2))
    assert (df.groupby("content_id")["split"].nunique() == 1).all()
    per = df.groupby("split")["content_id"].nunique()
    assert (per["train"], per["val"], per["test"]) == (12, 4, 4)
    contents = [f"c{i}" for i in range(20)]
    assert split_contents(contents, 3, (0.6, 0.2, 0.2)) == split_contents(contents[::-1], 3, (0.6, 0.2, 0.2))
    assert split_contents(contents, 3, (0.6, 0.2, 0.2)) != split_contents(contents, 4, (0.6, 0.2, 0.2))


def test_repeated_splits_differ_and_are_reproducible():
    a = repeated_splits(_frame(), n=3, seed=0)
    b = repeated_splits(_frame(), n=3, seed=0)
    assert all(x["split"].equals(y["split"]) for x, y in zip(a, b, strict=True))
    assert not a[0]["split"].equals(a[1]["split"])


def test_bad_fractions_are_refused():
    with pytest.raises(ValueError, match="summing to 1"):
        split_contents(["a"], 0, (0.5, 0.5, 0.5))


def test_leave_one_group_out_holds_out_the_group_and_its_contents():
    df = assign_splits(_frame(), seed=1)
    out = leave_group_out(df, "blur")
    blur = {d.name for d in DISTORTIONS.values() if d.group == "blur"}
    test = out[out["split"] == "test"]
    assert set(test["dist_type"]) == blur
    assert not out.loc[out["split"] != "test", "dist_type"].isin(blur).any()
    assert set(test["content_id"]) == set(df.loc[df["split"] == "test", "content_id"])
    assert set(test["content_id"]).isdisjoint(out.loc[out["split"] != "test", "content_id"])
    assert len(out[out["split"] == "train"]) == len(df[df["split"] == "train"]) * (25 - len(blur)) // 25
    with pytest.raises(ValueError, match="unknown group"):
        leave_group_out(df, "fog")
