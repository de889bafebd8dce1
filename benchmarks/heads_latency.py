"""What the explanation heads cost in ONNX Runtime: each model's fp32 graph against the same graph pruned to
``score``, over several rounds (issue 19's budget: the heads add at most 5 % to the student's latency at 1907x1231).

Usage (from the project root, inside .venv):
    python benchmarks/heads_latency.py artifacts/distill_student/model.pt --rounds 4
    python benchmarks/heads_latency.py A/model.pt B/model.pt --label new --label old

Each round times the two graphs in one process, their runs interleaved
(:func:`mobileiqa.export.latency.measure_cost`, --repeats each; a round alternates which model goes first), so a
shared machine's load weighs on both alike; the cost is the difference of the medians, in % of the score-only
median. Its swing between rounds is several per cent on a busy machine, so each round also profiles both graphs
(ORT's profiler, --profile-repeats forwards) and sums the kernel time of the nodes the pruned graph lacks: the
heads' own operators (`kernel_pct`). Appends one row per model (a row of the same label and machine is replaced)
to benchmarks/results/<machine>/heads_latency.json and re-renders docs/BENCHMARKS.md. Printed, never asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> None:
    import onnx

    from mobileiqa.atomic import write_json, write_text
    from mobileiqa.environment import machine_id
    from mobileiqa.eval.report import render
    from mobileiqa.export.exporter import build_metadata, load_source
    from mobileiqa.export.latency import measure_cost
    from mobileiqa.export.onnx import export_onnx
    from mobileiqa.export.prune import prune_outputs
    from mobileiqa.export.runtime import OUTPUT, QUALITY_MAP

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", help=".pt checkpoints with explanation heads (or exported .onnx files)")
    ap.add_argument("--label", action="append", default=[], help="one per model (default: the file's folder)")
    ap.add_argument("--size", default="1907x1231", help="WxH")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=21, help="timed forwards of each graph per round")
    ap.add_argument("--profile-repeats", type=int, default=3, help="profiled forwards of each graph per round")
    ap.add_argument("--note", default="", help="free text stored with the rows (e.g. what else ran)")
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    ap.add_argument("--doc", type=Path, default=ROOT / "docs" / "BENCHMARKS.md")
    args = ap.parse_args(argv)
    if args.label and len(args.label) != len(args.models):
        ap.error(f"give one --label per model ({len(args.models)}), or none")
    width, height = (int(v) for v in args.size.lower().split("x"))
    labels = args.label or [Path(m).parent.name or Path(m).stem for m in args.models]

    with tempfile.TemporaryDirectory(prefix="mobileiqa-heads-") as tmp:
        graphs = []
        for i, model in enumerate(args.models):
            full = Path(model)
            if full.suffix != ".onnx":
                net, name, meta, version = load_source(model)
                if net.explain_heads is None:
                    raise SystemExit(f"{model}: has no explanation heads (train with "
                                     "distill_student.explain.enabled, or benchmarks/explain_heads.py)")
                full = export_onnx(net, Path(tmp) / f"m{i}.onnx", build_metadata(name, net, meta, version, None))
            elif QUALITY_MAP not in (outputs := [o.name for o in onnx.load(str(full)).graph.output]):
                raise SystemExit(f"{model}: has no explanation outputs (outputs: {outputs}); export a checkpoint "
                                 "with heads (`mobileiqa export --model MODEL.pt`) or pass the .pt itself")
            graphs.append((full, prune_outputs(full, Path(tmp) / f"m{i}.score.onnx", keep=(OUTPUT,))))
        rounds: list[list[dict]] = [[] for _ in graphs]
        for r in range(args.rounds):
            order = range(len(graphs)) if r % 2 == 0 else reversed(range(len(graphs)))
            for i in order:
                c = measure_cost(*graphs[i], width, height, args.threads, args.repeats, args.profile_repeats)
                rounds[i].append(c)
                print(f"round {r + 1} {labels[i]}: {c['ms_full']:.1f} vs {c['ms_reduced']:.1f} ms score only: "
                      f"{c['cost_pct']:+.1f} %; own kernels {c['kernel_ms']:.1f} ms ({c['kernel_pct']:.1f} %): "
                      f"{c['kernel_ops']}", flush=True)

    machine = machine_id()
    out = args.results / machine / "heads_latency.json"
    data = json.loads(out.read_text()) if out.is_file() else {"machine": machine, "rows": []}
    command = shlex.join(["python", "benchmarks/heads_latency.py", *(sys.argv[1:] if argv is None else argv)])
    for label, model, cs in zip(labels, args.models, rounds, strict=True):
        costs, kernels = [c["cost_pct"] for c in cs], [c["kernel_pct"] for c in cs]
        row = {"label": label, "model": model, "date": dt.date.today().isoformat(), "size": f"{width}x{height}",
               "threads": args.threads, "rounds": args.rounds, "repeats": args.repeats,
               "ms_score_only": round(statistics.median(c["ms_reduced"] for c in cs), 1),
               "cost_pct_median": round(statistics.median(costs), 2), "cost_pct_range": f"{min(costs):+.1f} to "
               f"{max(costs):+.1f}", "kernel_ms": round(statistics.median(c["kernel_ms"] for c in cs), 2),
               "kernel_pct_median": round(statistics.median(kernels), 2),
               "kernel_pct_range": f"{min(kernels):.2f}-{max(kernels):.2f}", "kernel_ops": cs[-1]["kernel_ops"],
               "note": args.note, "command": command}
        data["rows"] = [x for x in data["rows"] if x.get("label") != label] + [row]
        print(f"{label}: heads cost {row['cost_pct_median']:+.1f} % (rounds {row['cost_pct_range']}), own kernels "
              f"{row['kernel_pct_median']:.2f} % ({row['kernel_pct_range']}) of {row['ms_score_only']:.0f} ms; "
              "target <= 5 %")
    data.update(date=dt.date.today().isoformat(), command=command,
                notes="cost_pct: (full - score only) / score only, medians of interleaved runs, per round; "
                      "kernel_pct: ORT-profiled kernel time of the heads' own nodes (layout conversions left "
                      "out) / score-only median. Target (issue 19): <= 5 %.")
    write_json(out, data)
    write_text(args.doc, render(args.results, doc=args.doc, root=ROOT))
    print(f"wrote {out} and {args.doc}")


if __name__ == "__main__":
    main()
