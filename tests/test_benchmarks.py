"""The benchmark scripts run (their numbers are never asserted)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_train_throughput_runs_from_the_source_tree_without_pipeline_packages(tmp_path):
    """As on the GPU box: PYTHONPATH=src, and mlflow/dvc/kfp/pandas unavailable."""
    block = ("import sys\nfor n in ('mlflow', 'dvc', 'kfp', 'great_expectations', 'pandas'): sys.modules[n] = None\n"
             "import runpy; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')\n")
    out = tmp_path / "t.json"
    cmd = [sys.executable, "-c", block, str(ROOT / "benchmarks/train_throughput.py"), "--teacher",
           "mobileiqa_teacher_mobilevitv2_050_tiny", "--student", "mobileiqa_student_mobilenetv3_small_050_tiny",
           "--size", "96x80", "--batch", "2", "--steps", "1", "--warmup", "1", "--device", "cpu", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.loads(out.read_text())["rows"]
    assert [r["mode"] for r in rows] == ["teacher", "distill", "distill-cached"]
    assert all(r["img_per_s"] > 0 for r in rows)


def test_render_puts_known_and_other_result_kinds_in_one_document(tmp_path):
    from mobileiqa.eval.report import render

    machine = tmp_path / "box-a"
    machine.mkdir()
    (machine / "serve_load.json").write_text(json.dumps({
        "machine": "box-a", "command": "python benchmarks/serve_load.py", "date": "2026-11-26",
        "rows": [{"clients": 50, "errors": 0, "p50_ms": 12.5, "extra": {"nested": 1}}]}))
    command = "python benchmarks/heads_latency.py m.pt"
    (machine / "heads_latency.json").write_text(json.dumps({  # rows repeating the file's command say it once
        "machine": "box-a", "command": command, "date": "2026-11-27",
        "rows": [{"label": "a", "cost": 1.5, "command": command, "date": "2026-11-26"},
                 {"label": "b", "cost": 2.5, "command": command, "date": "2026-11-27"}]}))
    (machine / "model_compute.json").write_text(json.dumps({
        "machine": "box-a", "command": "python benchmarks/model_compute.py", "date": "2026-11-26", "torch": "2",
        "threads": 1, "rows": [{"model": "m", "params_m": 1.0, "width": 8, "height": 8, "gmacs": 0.1,
                                "latency_s": 0.01, "peak_mem_mb": None}]}))
    text = render(tmp_path)
    assert text.index("## Model compute") < text.index("## Serve load")
    assert "| clients | errors | p50_ms |" in text and "| 50 | 0 | 12.5 |" in text
    assert "`python benchmarks/serve_load.py`" in text and "nested" not in text
    assert "| label | cost | date |" in text and "| a | 1.5 | 2026-11-26 |" in text  # the dates differ: kept


def test_model_compute_measures_torch_onnxruntime_and_exported_files_and_plots_latency(tmp_path):
    import runpy

    from mobileiqa.export.exporter import build_metadata, load_source
    from mobileiqa.export.onnx import export_onnx

    tiny = "mobileiqa_student_mobilenetv3_small_050_tiny"
    net, name, meta, version = load_source(tiny)
    exported = export_onnx(net, tmp_path / "export" / "model.onnx", build_metadata(name, net, meta, version, None))
    results, doc = tmp_path / "results", tmp_path / "docs" / "BENCHMARKS.md"
    plot = tmp_path / "docs" / "plots" / "l.png"
    main = runpy.run_path(str(ROOT / "benchmarks/model_compute.py"), run_name="model_compute")["main"]
    main(["--models", tiny, "--files", str(exported), "--sizes", "96x64", "--threads", "1", "--repeats", "1",
          "--results", str(results), "--doc", str(doc), "--plot", str(plot)])

    data = json.loads(next(results.glob("*/model_compute.json")).read_text())
    rows = {(r["model"], r["backend"]): r for r in data["rows"]}
    assert set(rows) == {(tiny, "torch"), (tiny, "onnxruntime"), ("model.onnx", "onnxruntime")}
    for r in rows.values():
        assert (r["width"], r["height"], r["threads"]) == (96, 64, 1)
        assert r["latency_s"] > 0 and r["peak_mem_mb"] is not None
    # the exported file names its registered model: same params and GMACs as the torch row
    file_row, torch_row = rows[("model.onnx", "onnxruntime")], rows[(tiny, "torch")]
    assert (file_row["params_m"], file_row["gmacs"]) == (torch_row["params_m"], torch_row["gmacs"])
    assert file_row["params_m"] > 0 and file_row["file"] == str(exported)
    assert plot.stat().st_size > 0 and data["plots"] == [str(plot.resolve())]
    text = doc.read_text()
    assert "| onnxruntime |" in text and "| model.onnx |" in text and "](plots/l.png)" in text


def test_render_links_plots_relative_to_the_document(tmp_path):
    from mobileiqa.eval.report import render

    machine = tmp_path / "benchmarks" / "results" / "box-a"
    machine.mkdir(parents=True)
    (machine / "serve_load.json").write_text(json.dumps({
        "machine": "box-a", "command": "python benchmarks/serve_load.py", "date": "2026-11-26",
        "rows": [{"clients": 1}], "plots": ["docs/plots/serve_latency.png", str(tmp_path / "elsewhere" / "b.png")]}))
    text = render(tmp_path / "benchmarks" / "results", doc=tmp_path / "docs" / "BENCHMARKS.md", root=tmp_path)
    assert "![serve latency](plots/serve_latency.png)" in text and "](../elsewhere/b.png)" in text
    assert text.index("| 1 |") < text.index("![serve latency]")
    default = render(tmp_path / "benchmarks" / "results", root=tmp_path)  # default doc: <root>/docs/BENCHMARKS.md
    assert "](plots/serve_latency.png)" in default


def test_ort_profile_splits_a_forward_by_operator_type(tmp_path):
    import runpy

    from mobileiqa.export.exporter import build_metadata, load_source
    from mobileiqa.export.onnx import export_onnx

    net, name, meta, version = load_source("mobileiqa_student_mobilenetv3_small_050_tiny")
    exported = export_onnx(net, tmp_path / "model.onnx", build_metadata(name, net, meta, version, None))
    results, doc = tmp_path / "results", tmp_path / "BENCHMARKS.md"
    main = runpy.run_path(str(ROOT / "benchmarks/ort_profile.py"), run_name="ort_profile")["main"]
    main([str(exported), "--width", "96", "--height", "64", "--repeats", "2", "--results", str(results),
          "--doc", str(doc)])
    (row,) = json.loads(next(results.glob("*/ort_profile.json")).read_text())["rows"]
    assert row["file"] == "model.onnx" and row["wall_ms"] > 0 and 0 < row["kernel_ms"] <= row["wall_ms"] * 1.5
    # which operators lead depends on the machine's load (and on ORT's fusions): check the row's shape here and the
    # complete split below, not which operators come first
    top = [entry.rsplit(" ", 1) for entry in row["top_ops"].split(", ")]
    assert len(top) == 5 and all(op.isidentifier() and share.endswith("%") for op, share in top)
    assert 0 < sum(int(share.rstrip("%")) for _, share in top) <= 100 + len(top)  # rounded shares
    assert "model.onnx" in doc.read_text()
    profile = runpy.run_path(str(ROOT / "benchmarks/ort_profile.py"), run_name="ort_profile")["profile"]
    _, per_op = profile(exported, 96, 64, 1)
    assert any("Conv" in op for op in per_op) and all(ms >= 0 for ms in per_op.values())  # a CNN spends time in Conv


def test_pipeline_times_reads_stage_durations_from_a_stamped_log(tmp_path):
    import runpy

    log = tmp_path / "repro.log"
    log.write_text("23:59:00 'data.dvc' didn't change, skipping\n23:59:01 Running stage 'prepare':\n"
                   "23:59:02 > mobileiqa prepare\n00:04:01 Stage 'validate' didn't change, skipping\n"
                   "00:04:01 Running stage 'train_teacher':\nno stamp here\n00:14:01 Running stage 'export':\n"
                   "00:15:01 Updating lock file 'dvc.lock'\n")
    mod = runpy.run_path(str(ROOT / "benchmarks/pipeline_times.py"), run_name="pipeline_times")
    times, skipped = mod["stage_times"](mod["_read_log"](log))
    assert times == {"prepare": 300.0, "train_teacher": 600.0, "export": 60.0}  # across midnight
    assert skipped == ["validate"]
    mod["main"](["--log", str(log), "--results", str(tmp_path / "r"), "--doc", str(tmp_path / "B.md"),
                 "--note", "two other jobs shared the cores"])
    rows = {r["stage"]: r["minutes"] for r in
            json.loads(next((tmp_path / "r").glob("*/pipeline_times.json")).read_text())["rows"]}
    assert rows["= data"] == 5.0 and rows["= training"] == 10.0 and rows["= rest"] == 1.0 and rows["= total"] == 16.0
    assert "two other jobs shared the cores" in (tmp_path / "B.md").read_text()  # the note reaches the doc


def test_train_probe_trains_and_validates_a_tiny_model(prepared_tiny, tmp_path):
    out = tmp_path / "probe.json"
    cmd = [sys.executable, str(ROOT / "benchmarks/train_probe.py"), "p", "--dataset", str(prepared_tiny),
           "--model", "mobileiqa_teacher_mobilevitv2_050_tiny", "--crop", "64", "--steps", "2", "--eval", "1",
           "--pre", "0.5", "--cache", str(tmp_path / "images.pkl"), "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    history = json.loads(out.read_text())["history"]
    assert [r["step"] for r in history] == [1, 2] and (tmp_path / "images.pkl").exists()
    assert history[0]["mse"] == 0 and history[1]["mse"] > 0  # the first half trains the aux head alone
    assert all(math.isfinite(r["val_srcc"]) for r in history)  # scores spread: a constant scorer gives nan


def test_train_cpu_keeps_one_row_per_seed_and_recipe_and_summarises_the_default_recipe(tmp_path):
    import runpy

    mod = runpy.run_path(str(ROOT / "benchmarks/train_cpu.py"), run_name="train_cpu")

    def run(seed, student_srcc, overrides=(), recipe="r0"):
        stage = {"val_srcc": 0.7, "test_srcc": 0.75, "test_plcc": 0.7, "wall_s": 600.0, "s_per_step": 1.5}
        params = {"teacher": "t", "student": "s", "overrides": list(overrides), "recipe": recipe}
        return {"machine": "box", "seed": seed, "params": params, "teacher": stage,
                "student": {**stage, "test_srcc": student_srcc, "wall_s": None}}

    out = tmp_path / "train_cpu.json"
    runs = (run(1, 0.70), run(0, 0.60), run(1, 0.80), run(2, 0.10, ["train_teacher.lr=1"], "r1"),
            run(2, 0.20, recipe="old"))  # the last: seed 2 under an earlier default (no overrides, other recipe)
    for r in runs:
        out.write_text(json.dumps(mod["merge"](out, r, "r0")))
    result = json.loads(out.read_text())
    assert [(r["seed"], r["params"]["recipe"]) for r in result["runs"]] == [
        (0, "r0"), (1, "r0"), (2, "r1"), (2, "old")]  # seed 1's rerun replaced its first run
    assert [r["student val / test SRCC"] for r in result["rows"]] == [
        "0.700 / 0.600", "0.700 / 0.800", "0.700 / 0.100", "0.700 / 0.200"]
    assert result["rows"][0]["student − teacher (test)"] == -0.15 and result["rows"][0]["student min"] is None
    # only the default recipe's runs count: neither the override run nor the older default's
    assert "2 seed(s) [0, 1]: student test SRCC mean 0.700 (range 0.600-0.800)" in result["notes"]


def test_train_cpu_rescoring_keeps_the_training_times_and_reports_per_type_means(tmp_path):
    """``--existing`` rescoring (no wall times) keeps the times the training recorded for the same seed and
    recipe; the notes name the types whose mean student SRCC over the default's seeds is negative."""
    import runpy

    mod = runpy.run_path(str(ROOT / "benchmarks/train_cpu.py"), run_name="train_cpu")

    def run(seed, per_type, wall):
        stage = {"val_srcc": 0.7, "test_srcc": 0.75, "test_plcc": 0.7, "wall_s": wall, "s_per_step": 1.5,
                 "eval_and_overhead_s": None if wall is None else 60.0}
        params = {"teacher": "t", "student": "s", "overrides": [], "recipe": "r0"}
        student = {**stage, **({"test_per_type": per_type} if per_type else {})}
        return {"machine": "box", "seed": seed, "params": params, "teacher": stage, "student": student,
                "total_wall_s": None if wall is None else 2 * wall}

    out = tmp_path / "train_cpu.json"
    out.write_text(json.dumps(mod["merge"](out, run(0, None, 600.0), "r0")))
    assert "per distortion type" not in json.loads(out.read_text())["notes"]  # a run without the table
    out.write_text(json.dumps(mod["merge"](out, run(0, {"blur": 0.5, "contrast": -0.3}, None), "r0")))
    out.write_text(json.dumps(mod["merge"](out, run(1, {"blur": 0.7, "contrast": 0.1}, None), "r0")))
    result = json.loads(out.read_text())
    seed0 = result["runs"][0]
    assert seed0["student"]["wall_s"] == 600.0 and seed0["total_wall_s"] == 1200.0  # kept from the training
    assert seed0["student"]["test_per_type"] == {"blur": 0.5, "contrast": -0.3}  # the rescoring's table
    assert result["runs"][1]["student"]["wall_s"] is None  # nothing to keep for a new seed
    assert result["per_type_mean"] == {"blur": 0.6, "contrast": -0.1}
    assert "lowest contrast -0.100; negative types: contrast (of 2)" in result["notes"]


