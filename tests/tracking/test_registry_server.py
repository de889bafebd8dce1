"""Register → gate → promote → card against a real ``mlflow server`` (PostgreSQL backend store, S3 artifacts on
127.0.0.1), concurrent promotions, the promotion lock, and the default local sqlite store.

Model files here are placeholders (registration and promotion never load them); scoring is in test_serving.py.
"""

from __future__ import annotations

import json
import random
import threading
import uuid
from pathlib import Path

import pytest

from mobileiqa.cli import main
from mobileiqa.config import load_params
from mobileiqa.tracking.mlflow_registry import CHAMPION, Evidence, client, register_version
from mobileiqa.tracking.promotion import PromotionLock, break_lock, history, promote
from tests.tracking.conftest import write_stage_dirs

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def placeholder_export(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("placeholder-export")
    (out / "model.onnx").write_bytes(b"onnx placeholder")
    (out / "model.ort").write_bytes(b"ort placeholder")
    (out / "export.json").write_text(json.dumps({"model": "mobileiqa_student_tiny", "shipped": ["onnx", "ort"],
                                                 "latency": {"ms": 42.0, "machine": "cpu-test"}}))
    return out


def promote_with(c, params, *args):
    """``promote`` with the profile's one int8 drift bound (``export.int8_max_srcc_drop``)."""
    return promote(c, params.register, *args, int8_max_drift=params.export.int8_max_srcc_drop)


def params_for(uri: str, name: str, *extra: str):
    return load_params(ROOT / "params.yaml", [ROOT / "params/tiny.yaml"],
                       [f"tracking.uri={uri}", f"register.model_name={name}", *extra])


def cli_args(uri: str, name: str) -> list[str]:
    return ["--params", str(ROOT / "params.yaml"), "--set", f"tracking.uri={uri}", "--set",
            f"register.model_name={name}"]


def test_register_promote_refuse_and_card_on_postgres_and_s3(mlflow_server, s3_server, postgres_url,
                                                            placeholder_export, tmp_path, capsys):
    name = f"mobileiqa-student-cli-{uuid.uuid4().hex[:6]}"
    args = cli_args(mlflow_server, name)
    # a weak first version (SRCC 0.55 < the 0.60 floor) is registered but never champion, even with no champion
    weak_eval, weak_val = write_stage_dirs(tmp_path / "weak", srcc=0.55, plcc=0.60)
    assert main(["register", *args, "--eval", str(weak_eval), "--export", str(placeholder_export),
                 "--validation", str(weak_val), "--out", str(tmp_path / "reg.json")]) == 0
    reg = json.loads((tmp_path / "reg.json").read_text())
    assert reg["version"] == "1" and reg["alias"] == "challenger" and reg["promotion"]["outcome"] == "refused"
    assert reg["promotion"]["gates"]["srcc_floor"] == {"passed": False, "detail": "SRCC 0.5500 < floor 0.6"}
    assert "v1 NOT promoted: 1 gate(s) failed; @champion stays none" in capsys.readouterr().out
    # a good one is promoted by `register` itself (register.auto_promote)
    good_eval, good_val = write_stage_dirs(tmp_path / "good", srcc=0.80, plcc=0.82)
    assert main(["register", *args, "--eval", str(good_eval), "--export", str(placeholder_export),
                 "--validation", str(good_val), "--out", str(tmp_path / "reg.json")]) == 0
    assert json.loads((tmp_path / "reg.json").read_text())["alias"] == "champion"
    assert "v2 promoted to @champion (was none)" in capsys.readouterr().out
    assert main(["promote", *args]) == 0 and "v2 is already @champion" in capsys.readouterr().out

    worse_eval, worse_val = write_stage_dirs(tmp_path / "worse", srcc=0.60, plcc=0.82, validation=False)
    assert main(["register", *args, "--eval", str(worse_eval), "--export", str(placeholder_export),
                 "--validation", str(worse_val), "--set", "register.auto_promote=false"]) == 0
    assert "not promoted automatically: register.auto_promote is off" in capsys.readouterr().out
    assert main(["promote", *args]) == 1  # a worse challenger is refused, with the reasons printed
    out = capsys.readouterr().out
    assert "v3 NOT promoted: 2 gate(s) failed; @champion stays v2" in out
    assert "[FAIL] srcc: SRCC 0.6000 vs champion v2 0.8000" in out and "[FAIL] data_validation" in out

    c = client(params_for(mlflow_server, name).tracking)
    assert c.get_model_version_by_alias(name, CHAMPION).version in ("2", 2)
    mv = c.get_model_version(name, "3")
    assert mv.tags["metrics.srcc"] == "0.6" and mv.tags["dataset_sha256"] == "d" * 64 and mv.tags["profile"]
    assert mv.tags["git_commit"] and "challenger" in mv.aliases
    assert [r["outcome"] for r in history(c, name)] == ["refused", "promoted", "already-champion", "refused"]

    assert main(["card", *args, "--version", "3"]) == 0
    card = capsys.readouterr().out
    assert "## Metrics" in card and "0.6000" in card and "niqe" in card and "## Limitations" in card

    # the stores really are PostgreSQL and S3
    import boto3
    import psycopg

    keys = [o["Key"] for o in boto3.client("s3", endpoint_url=s3_server).list_objects_v2(
        Bucket="mobileiqa-mlflow")["Contents"]]
    assert any(k.endswith("/model.onnx") for k in keys) and any(k.endswith("/model_card.md") for k in keys)
    with psycopg.connect(postgres_url.replace("+psycopg", "")) as conn:
        assert conn.execute("SELECT count(*) FROM model_versions WHERE name = %s", (name,)).fetchone()[0] == 3
    secrets = json.dumps(mv.tags) + json.dumps(c.get_run(mv.run_id).data.params)
    assert "testing" not in secrets.replace("tracking", "")  # the fake AWS credentials never reach tags/params


def _evidence(srcc: float) -> Evidence:
    return Evidence(dataset_sha256="e" * 64, split="test", n=30, srcc=srcc, plcc=srcc, latency_ms=10.0,
                    latency_machine="cpu-test", formats=("onnx", "ort"), validation_passed=True, profile="tiny",
                    baselines={"niqe": {"srcc": 0.30}})


def test_concurrent_promotions_keep_the_invariant(mlflow_server, placeholder_export):
    name = f"mobileiqa-student-race-{uuid.uuid4().hex[:6]}"
    params = params_for(mlflow_server, name, "register.lock_timeout_s=300")
    scores = [0.70, 0.74, 0.78, 0.82, 0.86, 0.90]
    random.Random(0).shuffle(scores)
    versions = [register_version(params.register, params.tracking, placeholder_export, _evidence(s), "card").version
                for s in scores]
    outcomes, errors = {}, []
    start = threading.Barrier(len(versions))

    def attempt(version: str) -> None:
        try:
            c = client(params.tracking)
            start.wait()
            outcomes[version] = promote_with(c, params, version)
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=attempt, args=(v,)) for v in versions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors

    c = client(params.tracking)
    rows = history(c, name)
    # every attempt is recorded exactly once, and no version was lost
    assert sorted(r["version"] for r in rows) == sorted(versions)
    assert {str(mv.version) for mv in c.search_model_versions(f"name='{name}'")} == set(versions)
    # promotions form one chain: each judged against the champion left by the previous one (mutual exclusion)
    champion = None
    for r in rows:
        assert r["previous_champion"] == champion, rows
        assert r["outcome"] in ("promoted", "refused")
        if r["outcome"] == "promoted":
            champion = r["version"]
    # the champion is a version that passed its gates
    final = str(c.get_model_version_by_alias(name, CHAMPION).version)
    assert final == champion and outcomes[final].promoted
    assert all(g.passed for g in outcomes[final].gates)
    assert max(scores) - float(c.get_model_version(name, final).tags["metrics.srcc"]) <= 0.04 + 1e-9


