"""Leave-one-distortion-group-out generalisation report (``mobileiqa benchmark generalisation``).

For each KADID distortion group (blur, color, compression, noise, brightness, spatial, sharpness_contrast) a model is
trained by plain MOS regression on the train/val images of the *other* groups, with a fixed, smaller budget
(``evaluate.generalisation``), and scored on the test images of the held-out group ("unseen") and of the other groups
("seen"). The gap between the two says how much of the accuracy is memorised distortion appearance.

Mixtures (``dist_type`` ``mix:a+b[+c]``, :mod:`mobileiqa.data.mixtures`) have the group ``"mixture"``, which is
never held out itself: a mixture with a component in the held-out group is left out of training like that group's
own images, and in the test split it is scored but counted in neither column (it is partly seen, partly not);
"unseen" is the group's single-distortion images only, and a mixture without a held-out component is "seen".

The test split holds only 23-61 images of a group, so one group's unseen SRCC has a standard error near 0.13. Each
row also gives ``unseen_all_srcc``: the held-out group's single-distortion images of *every* split (its train and
val images never reach training either), 4-5x as many, for comparing two recipes on the same group. It is not the
headline: the photos of the train split were seen under other distortions (on the default dataset it moved single
groups by -0.15 to +0.19 and the mean from 0.526 to 0.549).

Each run also scores every group it trained on, on the test split (``seen_by_group``). A group's mean over the runs
that saw it says how well it ranks when seen (``seen_by_group``/``mean_seen_by_group_srcc`` of the result, the
"SRCC when seen" column), the figure to hold its unseen SRCC against: a group that ranks badly even when seen cannot
rank well unseen.

Each group's result is cached as JSON under the output folder, keyed by a hash of everything that determines it
(dataset manifest, model, training recipe), so a rerun only trains what is missing or changed; a group whose
training was interrupted resumes from its last checkpoint (``runs/<group>/key.txt`` names the row it belongs to).
This is not part of ``dvc repro``: it is a benchmark, run on demand.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from mobileiqa.atomic import json_digest, write_csv, write_json, write_text
from mobileiqa.data import families
from mobileiqa.data.manifest import PreparedDataset, read_manifest, write_manifest
from mobileiqa.environment import machine_id
from mobileiqa.eval.metrics import srcc
from mobileiqa.eval.scorecard import score_in_chunks, split_frame
from mobileiqa.predict import Predictor
from mobileiqa.train.settings import recipe_dict
from mobileiqa.train.teacher import train_teacher


def group_of(dist_type: str) -> str:
    try:
        return families.group_of(dist_type)
    except ValueError:
        raise ValueError(f"leave-one-group-out needs synthetic distortion labels; {dist_type!r} is neither a KADID "
                         "type, a phone family nor a mixture of them (real datasets have no distortion "
                         "groups)") from None


def present_groups(manifest: pd.DataFrame) -> list[str]:
    """The groups with images in ``manifest``, KADID's first (a dataset built without phone families has none);
    never ``"mixture"`` (a mixture is held out through its components)."""
    found = set(manifest["dist_type"].astype(str).map(group_of))
    return [g for g in families.ALL_GROUPS if g in found]


def touches(dist_types: pd.Series, group: str) -> pd.Series:
    """Whether each ``dist_type`` (a single distortion or a mixture) has a component in ``group``."""
    dist_types = dist_types.astype(str)
    for t in dist_types.unique():
        group_of(t)  # the benchmark's error for a type that is not synthetic
    return dist_types.map({t: families.touches(t, group) for t in dist_types.unique()}).astype(bool)


def holdout_manifest(manifest: pd.DataFrame, group: str) -> pd.DataFrame:
    """Train/val rows without a component in ``group`` plus every test row (scored later, split by group)."""
    keep = (manifest["split"] == "test") | ~touches(manifest["dist_type"], group)
    return manifest[keep].reset_index(drop=True)


def seen_unseen(test: pd.DataFrame, group: str) -> tuple[np.ndarray, np.ndarray]:
    """Masks of a test split's rows: ``unseen`` = single-distortion images of ``group``, ``seen`` = images with no
    component in it (a mixture with one is in neither)."""
    touched = touches(test["dist_type"], group).to_numpy()
    mixed = test["dist_type"].astype(str).map(families.is_mixture).to_numpy(bool)
    return ~touched, touched & ~mixed


# recipe fields added after rows were cached: off (their defaults) they stay out of the key, so those rows stay valid
_ADDED = ("ema", "annotator_weight", "local_map_weight")


def _cache_key(dataset: PreparedDataset, model: str, weights: str | None, cfg, group: str) -> str:
    train = recipe_dict(cfg, _ADDED)
    return json_digest({"manifest": dataset.manifest_sha256, "model": model, "weights": weights, "group": group,
                        "train": train})


def run_group(dataset_dir: str | os.PathLike, group: str, model: str, cfg, work_dir: str | os.PathLike,
              weights: str | None = None, key: str | None = None) -> dict:
    """Train ``model`` (from backbone ``weights``) on everything but ``group`` and score the test split; returns
    seen/unseen SRCC. With the row's cache ``key``, an interrupted training of the same key in ``work_dir`` resumes
    from its last checkpoint (a training of another key there is cleared first)."""
    dataset = PreparedDataset.load(dataset_dir)
    manifest = read_manifest(dataset.manifest)
    work = Path(work_dir)
    resume = _resumable(work, key)
    subset = work / "dataset"
    digest = write_manifest(holdout_manifest(manifest, group), subset / "manifest.csv")
    root = Path(dataset.root).resolve()  # the subset lives elsewhere: a relative root would point into it
    write_json(subset / "dataset.json", {"source": f"{dataset.source}-without-{group}", "root": str(root),
                                         "manifest_sha256": digest})
    train_teacher(cfg, subset, work / "model", model, weights, resume=resume)
    return {"group": group, "model": model, "weights": weights, **score_group(dataset, manifest, group, work)}


def _resumable(work: Path, key: str | None) -> bool:
    """Whether ``work`` holds an interrupted training of the row keyed ``key`` (``key.txt`` and a last checkpoint);
    if it holds another key's, that training is removed. Records ``key`` for the next interruption."""
    marker, model = work / "key.txt", work / "model"
    if key is None:
        return False
    same = marker.is_file() and marker.read_text().strip() == key
    if same and (model / "checkpoints" / "last.pt").is_file():
        return True
    if model.exists() and not same:
        shutil.rmtree(model)  # another recipe's (or an unkeyed) run: nothing of it may be resumed
    write_text(marker, key + "\n")
    return False


