"""Leave-one-distortion-group-out report, tiny version: the held-out group never reaches training, results are
cached per group, and the CLI writes the JSON and the table."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd
import pytest

from mobileiqa.atomic import json_digest
from mobileiqa.data import families
from mobileiqa.data.distortions import DISTORTIONS, GROUPS
from mobileiqa.data.manifest import PreparedDataset, read_manifest
from mobileiqa.eval.metrics import srcc
from mobileiqa.eval.scorecard import split_frame
from mobileiqa.experiments import generalisation
from mobileiqa.experiments.generalisation import group_of, holdout_manifest, leave_one_group_out
from mobileiqa.predict import Predictor

ROOT = Path(__file__).resolve().parents[2]


def _fast(params):
    return dataclasses.replace(params, evaluate=dataclasses.replace(
        params.evaluate, generalisation=dataclasses.replace(params.evaluate.generalisation, epochs=1)))


def test_holdout_manifest_keeps_the_group_out_of_training_only(prepared_tiny):
    manifest = read_manifest(PreparedDataset.load(prepared_tiny).manifest)
    kept = holdout_manifest(manifest, "blur")
    groups = kept["dist_type"].astype(str).map(group_of)
    assert not ((groups == "blur") & kept["split"].isin(["train", "val"])).any()
    assert (kept["split"] == "test").sum() == (manifest["split"] == "test").sum()
    with pytest.raises(ValueError, match="synthetic distortion labels"):
        group_of("authentic")


def test_leave_one_group_out_reports_and_caches(prepared_tiny, tiny_params, tmp_path, monkeypatch):
    params = _fast(tiny_params)
    monkeypatch.chdir(prepared_tiny.parent)  # a relative dataset folder, as on the CLI
    result = leave_one_group_out(params, Path(prepared_tiny.name), tmp_path, groups=("noise",))
    (row,) = result["groups"]
    assert row["group"] == "noise" and row["unseen_n"] > 0 and row["seen_n"] > 0
    run = tmp_path / "runs" / "noise"  # the model trained without the group scores the whole test split
    trained_on = read_manifest(run / "dataset" / "manifest.csv")
    assert not trained_on[trained_on["split"] != "test"]["dist_type"].astype(str).map(group_of).eq("noise").any()
    dataset = PreparedDataset.load(prepared_tiny)
    test = split_frame(read_manifest(dataset.manifest), dataset.root, "test")
    scores, mos = Predictor.from_path(run / "model" / "model.pt")(list(test["file"])), test["mos"].to_numpy()
    unseen = test["dist_type"].astype(str).map(group_of).eq("noise").to_numpy()
    assert row["unseen_srcc"] == pytest.approx(srcc(scores[unseen], mos[unseen]), abs=1e-9)
    assert row["seen_srcc"] == pytest.approx(srcc(scores[~unseen], mos[~unseen]), abs=1e-9)
    # the all-splits figure: the group's images of every split, none of which was trained on
    every = pd.concat([split_frame(read_manifest(dataset.manifest), dataset.root, s) for s in ("train", "val", "test")])
    every = every[every["dist_type"].astype(str).map(group_of).eq("noise").to_numpy()]
    assert row["unseen_all_n"] == len(every) > row["unseen_n"]
    all_scores = Predictor.from_path(run / "model" / "model.pt")(list(every["file"]))
    assert row["unseen_all_srcc"] == pytest.approx(srcc(all_scores, every["mos"].to_numpy()), abs=1e-9)
    written = pd.read_csv(run / "scores.csv")  # every scored image, for analyses without scoring again
    assert int(written["unseen"].sum()) == row["unseen_all_n"] and int(written["seen"].sum()) == row["seen_n"]
    noise = written[written["unseen"]].set_index("image_id").loc[every["image_id"], "score"].to_numpy()
    assert noise == pytest.approx(all_scores, abs=1e-5)
    # a held-out set also scores each member group on its own, the figure a one-group run gives
    unseen = written[written["unseen"]]
    by = generalisation.by_group(unseen["dist_type"], unseen["score"].to_numpy(), unseen["mos"].to_numpy(),
                                  families.groups_in("kadid"))
    assert list(by) == ["noise"] and by["noise"] == pytest.approx(row["unseen_all_srcc"], abs=1e-9)
    mixed = written[written["split"] == "test"]  # every group of the test split, each on its own
    by = generalisation.by_group(mixed["dist_type"], mixed["score"].to_numpy(), mixed["mos"].to_numpy(),
                                  families.groups_in("kadid"))
    blur = mixed[mixed["dist_type"].map(group_of) == "blur"]
    assert len(by) >= 3 and by["blur"] == pytest.approx(srcc(blur["score"].to_numpy(), blur["mos"].to_numpy()))
    # every group the run trained on, on the test split: what it reaches when seen (here, the other run's figure)
    test_seen = mixed[mixed["seen"]]
    assert "noise" not in row["seen_by_group"] and row["seen_by_group"]["blur"] == pytest.approx(
        srcc(*(test_seen[test_seen["dist_type"].map(group_of) == "blur"][c].to_numpy() for c in ("score", "mos"))))
    assert "mean_seen_by_group_srcc" not in result  # no run saw the held-out group: nothing to compare with
    assert json.loads((tmp_path / "generalisation.json").read_text())["groups"] == [row]
    table = (tmp_path / "generalisation.md").read_text().splitlines()
    assert table[-1].startswith("| noise |") and table[-1].endswith("| – |")  # no run saw noise

    def no_training(*args, **kwargs):
        raise AssertionError("a cached group was trained again")

    monkeypatch.setattr(generalisation, "run_group", no_training)
    assert leave_one_group_out(params, Path(prepared_tiny.name), tmp_path, groups=("noise",))["groups"] == [row]
    # a row cached before the all-splits figure is completed from its saved model, still without training
    (cached,) = (tmp_path / "cache").glob("noise-*.json")
    old = {k: v for k, v in row.items() if not k.startswith("unseen_all")}
    cached.write_text(json.dumps(old))
    again = leave_one_group_out(params, Path(prepared_tiny.name), tmp_path, groups=("noise",))
    assert again["groups"][0]["unseen_all_srcc"] == pytest.approx(row["unseen_all_srcc"], abs=1e-9)
    assert json.loads(cached.read_text())["unseen_all_n"] == row["unseen_all_n"]
    assert again["mean_unseen_all_srcc"] == pytest.approx(row["unseen_all_srcc"], abs=1e-9)
    # a row cached before the per-group seen figures is completed from the run's scores.csv
    cached.write_text(json.dumps({k: v for k, v in row.items() if k != "seen_by_group"}))
    (run / "model" / "model.pt").rename(run / "model" / "gone.pt")  # not scored again
    again = leave_one_group_out(params, Path(prepared_tiny.name), tmp_path, groups=("noise",))
    assert again["groups"][0]["seen_by_group"] == pytest.approx(row["seen_by_group"], abs=1e-9)
    assert json.loads(cached.read_text())["seen_by_group"] == again["groups"][0]["seen_by_group"]
    with pytest.raises(ValueError, match="'nois' is an unknown distortion group"):
        leave_one_group_out(params, prepared_tiny, tmp_path, groups=("nois",))


def test_every_distortion_type_belongs_to_one_known_group():
    assert {d.group for d in DISTORTIONS.values()} == set(GROUPS)
    assert all(group_of(name) == d.group for name, d in DISTORTIONS.items())


def test_each_group_trains_the_model_with_its_configured_weights(prepared_tiny, tiny_params, tmp_path,
                                                                monkeypatch):
    lite0 = "mobileiqa_student_efficientnet_lite0_tiny"
    params = _fast(dataclasses.replace(
        tiny_params,
        models=dataclasses.replace(tiny_params.models, variant_weights={lite0: "package:efficientnet-lite0"}),
        evaluate=dataclasses.replace(tiny_params.evaluate, generalisation=dataclasses.replace(
            tiny_params.evaluate.generalisation, model=lite0))))
    seen = []
    real = generalisation.run_group

    def spy(dataset_dir, group, model, cfg, work_dir, weights=None, key=None):
        seen.append((model, weights))
        assert key.startswith("noise-")  # the row's cache key: an interrupted run resumes only its own training
        return real(dataset_dir, group, model, cfg, work_dir, weights, key=key)

    monkeypatch.setattr(generalisation, "run_group", spy)
    result = leave_one_group_out(params, prepared_tiny, tmp_path, groups=("noise",))
    assert seen == [(lite0, "package:efficientnet-lite0")] and result["weights"] == "package:efficientnet-lite0"
    assert result["groups"][0]["weights"] == "package:efficientnet-lite0"


def test_benchmark_generalisation_cli(prepared_tiny, tmp_path):
    from mobileiqa.cli import main

    out = tmp_path / "gen"
    rc = main(["benchmark", "generalisation", "--params", str(ROOT / "params.yaml"),
               "--overlay", str(ROOT / "params/tiny.yaml"),
               "--set", "tracking.enabled=false", "--set", "evaluate.generalisation.epochs=1",
               "--dataset", str(prepared_tiny), "--out", str(out), "--group", "blur",
               "--record", str(tmp_path / "results")])
    assert rc == 0
    (recorded,) = (tmp_path / "results").glob("*/generalisation.json")
    assert [r["held-out group"] for r in json.loads(recorded.read_text())["rows"]] == ["blur"]
    assert [r["group"] for r in json.loads((out / "generalisation.json").read_text())["groups"]] == ["blur"]


def test_record_keeps_other_models_and_replaces_this_one(tmp_path):
    def result(model, unseen, sha="abc"):
        return {"model": model, "epochs": 3, "dataset_sha256": sha, "mean_unseen_srcc": unseen,
                "mean_seen_srcc": 0.3, "groups": [{"group": "blur", "unseen_srcc": unseen, "unseen_n": 5,
                                                   "seen_srcc": 0.3, "seen_n": 7}]}

    generalisation.record(result("ref", 0.1), tmp_path, "cmd")
    generalisation.record(result("winner", 0.2), tmp_path, "cmd")
    path = generalisation.record(result("ref", 0.15), tmp_path, "cmd")
    data = json.loads(path.read_text())
    assert [(r["model"], r["unseen SRCC"]) for r in data["rows"]] == [("winner", 0.2), ("ref", 0.15)]
    assert set(data["summary"]) == {"winner", "ref"} and "`ref`" in data["notes"]
    data = json.loads(generalisation.record(result("ref", 0.4, sha="other"), tmp_path, "cmd").read_text())
    assert [r["model"] for r in data["rows"]] == ["ref"]  # another dataset: older rows dropped, its summary kept
    assert data["earlier"][0].startswith("dataset abc (") and "mean unseen SRCC 0.150" in data["earlier"][0]
    assert "Earlier datasets: dataset abc" in data["notes"]
    data = json.loads(generalisation.record(result("ref", 0.5, sha="other"), tmp_path, "cmd").read_text())
    assert len(data["earlier"]) == 1  # the same dataset again: nothing moves


def test_kadid_phone_and_held_out_set_figures_are_reported_apart(tmp_path):
    rows = [{"group": g, "unseen_srcc": u, "unseen_n": 5, "seen_srcc": 0.6, "seen_n": 9}
            for g, u in (("blur", 0.5), ("noise", 0.3), ("codec", 0.7), ("phone", 0.2))]
    result = {"model": "m", "epochs": 9, "dataset_sha256": "abc", "groups": rows,
              "mean_unseen_srcc": 0.5, "mean_seen_srcc": 0.6, "mean_unseen_srcc_kadid": 0.4,
              "mean_unseen_srcc_phone": 0.7, "phone_held_out_srcc": 0.2}
    line = generalisation.summary_line(result)
    assert line == ("mean unseen SRCC 0.500 (seen 0.600), kadid groups 0.400, phone groups 0.700, "
                    "every phone group held out at once 0.200")
    data = json.loads(generalisation.record(result, tmp_path, "cmd").read_text())
    assert data["summary"]["m"]["phone_held_out_srcc"] == 0.2 and line in data["notes"]


def test_held_out_sets_need_their_groups_in_the_dataset(prepared_tiny, tiny_params, tmp_path):
    with pytest.raises(ValueError, match="'phone' has no images in .*choose from blur.*kadid"):
        leave_one_group_out(_fast(tiny_params), prepared_tiny, tmp_path, groups=("phone",))


def test_the_cache_key_leaves_out_recipe_fields_added_later_while_they_are_off(prepared_tiny, tiny_params):
    """Rows cached before ``ema``, ``annotator_weight`` and ``local_map_weight`` existed stay valid while they are
    off; turning any on is a new recipe."""
    dataset = PreparedDataset.load(prepared_tiny)
    cfg = dataclasses.replace(tiny_params.train_teacher, ema=0.0, annotator_weight=0.0, local_map_weight=0.0)
    added = ("ema", "annotator_weight", "local_map_weight")
    before = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in added}  # the recipe as it was cached
    old = json_digest({"manifest": dataset.manifest_sha256, "model": "m", "weights": None, "group": "noise",
                       "train": before})
    assert generalisation._cache_key(dataset, "m", None, cfg, "noise") == old
    for on in (dict(ema=0.99), dict(annotator_weight=1.0), dict(local_map_weight=1.0)):
        assert generalisation._cache_key(dataset, "m", None, dataclasses.replace(cfg, **on), "noise") != old


def test_each_held_out_group_is_held_against_its_figure_when_seen(tmp_path):
    """The mean of a group's test SRCC over the runs that saw it; the result only carries the mean when every
    held-out group has one, and the recorded rows and summary line show it."""
    rows = [{"group": "blur", "unseen_srcc": 0.5, "unseen_n": 5, "seen_srcc": 0.7, "seen_n": 9,
             "seen_by_group": {"noise": 0.8, "color": 0.2}},
            {"group": "noise", "unseen_srcc": 0.3, "unseen_n": 5, "seen_srcc": 0.6, "seen_n": 9,
             "seen_by_group": {"blur": 0.9, "color": 0.4}},
            {"group": "kadid", "unseen_srcc": 0.4, "unseen_n": 9, "seen_srcc": 0.6, "seen_n": 9,
             "seen_by_group": {"codec": 0.7}}]
    means = generalisation.seen_group_means(rows, ["blur", "noise", "color", "codec", "tone"])
    assert means == pytest.approx({"blur": 0.9, "noise": 0.8, "color": 0.3, "codec": 0.7})  # tone: never seen
    result = {"model": "m", "epochs": 9, "dataset_sha256": "abc", "groups": rows, "mean_unseen_srcc": 0.4,
              "mean_seen_srcc": 0.65, "seen_by_group": {"blur": 0.9, "noise": 0.8}, "mean_seen_by_group_srcc": 0.85}
    assert "the same groups when seen 0.850" in generalisation.summary_line(result)
    recorded = json.loads(generalisation.record(result, tmp_path, "cmd").read_text())
    assert [r.get("SRCC when seen") for r in recorded["rows"]] == [0.9, 0.8, None]


def test_type_decomposition_separates_offsets_between_types_from_order_within_them():
    """Two blur types, each with its levels in order, but the worse type scored higher: the group's SRCC is low,
    within each type it is 1, and knowing each type's mean MOS restores the order; noise has its levels reversed."""
    rows = []
    for t, base in (("gaussian_blur", 0.8), ("motion_blur", 0.3)):  # motion blur is worse, yet scored higher
        rows += [{"dist_type": t, "mos": base - 0.1 * k, "score": (1.0 - base) - 0.01 * k} for k in range(5)]
    rows += [{"dist_type": "white_noise", "mos": 0.9 - 0.1 * k, "score": 0.1 * k} for k in range(5)]
    rows += [{"dist_type": "mix:gaussian_blur+white_noise", "mos": 0.5, "score": 0.5}]  # not a group: left out
    table = generalisation.type_decomposition(pd.DataFrame(rows)).set_index("group")
    assert list(table.index) == ["blur", "noise"] and table.loc["blur", "n"] == 10
    blur = table.loc["blur"]
    assert blur["group_srcc"] < 0 and blur["within_type_srcc"] == pytest.approx(1.0)
    assert blur["offsets_oracle_srcc"] == pytest.approx(1.0)
    assert table.loc["noise", "within_type_srcc"] == pytest.approx(-1.0) == table.loc["noise", "group_srcc"]


