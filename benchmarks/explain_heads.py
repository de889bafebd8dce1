"""Explanation-heads benchmark: train the quality-map and spread heads on a trained student (its copy), time it,
and score them on the evaluated split: the map's mean per-image Spearman against the local targets, the spread's
SRCC against ``mos_std`` and the pointing accuracy on the quadrant set. One row per (student, seed).

    python benchmarks/explain_heads.py --model artifacts/student/model.pt [--dataset artifacts/dataset] [--seed 0]
        [--work /tmp/explain_heads] [--set distill_student.explain.epochs=20 ...] [--label seed0]
        [--out benchmarks/results/<machine>/explain_heads.json]

Targets (issue 19): map >= 0.6, pointing >= 80 %, spread SRCC >= 0.5 (the heads' latency cost is measured by the
export stage: ``export.json`` ``latency.explain_heads``). The student's own weights are never changed (the heads
read its detached features); the copy in ``--work`` gets the heads. Prints and records numbers, asserts nothing;
the CPU may be shared (the notes say so).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import shlex
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    from mobileiqa.atomic import write_json
    from mobileiqa.config import load_params
    from mobileiqa.environment import machine_id
    from mobileiqa.eval.explain import explain_in_chunks, explanation_metrics, pointing
    from mobileiqa.models.explain import ExplainHeads
    from mobileiqa.predict import Predictor
    from mobileiqa.stages.baselines import evaluated_split
    from mobileiqa.train.explain import train_explain_heads

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="a trained student's model.pt (copied; the copy gets the heads)")
    ap.add_argument("--dataset", default=str(ROOT / "artifacts/dataset"))
    ap.add_argument("--params", default=str(ROOT / "params.yaml"))
    ap.add_argument("--set", action="append", default=[], dest="overrides")
    ap.add_argument("--seed", type=int, default=0, help="the heads' seed (distill_student.explain.seed)")
    ap.add_argument("--label", default="", help="names the student in the row (e.g. its training seed)")
    ap.add_argument("--recipe", help="the students' training recipe (e.g. its train_cpu digest): rows of one recipe "
                                     "are summarised together (rows without one predate the option)")
    ap.add_argument("--work", default="/tmp/mobileiqa_explain_heads")
    ap.add_argument("--out", help="result file (default: benchmarks/results/<machine>/explain_heads.json)")
    args = ap.parse_args()

    params = load_params(args.params, [], ["tracking.enabled=false", *args.overrides])
    cfg = dataclasses.replace(params.distill_student.explain, seed=args.seed)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    model_path = work / "model.pt"
    shutil.copyfile(args.model, model_path)

    t0 = time.perf_counter()
    trained = train_explain_heads(model_path, args.dataset, params.distill_student.train, cfg, work)
    train_s = time.perf_counter() - t0

    ev = params.evaluate
    dataset, frame = evaluated_split(args.dataset, ev.split)
    predictor = Predictor.from_path(model_path, reduced_decode=False)
    files = list(frame["file"])
    t1 = time.perf_counter()
    ex = explain_in_chunks(predictor.explain, files, ev.batch_size, "explain split")
    acc = explanation_metrics(ex, frame, dataset.root)
    point = pointing(predictor.explain, dataset.root, ev.split, ev.localised, ev.batch_size,
                     work / "quadrants.png")
    eval_s = time.perf_counter() - t1
    m = acc["map"] if isinstance(acc["map"], dict) else {}
    # (rows from before each option existed: 1x grid, one member, the order term against the target's values)
    extras = f"; map mixed on a {cfg.fine}x finer grid" if cfg.fine > 1 else ""
    extras += f"; {cfg.map_members} map members averaged" if cfg.map_members > 1 else ""
    extras += "; map order term against the target's ranks" if cfg.map_ranks else ""
    regular = (f"; spread dropout {cfg.spread_dropout:g}, weight decay {cfg.spread_weight_decay:g}"
               if cfg.spread_dropout or cfg.spread_weight_decay != params.distill_student.train.weight_decay else "")
    heads = (f"{ExplainHeads.describe(cfg.heads())}; {ExplainHeads.TRAINING}{extras}{regular}; {cfg.views} view(s) "
             f"of {f'{cfg.crop}-px crops' if cfg.crop else 'whole images'}")
    row = {"student": args.label or str(args.model), "seed": args.seed, "heads": heads, "views": cfg.views,
           "epochs": cfg.epochs,
           "train_s": round(train_s, 1), "eval_s": round(eval_s, 1), "best_epoch": trained["best_epoch"],
           "val_map_srcc": trained.get("val_map_srcc"), "val_spread_srcc": trained.get("val_spread_srcc"),
           "map_srcc": m.get("mean"), "map_srcc_median": m.get("median"), "map_per_kind": m.get("per_kind"),
           "spread_srcc": acc["spread"]["srcc"], "pointing": point["accuracy"], "pointing_n": point["count"],
           "pointing_per_type": {t: v["accuracy"] for t, v in point["per_type"].items()},
           "overrides": " ".join(args.overrides) or "–", "dataset": dataset.manifest_sha256[:12],
           "recipe": args.recipe}
    print(json.dumps(row, indent=1))

    machine = machine_id()
    out = Path(args.out or ROOT / "benchmarks" / "results" / machine / "explain_heads.json")
    old = json.loads(out.read_text()) if out.exists() else {}
    # rows of the first heads (before "heads" was recorded) read the LDA and fused grids, on 2 views of 128-px crops
    first = "map: lda+fused; spread: fused pooled+opinion std; 2 view(s) of 128-px crops; MSE spread loss"
    old_rows = [{"heads": first, **r} for r in old.get("rows", [])]

    def key(r: dict) -> tuple:
        return r["heads"], r["dataset"], r["overrides"], r.get("recipe")

    rows = [r for r in old_rows if (*key(r), r["student"], r["seed"]) != (*key(row), row["student"], row["seed"])]
    rows = sorted([*rows, row], key=lambda r: (*key(r), r["student"], r["seed"]))
    same = [r for r in rows if key(r) == key(row)]

    def spread(key: str) -> str:
        values = [r[key] for r in same if r[key] is not None]
        if not values:
            return "n/a"
        return f"{statistics.mean(values):.3f} (range {min(values):.3f}-{max(values):.3f})"

    recipe = f"students of recipe {row['recipe']}; " if row["recipe"] else ""
    notes = (f"{len(same)} run(s) on dataset {row['dataset']} ({recipe}{row['overrides']}; heads: {row['heads']}): "
             f"map Spearman {spread('map_srcc')}"
             f" (target 0.6), spread SRCC {spread('spread_srcc')} (target 0.5), pointing {spread('pointing')} "
             "(target 0.8); heads trained on each student's frozen features with the recipe's torch threads "
             "(distill_student.train.threads, 0 = one per core), other work may share the CPU.")
    write_json(out, {"machine": machine, "command": shlex.join(["python", "benchmarks/explain_heads.py",
                                                                *sys.argv[1:]]),
                     "date": dt.date.today().isoformat(), "notes": notes, "rows": rows})
    print(notes)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
