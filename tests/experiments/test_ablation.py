"""Student ablation, tiny version: every (model, seed) is distilled from one teacher with its configured weights and
cached, the summary has costs, int8 drift, seed means and paired-bootstrap differences, and the shipping rule picks
the cheapest model within ``ship_within`` of the best mean."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from mobileiqa.config import ConfigError, load_params
from mobileiqa.data.manifest import PreparedDataset, read_manifest
from mobileiqa.eval.metrics import paired_bootstrap_diff, srcc
from mobileiqa.eval.scorecard import split_frame
from mobileiqa.experiments import ablation
from mobileiqa.experiments.ablation import run_ablation, summarise
from mobileiqa.models import create_model
from mobileiqa.models.checkpoint import save_model

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def teacher(tmp_path_factory, tiny_params):
    path = tmp_path_factory.mktemp("teacher") / "model.pt"
    save_model(create_model(tiny_params.models.teacher).eval(), tiny_params.models.teacher, path)
    return path


def test_ablation_runs_every_seed_caches_and_summarises(prepared_tiny, tiny_params, teacher, tmp_path, monkeypatch):
    a = tiny_params.ablation
    out = tmp_path / "abl"
    assert run_ablation(tiny_params, prepared_tiny, teacher, out, only=(a.reference,), progress=lambda _: None) is None
    assert len(list((out / "cache").glob("*.json"))) == len(a.seeds)  # only the reference ran

    result = run_ablation(tiny_params, prepared_tiny, teacher, out, progress=lambda _: None)
    ref, var = result["rows"]
    dataset = PreparedDataset.load(prepared_tiny)
    mos = split_frame(read_manifest(dataset.manifest), dataset.root, tiny_params.evaluate.split)["mos"].to_numpy()
    cached = [json.loads(f.read_text()) for f in (out / "cache").glob("*.json")]
    assert ref["model"] == a.reference and ref["reference"] and var["model"] == a.variants[0]
    for row in (ref, var):
        assert row["seeds"] == len(a.seeds) and row["steps"] > 0
        assert row["params_m"] > 0 and row["gmacs"] > 0 and row["ort_ms"] > 0
        # int8 drift against export.int8_max_srcc_drop (undefined, and so not within it, for constant scores)
        assert "int8_delta_srcc" in row and row["int8_within_bound"] == (
            row["int8_delta_srcc"] is not None and abs(row["int8_delta_srcc"]) <= tiny_params.export.int8_max_srcc_drop)
        # the summary is the per-seed SRCCs of the cached predictions on the evaluated split
        seeds = [srcc(np.asarray(c["pred"]), mos) for c in cached if c["model"] == row["model"]]
        assert len(seeds) == len(a.seeds)
        assert [row["srcc_mean"], row["srcc_min"], row["srcc_max"]] == pytest.approx(
            [np.mean(seeds), min(seeds), max(seeds)], nan_ok=True)
    assert ref["steps"] == var["steps"]  # equal optimiser steps
    assert var["diff"] == pytest.approx(var["srcc_mean"] - ref["srcc_mean"])
    assert var["diff_low"] <= var["diff_high"]
    assert json.loads((out / "ablation.json").read_text())["rows"][1]["model"] == a.variants[0]
    assert a.variants[0] in (out / "ablation.md").read_text()
    assert (out / "ablation.png").stat().st_size > 0

    def no_training(*args, **kwargs):
        raise AssertionError("a cached run was trained again")

    monkeypatch.setattr(ablation, "distill_student", no_training)
    again = run_ablation(tiny_params, prepared_tiny, teacher, out, progress=lambda _: None)
    assert [r["srcc_by_seed"] for r in again["rows"]] == [r["srcc_by_seed"] for r in result["rows"]]

    other_seed = dataclasses.replace(tiny_params, ablation=dataclasses.replace(a, seeds=(5,)))
    with pytest.raises(AssertionError, match="trained again"):  # a new seed is a new run, not a cache hit
        run_ablation(other_seed, prepared_tiny, teacher, out, only=(a.reference,), progress=lambda _: None)


def _runs(model: str, preds: list[np.ndarray]) -> list[dict]:
    return [{"model": model, "seed": s, "steps": 10, "srcc": 0.0, "plcc": 0.0, "pred": list(p)}
            for s, p in enumerate(preds)]


def test_summary_applies_the_shipping_rule(tiny_params):
    rng = np.random.default_rng(0)
    mos = rng.random(300)
    good = [mos + 0.3 * rng.standard_normal(300) for _ in range(2)]
    bad = [rng.random(300) for _ in range(2)]
    best = [mos + 0.1 * rng.standard_normal(300) for _ in range(2)]
    params = dataclasses.replace(tiny_params, ablation=dataclasses.replace(
        tiny_params.ablation, reference="ref", variants=("same", "cheap_bad", "best"), n_boot=200, ship_within=0.02))
    runs = {"ref": _runs("ref", good), "same": _runs("same", good), "cheap_bad": _runs("cheap_bad", bad),
            "best": _runs("best", best)}
    for model_runs in runs.values():
        for r in model_runs:
            r["srcc"], r["plcc"] = srcc(r["pred"], mos), 0.5
    costs = {"ref": {"params_m": 1.0, "gmacs": 3.0}, "same": {"params_m": 0.5, "gmacs": 1.5},
             "cheap_bad": {"params_m": 0.1, "gmacs": 0.5}, "best": {"params_m": 7.0, "gmacs": 20.0}}
    result = summarise(params, runs, costs, mos)
    rows = {r["model"]: r for r in result["rows"]}
    assert rows["same"]["diff"] == pytest.approx(0.0) and rows["cheap_bad"]["diff"] < -0.3
    gap = rows["best"]["srcc_mean"] - rows["same"]["srcc_mean"]
    assert gap > 0.02  # "good" trails the best by more than the tolerance ...
    assert [m for m, r in rows.items() if r["qualifies"]] == ["best"] and result["winner"] == "best"
    loose = dataclasses.replace(params, ablation=dataclasses.replace(params.ablation, ship_within=gap + 0.01))
    result = summarise(loose, runs, costs, mos)  # ... within a looser one, the cheapest of them ships
    assert result["winner"] == "same" and result["rule"]["ship_within"] == pytest.approx(gap + 0.01)
    assert not {r["model"]: r for r in result["rows"]}["cheap_bad"]["qualifies"]


def test_seed_averaged_paired_bootstrap():
    rng = np.random.default_rng(1)
    mos = rng.random(200)
    a = [mos + s * rng.standard_normal(200) for s in (0.2, 0.4)]
    b = [mos + 0.6 * rng.standard_normal(200)]
    d = paired_bootstrap_diff(a, b, mos, n_boot=300)
    assert d.observed == pytest.approx(np.mean([srcc(p, mos) for p in a]) - srcc(b[0], mos))
    assert d.low < d.observed < d.high and d.low > 0  # clearly better on average
    same = paired_bootstrap_diff(np.stack(a), np.stack(a), mos, n_boot=50)
    assert same.observed == 0 and same.low == 0 and same.high == 0
    with pytest.raises(ValueError, match=r"pred_a\[1\]"):
        paired_bootstrap_diff([a[0], a[1][:-1]], b, mos)


def test_ablation_config_is_checked(tmp_path):
    with pytest.raises(ConfigError, match="lists the reference"):
        load_params(ROOT / "params.yaml", overrides=[
            "ablation.variants=[mobileiqa_student_efficientnet_lite0]"])
    params = load_params(ROOT / "params.yaml")
    assert params.ablation.reference not in params.ablation.variants and len(params.ablation.seeds) == 3
    with pytest.raises(ConfigError, match="ship_within must be >= 0"):
        load_params(ROOT / "params.yaml", overrides=["ablation.ship_within=-0.1"])


def test_unknown_model_and_missing_teacher_are_named(prepared_tiny, tiny_params, teacher, tmp_path):
    with pytest.raises(ValueError, match="unknown model.*nope"):
        run_ablation(tiny_params, prepared_tiny, teacher, tmp_path, only=("nope",))
    with pytest.raises(FileNotFoundError, match="teacher checkpoint not found"):
        run_ablation(tiny_params, prepared_tiny, tmp_path / "missing.pt", tmp_path)


def test_ablation_is_logged_in_mlflow(prepared_tiny, tiny_params, teacher, tmp_path, monkeypatch):
    import mlflow

    monkeypatch.chdir(tmp_path)  # the sqlite store's artifacts go to ./mlruns
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    params = dataclasses.replace(
        tiny_params, tracking=dataclasses.replace(tiny_params.tracking, enabled=True, uri=uri),
        ablation=dataclasses.replace(tiny_params.ablation, seeds=(0,)))
    result = run_ablation(params, prepared_tiny, teacher, tmp_path / "abl", progress=lambda _: None)
    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(experiment_names=[f"{params.tracking.experiment}-ablation"])
    names = set(runs["tags.mlflow.runName"])
    assert names == {f"ablation/{m}/seed0" for m in ablation.models_of(params)} | {"ablation/summary"}
    per_run = runs[runs["tags.mlflow.runName"] != "ablation/summary"]
    assert per_run["metrics.test_srcc"].notna().all() and per_run["metrics.val_srcc"].notna().all()
    summary = runs[runs["tags.mlflow.runName"] == "ablation/summary"].iloc[0]
    ref = params.ablation.reference.removeprefix("mobileiqa_student_")
    assert summary[f"metrics.{ref}.srcc_mean"] == pytest.approx(result["rows"][0]["srcc_mean"])
    assert summary["tags.ablation_winner"] == str(result["winner"])


def test_ablation_start_follows_the_shipped_recipe_or_starts_fresh(tiny_params):
    """``recipe`` keeps the configured ``init_from_teacher`` (what dvc repro ships); ``fresh`` always turns it off."""
    def with_(start, init):
        return dataclasses.replace(
            tiny_params, ablation=dataclasses.replace(tiny_params.ablation, start=start),
            distill_student=dataclasses.replace(tiny_params.distill_student, init_from_teacher=init))
    assert ablation.recipe(with_("recipe", True), seed=3).init_from_teacher is True
    assert ablation.recipe(with_("recipe", False), seed=3).init_from_teacher is False
    cfg = ablation.recipe(with_("fresh", True), seed=3)
    assert cfg.init_from_teacher is False
    assert (cfg.train.seed, cfg.train.epochs) == (3, tiny_params.distill_student.train.epochs)
    with pytest.raises(ConfigError, match="ablation.start must be 'recipe' or 'fresh'"):
        load_params(ROOT / "params.yaml", overrides=["ablation.start=warm"])


def test_each_seed_learns_from_its_own_teacher(prepared_tiny, tiny_params, teacher, tmp_path, monkeypatch):
    """One --teacher per seed: seed s distils from teacher s, and the teacher's hash keys that seed's cache."""
    import torch

    import mobileiqa.train.distill as distill

    params = dataclasses.replace(tiny_params, ablation=dataclasses.replace(tiny_params.ablation, seeds=(0, 1)))
    other = tmp_path / "other_teacher.pt"
    torch.manual_seed(1)
    save_model(create_model(tiny_params.models.teacher).eval(), tiny_params.models.teacher, other)
    three = dataclasses.replace(tiny_params, ablation=dataclasses.replace(tiny_params.ablation, seeds=(0, 1, 2)))
    with pytest.raises(ValueError, match="2 teachers for 3 seeds"):
        ablation.Inputs.load(three, prepared_tiny, [teacher, other])
    seen = {}
    real = distill.distill_student

    def spy(cfg, dataset, teacher_path, *args, **kwargs):
        seen[cfg.train.seed] = Path(teacher_path)
        return real(cfg, dataset, teacher_path, *args, **kwargs)

    monkeypatch.setattr(ablation, "distill_student", spy)
    inputs = ablation.Inputs.load(params, prepared_tiny, [teacher, other])
    assert inputs.teacher_sha256[0] != inputs.teacher_sha256[1]
    rows = [ablation.run_one(params, inputs, params.ablation.reference, s, tmp_path / "abl") for s in (0, 1)]
    assert seen == {0: Path(teacher), 1: other}
    assert [r["teacher"] for r in rows] == [str(teacher), str(other)]
    assert all(r["init_from_teacher"] == params.distill_student.init_from_teacher for r in rows)
    with pytest.raises(ValueError, match="seed 5 is not in ablation.seeds"):
        ablation.run_one(params, inputs, params.ablation.reference, 5, tmp_path / "abl")


def test_each_student_trains_from_its_configured_weights(prepared_tiny, tiny_params, teacher, tmp_path, monkeypatch):
    """The ablation passes every model its ``models.weights_for`` weights and records them per row."""
    import mobileiqa.train.distill as distill

    lite0 = "mobileiqa_student_efficientnet_lite0_tiny"
    params = dataclasses.replace(
        tiny_params, models=dataclasses.replace(tiny_params.models,
                                                variant_weights={lite0: "package:efficientnet-lite0"}),
        ablation=dataclasses.replace(tiny_params.ablation, variants=(lite0,), seeds=(0,)))
    seen = {}
    real = distill.distill_student

    def spy(cfg, dataset, teacher_path, out, model, weights, *args, **kwargs):
        seen[model] = weights
        return real(cfg, dataset, teacher_path, out, model, weights, *args, **kwargs)

    monkeypatch.setattr(ablation, "distill_student", spy)
    inputs = ablation.Inputs.load(params, prepared_tiny, teacher)
    rows = {m: ablation.run_one(params, inputs, m, 0, tmp_path) for m in ablation.models_of(params)}
    assert seen == {params.ablation.reference: None, lite0: "package:efficientnet-lite0"}
    assert rows[lite0]["weights"] == "package:efficientnet-lite0" and rows[params.ablation.reference]["weights"] is None
    assert params.models.weights_for(params.models.student) == params.models.student_weights