def score_group(dataset: PreparedDataset, manifest: pd.DataFrame, group: str, work: Path) -> dict:
    """Seen and unseen SRCC of the model that ``run_group`` trained in ``work`` without ``group``: on the test split,
    and unseen on the group's single-distortion images of every split (``unseen_all_*``). A set of groups (``kadid``,
    ``phone``) also gets each member's unseen SRCC on every split (``unseen_by_group``), the figure a one-group run
    gives. Every scored image is written to ``work/scores.csv`` (split, type, MOS, score, seen/unseen)."""
    test = split_frame(manifest, dataset.root, "test")
    others = pd.concat([split_frame(manifest, dataset.root, s) for s in ("train", "val")], ignore_index=True)
    held = others[seen_unseen(others, group)[1]]  # dropped from training by holdout_manifest
    predictor = Predictor.from_path(work / "model" / "model.pt", reduced_decode=False)
    scored = pd.concat([test, held], ignore_index=True)  # the test split first, then the group's other images
    scores = score_in_chunks(predictor, list(scored["file"]), 16, f"score without {group}")
    mos = scored["mos"].to_numpy(np.float64)
    seen, unseen = seen_unseen(test, group)
    every = np.concatenate([unseen, np.ones(len(held), bool)])
    test_scores, test_mos = scores[:len(test)], mos[:len(test)]
    write_csv(work / "scores.csv", scored[["image_id", "split", "dist_type", "mos"]].assign(
        score=scores, seen=np.concatenate([seen, np.zeros(len(held), bool)]), unseen=every), float_format=None)
    row = {"unseen_n": int(unseen.sum()), "seen_n": int(seen.sum()),
           "unseen_srcc": srcc(test_scores[unseen], test_mos[unseen]),
           "seen_srcc": srcc(test_scores[seen], test_mos[seen]),
           "unseen_all_n": int(every.sum()), "unseen_all_srcc": srcc(scores[every], mos[every])}
    if group in families.GROUP_SETS:
        row["unseen_by_group"] = by_group(scored["dist_type"][every], scores[every], mos[every],
                                          families.groups_in(group))
    row["seen_by_group"] = seen_by_group(test["dist_type"][seen], test_scores[seen], test_mos[seen], group)
    return row