def test_lock_timeout_is_recorded_and_the_lock_can_be_broken(mlflow_server, placeholder_export):
    name = f"mobileiqa-student-lock-{uuid.uuid4().hex[:6]}"
    params = params_for(mlflow_server, name, "register.lock_timeout_s=0.5")
    register_version(params.register, params.tracking, placeholder_export, _evidence(0.8), "card")
    c = client(params.tracking)
    held = PromotionLock(c, name, 1).__enter__()  # a promotion that died while holding the lock
    outcome = promote_with(c, params)
    assert outcome.outcome == "lock-timeout" and "held by pid" in outcome.gates[0].detail
    assert [r["outcome"] for r in history(c, name)] == ["lock-timeout"]
    assert break_lock(c, name) is not None
    assert promote_with(c, params).promoted
    held.__exit__(None, None, None)  # the stale holder no longer owns it: nothing to remove
    assert [r["outcome"] for r in history(c, name)] == ["lock-timeout", "promoted"]


def test_default_store_is_a_local_sqlite_file(placeholder_export, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    params = load_params(ROOT / "params.yaml", [ROOT / "params/tiny.yaml"])
    assert params.tracking.uri is None
    reg = register_version(params.register, params.tracking, placeholder_export, _evidence(0.8), "card")
    assert promote_with(client(params.tracking), params, reg.version).promoted
    assert (tmp_path / "mlflow.db").is_file() and any((tmp_path / "mlruns").rglob("model.onnx"))


def test_champion_evaluated_on_another_split_is_rescored(mlflow_server, placeholder_export):
    name = f"mobileiqa-student-split-{uuid.uuid4().hex[:6]}"
    params = params_for(mlflow_server, name)
    c = client(params.tracking)
    old = register_version(params.register, params.tracking, placeholder_export,
                           Evidence(**{**vars(_evidence(0.95)), "split": "val"}), "card").version
    assert promote_with(c, params, old).promoted
    new = register_version(params.register, params.tracking, placeholder_export, _evidence(0.80), "card").version
    refused = promote_with(c, params, new)  # 0.95 on "val" says nothing about "test": not comparable
    assert refused.outcome == "refused" and "comparable" in {g.name for g in refused.gates if not g.passed}
    calls = []

    def rescore(model, version, challenger):
        calls.append((model, version, challenger.split))
        return 0.78, 0.79  # the champion on the challenger's split

    outcome = promote_with(c, params, new, rescore)
    assert outcome.promoted, outcome.report()
    assert calls == [(name, old, "test")]
    assert "re-scored" in next(g.detail for g in outcome.gates if g.name == "comparable")