def test_generalisation_types_script_reads_finished_runs(tmp_path, capsys):
    import runpy
    import sys

    run = tmp_path / "out" / "runs" / "blur"
    run.mkdir(parents=True)
    pd.DataFrame([{"image_id": f"i{k}", "split": "test", "dist_type": "gaussian_blur", "mos": 0.1 * k,
                   "score": 0.2 * k, "seen": False, "unseen": True} for k in range(6)]
                 + [{"image_id": "j", "split": "test", "dist_type": "white_noise", "mos": 0.3, "score": 0.1,
                     "seen": True, "unseen": False}]).to_csv(run / "scores.csv", index=False)
    argv = sys.argv
    sys.argv = ["generalisation_types.py", str(tmp_path / "out")]
    try:
        runpy.run_path(str(ROOT / "benchmarks/generalisation_types.py"), run_name="__main__")
    finally:
        sys.argv = argv
    printed = capsys.readouterr().out
    assert "blur" in printed and "noise" not in printed  # only the held-out group's unseen images
    sys.argv = ["generalisation_types.py", str(tmp_path)]
    try:
        with pytest.raises(SystemExit, match="no runs/<group>/scores.csv"):
            runpy.run_path(str(ROOT / "benchmarks/generalisation_types.py"), run_name="__main__")
    finally:
        sys.argv = argv