def by_group(dist_types: pd.Series, scores: np.ndarray, mos: np.ndarray, groups) -> dict[str, float]:
    """The SRCC of each of ``groups`` over its single-distortion images among ``dist_types`` (groups with fewer
    than 3 images left out)."""
    member = dist_types.astype(str).map(group_of).to_numpy()
    return {g: srcc(scores[member == g], mos[member == g]) for g in groups if (member == g).sum() > 2}


def seen_by_group(dist_types: pd.Series, scores: np.ndarray, mos: np.ndarray, held_out: str) -> dict[str, float]:
    """The test-split SRCC of each group that the run holding out ``held_out`` trained on: what that group reaches
    when it *is* seen. Averaged over the runs that saw it, it is the figure its unseen SRCC is measured against
    (``mean_seen_by_group_srcc``): a group that ranks badly even when seen (global brightness changes) cannot
    rank well unseen."""
    held = set(families.groups_in(held_out))
    return by_group(dist_types, scores, mos, [g for g in families.ALL_GROUPS if g not in held])


def _seen_from_scores(work: Path, group: str) -> dict[str, float]:
    """:func:`seen_by_group` from a run's ``scores.csv`` (what :func:`score_group` wrote), without scoring again."""
    scored = pd.read_csv(work / "scores.csv")
    seen = scored[(scored["split"] == "test") & scored["seen"].astype(bool)]
    return seen_by_group(seen["dist_type"], seen["score"].to_numpy(np.float64), seen["mos"].to_numpy(np.float64),
                         group)


def type_decomposition(frame: pd.DataFrame) -> pd.DataFrame:
    """Where a group's SRCC is lost, per group of ``frame`` (rows of a run's ``scores.csv``: ``dist_type``, ``mos``,
    ``score``; single distortions only): ``group_srcc`` over all its images; ``within_type_srcc``, the mean SRCC
    inside each of its types (types of 5 images or more), i.e. whether the levels are ordered; and
    ``offsets_oracle_srcc``, the group's SRCC once each type's scores are centred on that type's mean MOS (their
    deviations from the type's mean put in MOS units by one positive factor, the ratio of the pooled within-type
    spreads of MOS and scores, so each type's order is kept): what knowing how bad each type is next to the others
    would give."""
    rows = []
    frame = frame.assign(group=frame["dist_type"].astype(str).map(group_of))
    for g, x in frame[frame["group"].isin(families.ALL_GROUPS)].groupby("group", sort=False):
        score, mos = x["score"].to_numpy(np.float64), x["mos"].to_numpy(np.float64)
        within = [srcc(t["score"].to_numpy(np.float64), t["mos"].to_numpy(np.float64))
                  for _, t in x.groupby("dist_type") if len(t) >= 5]
        types = x["dist_type"]
        dev_score = x["score"] - x["score"].groupby(types).transform("mean")
        dev_mos = x["mos"] - x["mos"].groupby(types).transform("mean")
        spread = float(np.sqrt((dev_score ** 2).sum()))
        unit = float(np.sqrt((dev_mos ** 2).sum())) / spread if spread > 0 else 0.0  # score units -> MOS units
        shifted = x["mos"].groupby(types).transform("mean") + unit * dev_score
        rows.append({"group": g, "n": len(x), "group_srcc": srcc(score, mos),
                     "within_type_srcc": float(np.nanmean(within)) if np.isfinite(within).any() else float("nan"),
                     "offsets_oracle_srcc": srcc(shifted.to_numpy(), mos)})
    return pd.DataFrame(rows, columns=["group", "n", "group_srcc", "within_type_srcc", "offsets_oracle_srcc"])


def seen_group_means(rows: list[dict], groups) -> dict[str, float]:
    """Each of ``groups``' mean test SRCC over the ``rows`` (runs) that trained on it (``seen_by_group``)."""
    means = {}
    for g in groups:
        values = [r["seen_by_group"][g] for r in rows if g in r.get("seen_by_group", {})]
        if values:
            means[g] = float(np.mean(values))
    return means