def test_train_cpu_scores_a_model_with_its_own_normalisation(prepared_tiny, tiny_params, tmp_path):
    """A mean-0.5 (EfficientNet-Lite) checkpoint scores through the benchmark as it does through the shipped
    Predictor; ImageNet mean/std (the benchmark's old behaviour) gives a different SRCC on the same images."""
    import runpy

    import pytest
    import torch

    from mobileiqa.data.manifest import PreparedDataset, read_manifest
    from mobileiqa.eval.metrics import accuracy
    from mobileiqa.models.checkpoint import save_model
    from mobileiqa.predict import Predictor
    from mobileiqa.preprocess import IMAGENET
    from mobileiqa.train.batches import split_images
    from mobileiqa.train.scoring import predict
    from tests.modelgen import spread_model

    mod = runpy.run_path(str(ROOT / "benchmarks/train_cpu.py"), run_name="train_cpu")
    name = "mobileiqa_student_efficientnet_lite0_tiny"
    model = spread_model(name, pretrained="package:efficientnet-lite0")
    policy = tiny_params.train_teacher.resolution
    ckpt = save_model(model, name, tmp_path / "model.pt", meta={"resolution": policy.to_dict()})
    got = mod["score"](ckpt, prepared_tiny, tiny_params, 4)

    dataset = PreparedDataset.load(prepared_tiny)
    frame = read_manifest(dataset.manifest)
    test = frame[frame["split"] == "test"]
    shipped = Predictor.from_path(ckpt)([dataset.root / p for p in test["path"]])
    assert got["test_srcc"] == pytest.approx(accuracy(shipped, test["mos"].to_numpy()).srcc, abs=1e-3)
    from mobileiqa.eval.metrics import grouped

    by_type = grouped(shipped, test["mos"].to_numpy(), test["dist_type"].astype(str).tolist())
    assert set(got["test_per_type"]) == set(by_type)
    for t, m in by_type.items():  # None where a type has fewer than 3 test images (SRCC undefined)
        assert got["test_per_type"][t] == (None if m.n < 3 else pytest.approx(m.srcc, abs=1e-3))
    wrong = split_images(dataset, frame, "test", policy, norm=IMAGENET)
    assert abs(accuracy(predict(model, wrong, 4, torch.device("cpu")), test["mos"].to_numpy()).srcc
               - got["test_srcc"]) > 1e-3


