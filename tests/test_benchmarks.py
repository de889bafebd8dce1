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