def leave_one_group_out(params, dataset_dir: str | os.PathLike, out_dir: str | os.PathLike,
                        groups: tuple[str, ...] | None = None) -> dict:
    """Run (or load from cache) every group; write ``generalisation.json`` and a Markdown table in ``out_dir``."""
    g = params.evaluate.generalisation
    model = g.model or params.models.student
    weights = params.models.weights_for(model)
    cfg = params.train_teacher if g.epochs < 0 else dataclasses.replace(params.train_teacher, epochs=g.epochs)
    dataset = PreparedDataset.load(dataset_dir)
    out_dir = Path(out_dir)
    rows = []
    manifest = read_manifest(dataset.manifest)
    available = present_groups(manifest)
    sets = [name for name, members in families.GROUP_SETS.items() if set(members) & set(available)]
    for group in groups or g.groups or available:
        if group not in available + sets:
            known = group in families.ALL_GROUPS or group in families.GROUP_SETS
            what = "has no images in" if known else "is an unknown distortion group for"
            raise ValueError(f"{group!r} {what} {dataset_dir}; choose from {', '.join(available + sets)}")
        cached = out_dir / "cache" / f"{group}-{_cache_key(dataset, model, weights, cfg, group)}.json"
        if cached.is_file():
            row = json.loads(cached.read_text())
            work = out_dir / "runs" / group
            stale = "unseen_all_srcc" not in row or (group in families.GROUP_SETS and "unseen_by_group" not in row)
            if stale and (work / "model" / "model.pt").is_file():
                # a row cached before the all-splits figures: completed from its saved model, without training
                row = {**row, **score_group(dataset, manifest, group, work)}
                write_json(cached, row)
            elif "seen_by_group" not in row and (work / "scores.csv").is_file():
                # cached before the per-group seen figures: read from the run's scores
                row = {**row, "seen_by_group": _seen_from_scores(work, group)}
                write_json(cached, row)
            rows.append(row)
            continue
        row = run_group(dataset_dir, group, model, cfg, out_dir / "runs" / group, weights, key=cached.stem)
        write_json(cached, row)
        rows.append(row)
    single = [r for r in rows if r["group"] in families.ALL_GROUPS]  # the means: one group held out at a time
    result = {"model": model, "weights": weights, "epochs": cfg.head_epochs + cfg.epochs,
              "dataset_sha256": dataset.manifest_sha256, "groups": rows}
    if single:
        result["mean_unseen_srcc"] = float(np.mean([r["unseen_srcc"] for r in single]))
        result["mean_seen_srcc"] = float(np.mean([r["seen_srcc"] for r in single]))
        if all("unseen_all_srcc" in r for r in single):
            result["mean_unseen_all_srcc"] = float(np.mean([r["unseen_all_srcc"] for r in single]))
        seen = seen_group_means(rows, [r["group"] for r in single])
        if len(seen) == len(single):  # every held-out group was seen by another run: its figure when seen
            result["seen_by_group"] = seen
            result["mean_seen_by_group_srcc"] = float(np.mean(list(seen.values())))
    for kind, members in families.GROUP_SETS.items():  # KADID's and the phone groups reported apart
        unseen = [r["unseen_srcc"] for r in single if r["group"] in members]
        if unseen:
            result[f"mean_unseen_srcc_{kind}"] = float(np.mean(unseen))
        held_out = next((r for r in rows if r["group"] == kind), None)  # e.g. "phone": never saw a phone family
        if held_out:
            result[f"{kind}_held_out_srcc"] = held_out["unseen_srcc"]
    write_json(out_dir / "generalisation.json", result)
    when_seen = result.get("seen_by_group", {})
    lines = ["| held-out group | unseen SRCC (n) | seen SRCC (n) | unseen, all splits (n) | the group when seen |",
             "|---|---|---|---|---|"]
    lines += [f"| {r['group']} | {r['unseen_srcc']:.3f} ({r['unseen_n']}) | {r['seen_srcc']:.3f} ({r['seen_n']}) | "
              + (f"{r['unseen_all_srcc']:.3f} ({r['unseen_all_n']}) | " if "unseen_all_srcc" in r else "– | ")
              + (f"{when_seen[r['group']]:.3f} |" if r["group"] in when_seen else "– |")
              for r in rows]
    write_text(out_dir / "generalisation.md", "\n".join(lines) + "\n")
    return result