def test_train_cpu_recipe_digest_ignores_seeds_and_sees_the_recipe():
    import runpy

    from mobileiqa.config import load_params

    digest = runpy.run_path(str(ROOT / "benchmarks/train_cpu.py"), run_name="train_cpu")["recipe_digest"]

    def of(*sets):
        return digest(load_params(ROOT / "params.yaml", [], list(sets)))

    assert of() == of("train_teacher.seed=3", "distill_student.train.seed=3")
    assert of() != of("distill_student.init_from_teacher=false")
    assert of() != of("train_teacher.lr=0.001")
    assert of() != of("train_teacher.annotator_weight=0") != of("distill_student.train.annotator_weight=0")


def test_dataset_build_keeps_one_row_per_label_and_summarises_phone_labels(tmp_path):
    """`--report` records a build per `--label`; an older one-row file keeps its command and date."""
    from mobileiqa.environment import machine_id
    from mobileiqa.eval.report import render

    machine = tmp_path / "results"
    build = {"photos": 3, "images": 150, "bytes": 1e6, "resolution": {}, "splits": {},
             "agreement": {"mean_pairwise_srcc": 0.8}, "manifest_sha256": "a" * 64,
             "calibration_quality": {"uncalibrated_consensus_cell_srcc": 0.8, "calibrated_cell_srcc_heldout_refs": 0.9},
             "spec": {"long_side": 96, "levels_per_type": 1, "workers": 1}}
    phone = {**build, "images": 200,
             "phone_families": {"labels": {"webp": {"annotator_agreement": 0.9, "mos_falls_with_level": 0.95},
                                           "banding": {"annotator_agreement": 0.7, "mos_falls_with_level": 1.0},
                                           "mixtures": {"annotator_agreement": 0.2, "mos_falls_with_level": None}}},
             "mixtures": {"mixtures": 20, "regional_images": 5}}
    old = machine / machine_id() / "dataset_build.json"
    old.parent.mkdir(parents=True)
    old.write_text(json.dumps({"machine": machine_id(), "command": "python benchmarks/dataset_build.py --old",
                               "date": "2026-11-26", "rows": [{**build, "seconds": 60}]}))
    report = tmp_path / "build_report.json"
    report.write_text(json.dumps(phone))
    script = ROOT / "benchmarks/dataset_build.py"
    for _ in range(2):  # a rerun of a label replaces its row
        proc = subprocess.run([sys.executable, str(script), "--report", str(report), "--seconds", "120", "--label",
                               "phone", "--results", str(machine), "--doc", str(tmp_path / "B.md")],
                              capture_output=True, text=True, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.loads(old.read_text())["rows"]
    assert [r.get("label", "default") for r in rows] == ["default", "phone"]
    assert rows[1]["phone"] == {"families": 2, "min_agreement": 0.7, "min_mos_falls": 0.95, "max_level_mos_srcc": None}
    text = render(machine)
    assert "| phone | 3 | 200 | 96 | all | 1 | 2 | 20 / 5 | 1 | 2.0 min |" in text and "| 0.700, 95% |" in text
    assert "- default: `python benchmarks/dataset_build.py --old` (2026-11-26)" in text


def test_heads_latency_times_the_heads_per_round_and_keeps_one_row_per_label(tmp_path):
    import runpy

    from mobileiqa.export.exporter import build_metadata
    from mobileiqa.export.onnx import export_onnx
    from tests.export.heads import explained_model

    net = explained_model()
    exported = export_onnx(net, tmp_path / "model.onnx", build_metadata("tiny", net, {}, "t", None))
    results, doc = tmp_path / "results", tmp_path / "BENCHMARKS.md"
    main = runpy.run_path(str(ROOT / "benchmarks/heads_latency.py"), run_name="heads_latency")["main"]
    common = ["--size", "96x64", "--repeats", "3", "--profile-repeats", "1", "--results", str(results),
              "--doc", str(doc)]
    main([str(exported), "--rounds", "2", "--label", "a", *common])
    main([str(exported), "--rounds", "1", "--label", "a", *common])  # the same label: its row is replaced
    main([str(exported), "--rounds", "1", "--label", "b", *common])
    rows = json.loads(next(results.glob("*/heads_latency.json")).read_text())["rows"]
    assert [(r["label"], r["rounds"]) for r in rows] == [("a", 1), ("b", 1)]
    row = rows[0]
    assert row["ms_score_only"] > 0 and row["kernel_ms"] > 0 and row["kernel_pct_median"] > 0
    assert " to " in row["cost_pct_range"] and "Reorder" not in row["kernel_ops"]
    assert "heads latency" in doc.read_text().lower()


def test_heads_latency_refuses_a_graph_without_explanation_outputs_naming_it(tmp_path):
    import runpy

    import pytest

    from mobileiqa.export.exporter import build_metadata, load_source
    from mobileiqa.export.onnx import export_onnx

    net, name, meta, version = load_source("mobileiqa_student_mobilenetv3_small_050_tiny")  # no heads
    plain = export_onnx(net, tmp_path / "plain.onnx", build_metadata(name, net, meta, version, None))
    main = runpy.run_path(str(ROOT / "benchmarks/heads_latency.py"), run_name="heads_latency")["main"]
    with pytest.raises(SystemExit, match=r"plain\.onnx: has no explanation outputs"):
        main([str(plain), "--size", "96x64", "--results", str(tmp_path / "r"), "--doc", str(tmp_path / "B.md")])
    assert not (tmp_path / "r").exists()
