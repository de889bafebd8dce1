"""The ``mobileiqa`` command line: a thin caller of the package (every command maps to one library call)."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path


def _cmd_models(args: argparse.Namespace) -> int:
    from mobileiqa.models import get_spec, list_models
    from mobileiqa.models.complexity import complexity

    names, height, width = list_models(args.role), args.height, args.width
    if args.params:
        params = _load(args)
        names = [params.models.teacher, params.models.student]
        height, width = height or params.summary.height, width or params.summary.width
    height, width = height or 1231, width or 1907
    rows = []
    for name in names:
        spec, cost = get_spec(name), complexity(name, height, width)
        rows.append(dict(model=name, role=spec.role, backbone=spec.backbone, params_m=round(cost.params_m, 3),
                         gmacs=round(cost.gmacs, 2), height=height, width=width, faithful=spec.faithful,
                         scale=spec.head.scale.describe(), description=spec.description))
    w = max([46, *(len(r["model"]) for r in rows)])
    header = f"{'model':{w}} {'role':8} {'params (M)':>10} {f'GMACs @{width}x{height}':>17}  score scale"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['model']:{w}} {r['role']:8} {r['params_m']:10.2f} {r['gmacs']:17.2f}  {r['scale']}")
    if args.out:
        from mobileiqa.atomic import write_json

        write_json(args.out, {"resolution": {"height": height, "width": width}, "models": rows})
    return 0


def _load(args: argparse.Namespace):
    from mobileiqa.config import load_params

    return load_params(args.params, args.overlay, args.set)


def _cmd_fetch_photos(args: argparse.Namespace) -> int:
    from mobileiqa.data import photos

    if args.photos:
        records = photos.use_own_photos(args.photos, args.out)
    else:
        records = photos.fetch_photos(args.out, args.cache)
    print(f"{len(records)} photos in {args.out}")
    return 0


def _cmd_prepare(args: argparse.Namespace) -> int:
    from mobileiqa.data.prepare import prepare

    info = prepare(_load(args).data, args.out, photos_dir=args.photos)
    took = f" in {info['seconds'] / 60:.1f} min" if "seconds" in info else ""
    print(f"prepared {info['images']} images ({info['source']}){took} in {args.out}; manifest sha256 "
          f"{info['manifest_sha256'][:12]}")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from mobileiqa.data.prepare import PreparedDataset
    from mobileiqa.data.validate import run_gate

    ds = PreparedDataset.load(args.dataset)
    summary = run_gate(ds.manifest, ds.root, _load(args).validate, report_dir=args.report)
    print(f"data validation passed: {summary['rows']} rows, splits {summary['splits']}; report in {args.report}")
    return 0


def _cmd_train_teacher(args: argparse.Namespace) -> int:
    from mobileiqa.train.stages import run_train_teacher

    return _report("teacher", run_train_teacher(_load(args), args.dataset, args.out, resume=args.resume), args.out)


def _report(role: str, m: dict, out: str) -> int:
    if m:  # empty on non-zero torchrun ranks: rank 0 reports
        print(f"{role}: best epoch {m['best_epoch'] + 1}, val SRCC {m['val_srcc']:.4f}, PLCC {m['val_plcc']:.4f}; "
              f"{out}/model.pt")
    return 0


def _cmd_distill_student(args: argparse.Namespace) -> int:
    from mobileiqa.train.stages import run_distill_student

    m = run_distill_student(_load(args), args.dataset, args.teacher, args.out, resume=args.resume)
    return _report("student", m, args.out)


def _cmd_convert_reference(args: argparse.Namespace) -> int:
    from mobileiqa.models.checkpoint import save_model
    from mobileiqa.models.reference import load_reference

    src = Path(args.file)
    name, model = load_reference(src)
    out = Path(args.out) if args.out else src.with_suffix(".mobileiqa.pt")
    save_model(model, name, out, meta={"source": src.name, "converted_from": "reference"})
    print(f"{src} -> {out} ({name}, scale {model.scale.describe()})")
    return 0


def _cmd_render_benchmarks(args: argparse.Namespace) -> int:
    from mobileiqa.atomic import write_text
    from mobileiqa.eval.report import render

    write_text(args.out, render(args.results, doc=args.out))
    print(f"wrote {args.out}")
    return 0


def _cmd_profile_apply(args: argparse.Namespace) -> int:
    from mobileiqa.config import apply_profile

    changed = apply_profile(args.params, args.profile, args.set)
    print(f"{args.params}: applied {', '.join(args.profile) or 'overrides'}; {len(changed)} value(s) changed"
          + (f": {', '.join(changed)}" if changed else "") + f" (undo: git checkout {args.params})")
    return 0


def _add_params_args(p: argparse.ArgumentParser, what: str, default: str | None = None) -> None:
    p.add_argument("--params", default=default, help=what)
    p.add_argument("--overlay", action="append", default=[], metavar="FILE",
                   help="profile file deep-merged over --params (repeatable), e.g. params/tiny.yaml")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one value, e.g. models.student=NAME (repeatable)")


# Command groups that live beside their library code. Each module has ``register(subparsers, add_params_args)``
# and imports nothing heavy at module level (the parser is built on every call).
_COMMAND_MODULES = (
    "mobileiqa.eval.commands",
    "mobileiqa.export.commands",
    "mobileiqa.tracking.commands",
    "mobileiqa.orchestration.commands",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mobileiqa", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("models", help="list registered models with params and GMACs at a resolution")
    p.add_argument("--height", type=int, help="input height for GMACs (default 1231, or params summary.height)")
    p.add_argument("--width", type=int, help="input width for GMACs (default 1907, or params summary.width)")
    p.add_argument("--role", choices=["teacher", "student"], help="only this role")
    _add_params_args(p, "report only the teacher/student configured in this params file")
    p.add_argument("--out", help="also write the table as JSON to this path")
    p.set_defaults(func=_cmd_models)

    p = sub.add_parser("fetch-photos", help="fetch the default dataset's reference photos from Debian packages")
    p.add_argument("--out", default="data", help="folder of selected photos (tracked by data.dvc)")
    p.add_argument("--cache", default=".cache/debs", help="where downloaded .deb files are kept")
    p.add_argument("--photos", help="use your own photos from this folder instead of Debian's")
    p.set_defaults(func=_cmd_fetch_photos)

    p = sub.add_parser("prepare", help="build the default dataset or read a real one into a manifest")
    _add_params_args(p, "params file", default="params.yaml")
    p.add_argument("--photos", default="data", help="reference photos for data.source=default")
    p.add_argument("--out", default="artifacts/dataset")
    p.set_defaults(func=_cmd_prepare)

    p = sub.add_parser("validate", help="run the data validation gate on a prepared dataset")
    _add_params_args(p, "params file", default="params.yaml")
    p.add_argument("--dataset", default="artifacts/dataset", help="folder written by `mobileiqa prepare`")
    p.add_argument("--report", default="artifacts/validation")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("train-teacher", help="train the teacher on the prepared dataset (MLflow-tracked)")
    _add_params_args(p, "params file", default="params.yaml")
    p.add_argument("--dataset", default="artifacts/dataset")
    p.add_argument("--out", default="artifacts/teacher")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoints/last.pt")
    p.set_defaults(func=_cmd_train_teacher)

    p = sub.add_parser("distill-student", help="distil the student from a trained teacher (MLflow-tracked)")
    _add_params_args(p, "params file", default="params.yaml")
    p.add_argument("--dataset", default="artifacts/dataset")
    p.add_argument("--teacher", default="artifacts/teacher/model.pt")
    p.add_argument("--out", default="artifacts/student")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoints/last.pt")
    p.set_defaults(func=_cmd_distill_student)

    p = sub.add_parser("convert-reference", help="load a reference-code *.pkl state dict into the faithful variant")
    p.add_argument("file", help="state dict saved by the reference code (teacher or student; detected)")
    p.add_argument("--out", help="output checkpoint (default: FILE with suffix .mobileiqa.pt)")
    p.set_defaults(func=_cmd_convert_reference)

    p = sub.add_parser("render-benchmarks", help="render docs/BENCHMARKS.md from benchmarks/results/*/*.json")
    p.add_argument("--results", default="benchmarks/results")
    p.add_argument("--out", default="docs/BENCHMARKS.md")
    p.set_defaults(func=_cmd_render_benchmarks)

    p = sub.add_parser("profile", help="apply a profile (e.g. params/tiny.yaml) to params.yaml for DVC")
    prof = p.add_subparsers(dest="profile_command", required=True)
    p = prof.add_parser("apply", help="deep-merge profile files into params.yaml in place (comments kept), so "
                                      "`dvc repro` / `dvc exp run` rerun what they change")
    p.add_argument("profile", nargs="+", help="profile file(s), merged in order, e.g. params/tiny.yaml")
    p.add_argument("--params", default="params.yaml", help="params file to update in place")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="also override one value")
    p.set_defaults(func=_cmd_profile_apply)

    for module in _COMMAND_MODULES:
        importlib.import_module(module).register(sub, _add_params_args)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from mobileiqa.config import ConfigError

    try:
        return args.func(args)
    except (ConfigError, KeyError, ValueError, FileNotFoundError, RuntimeError, OSError, FloatingPointError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"mobileiqa {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