def summary_line(result: dict) -> str:
    """The means of a result in one line: all single groups, KADID's and the phone groups apart, the held-out sets."""
    parts = []
    if "mean_unseen_srcc" in result:
        parts.append(f"mean unseen SRCC {result['mean_unseen_srcc']:.3f} (seen {result['mean_seen_srcc']:.3f})")
    if "mean_unseen_all_srcc" in result:
        parts.append(f"unseen on all splits {result['mean_unseen_all_srcc']:.3f}")
    if "mean_seen_by_group_srcc" in result:
        parts.append(f"the same groups when seen {result['mean_seen_by_group_srcc']:.3f}")
    parts += [f"{kind} groups {result[f'mean_unseen_srcc_{kind}']:.3f}" for kind in families.GROUP_SETS
              if f"mean_unseen_srcc_{kind}" in result]
    parts += [f"every {name} group held out at once {result[f'{name}_held_out_srcc']:.3f}"
              for name in families.GROUP_SETS if f"{name}_held_out_srcc" in result]
    return ", ".join(parts)


def record(result: dict, results_dir: str | os.PathLike, command: str) -> Path:
    """Write ``result`` as a per-machine benchmark result (``RESULTS/<machine>/generalisation.json``) that
    ``mobileiqa render-benchmarks`` puts in docs/BENCHMARKS.md; returns its path. Rows of *other* models already
    recorded there are kept (the ablation compares the reference student with the winner), this model's replaced."""
    path = Path(results_dir) / machine_id() / "generalisation.json"
    old = json.loads(path.read_text()) if path.is_file() else {}
    earlier = old.get("earlier", [])
    if old.get("dataset_sha256") not in (None, result["dataset_sha256"]):
        # another dataset: its rows are not comparable and go; its summary line stays, under its dataset and date
        own = old.get("notes", "").split(" Earlier datasets: ")[0]
        earlier = [*earlier, f"dataset {old['dataset_sha256'][:12]} ({old.get('date', '?')}): {own}"]
        old = {}
    kept = [r for r in old.get("rows", []) if r.get("model") not in (None, result["model"])]
    rows = kept + [{"model": result["model"], "weights": result.get("weights") or "random",
                    "held-out group": r["group"], "unseen SRCC": round(r["unseen_srcc"], 3),
                    "unseen n": r["unseen_n"], "seen SRCC": round(r["seen_srcc"], 3), "seen n": r["seen_n"],
                    **({"unseen SRCC, all splits": round(r["unseen_all_srcc"], 3),
                        "unseen n, all splits": r["unseen_all_n"]} if "unseen_all_srcc" in r else {}),
                    **({"SRCC when seen": round(result["seen_by_group"][r["group"]], 3)}
                       if r["group"] in result.get("seen_by_group", {}) else {})}
                   for r in result["groups"]]
    summary = {m: v for m, v in old.get("summary", {}).items() if m != result["model"]}
    summary[result["model"]] = {"weights": result.get("weights"), "epochs": result["epochs"],
                                **{k: round(v, 3) for k, v in result.items() if k.endswith("_srcc")},
                                "line": summary_line(result), "command": command}
    notes = "; ".join(f"`{m}` (weights {v.get('weights') or 'random'}): {v['epochs']} epochs per group "
                      f"(train_teacher recipe, MOS only), "
                      + v.get("line", f"mean unseen SRCC {v['mean_unseen_srcc']:.3f}, seen {v['mean_seen_srcc']:.3f}")
                      for m, v in summary.items())
    out = {"machine": machine_id(), "command": " ; ".join(v.get("command", "?") for v in summary.values()),
           "date": dt.date.today().isoformat(), "notes": notes + ".", "dataset_sha256": result["dataset_sha256"],
           "summary": summary, "rows": rows, "earlier": earlier}
    if earlier:
        out["notes"] += " Earlier datasets: " + " ".join(earlier)
    write_json(path, out)
    return path