def test_an_interrupted_group_resumes_its_own_training_only(tmp_path):
    work = tmp_path / "runs" / "noise"
    assert not generalisation._resumable(work, "k1")  # nothing there yet; the key is recorded
    last = work / "model" / "checkpoints" / "last.pt"
    last.parent.mkdir(parents=True)
    last.write_bytes(b"interrupted")
    assert generalisation._resumable(work, "k1")  # the same row, interrupted: resume
    assert not generalisation._resumable(work, "k2") and not (work / "model").exists()  # another recipe's: cleared
    assert (work / "key.txt").read_text().strip() == "k2"
    assert not generalisation._resumable(work, None)


def test_a_group_whose_row_was_lost_resumes_from_its_checkpoint(prepared_tiny, tiny_params, tmp_path, monkeypatch):
    """A run that trained but never wrote its row (killed while scoring) trains no more on the next call."""
    params = _fast(tiny_params)
    first = leave_one_group_out(params, prepared_tiny, tmp_path, groups=("blur",))["groups"][0]
    for cached in (tmp_path / "cache").glob("blur-*.json"):
        cached.unlink()
    calls = []
    real = generalisation.train_teacher

    def spy(*args, resume=False, **kwargs):
        calls.append(resume)
        return real(*args, resume=resume, **kwargs)

    monkeypatch.setattr(generalisation, "train_teacher", spy)
    again = leave_one_group_out(params, prepared_tiny, tmp_path, groups=("blur",))["groups"][0]
    assert calls == [True] and again["unseen_srcc"] == pytest.approx(first["unseen_srcc"], abs=1e-9)
