"""The benchmark scripts run (their numbers are never asserted)."""

from __future__ import annotations

import json
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
    (machine / "model_compute.json").write_text(json.dumps({
        "machine": "box-a", "command": "python benchmarks/model_compute.py", "date": "2026-11-26", "torch": "2",
        "threads": 1, "rows": [{"model": "m", "params_m": 1.0, "width": 8, "height": 8, "gmacs": 0.1,
                                "latency_s": 0.01, "peak_mem_mb": None}]}))
    text = render(tmp_path)
    assert text.index("## Model compute") < text.index("## Serve load")
    assert "| clients | errors | p50_ms |" in text and "| 50 | 0 | 12.5 |" in text
    assert "`python benchmarks/serve_load.py`" in text and "nested" not in text
