"""The commands around the pipeline: score photos (``predict``; ``request`` builds a REST request body), the model
registry (``promote``, ``card``), the default dataset's photos (``fetch-photos``), reference weights
(``convert-reference``), profiles (``profile apply``) and the benchmark doc (``render-benchmarks``).

The registry store is ``tracking.uri`` / ``$MLFLOW_TRACKING_URI`` / the project's ``sqlite:///mlflow.db``;
credentials of remote stores come from the environment (``AWS_*``, ``MLFLOW_TRACKING_TOKEN``...), never from
flags. Handlers import their library module when they run (``# lazy``): torch, mlflow and onnxruntime stay out of
the parser, which is built on every call.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mobileiqa.atomic import write_text
from mobileiqa.cli.args import add_params_args, params_from
from mobileiqa.config import apply_profile, write_defaults
from mobileiqa.data.images import MIN_IMAGE_SIDE
from mobileiqa.predict.inputs import IMAGE_SUFFIXES
from mobileiqa.predict.predictor import MAX_PIXELS
from mobileiqa.preprocess import MIN_SIDE


def _predict(args: argparse.Namespace) -> int:
    from mobileiqa.predict import Predictor, iter_files, output_format, write_scores  # lazy: see the docstring
    from mobileiqa.predict.maps import MapWriter  # lazy: see the docstring
    from mobileiqa.predict.outputs import explain_header  # lazy: see the docstring

    try:
        fmt = output_format(args.out, args.format)
        predictor = Predictor.from_path(args.model, threads=args.threads, max_pixels=args.max_pixels,
                                        reduced_decode=not args.full_decode)
        maps = MapWriter(args.maps, predictor) if args.maps else None
    except (ValueError, FileNotFoundError) as exc:
        print(f"mobileiqa predict: {exc}", file=sys.stderr)
        return 2
    meta = predictor.metadata
    header = {"model": meta.get("model"), "scale": predictor.scale.to_dict(),
              "preprocess": {"resize": predictor.policy.to_dict(), **predictor.normalisation.to_dict(),
                             "max_pixels": predictor.max_pixels, "reduced_decode": predictor.reduced_decode}}
    if predictor.explains:
        header["explain"] = explain_header(predictor.explain_outputs)

    def report(result) -> None:
        print(f"FAILED {result.source}: {result.error}", file=sys.stderr)

    def warn(result) -> None:
        print(f"WARNING {result.source}: {result.warning}", file=sys.stderr)

    results = predictor.score_files(iter_files(args.paths))
    summary = write_scores(results if maps is None else maps(results), args.out, fmt, header=header,
                           on_error=report, on_warning=warn, progress=not args.no_progress,
                           explain=predictor.explains, maps=maps is not None)
    if args.out is None:
        where = "stdout"
    elif summary.written:
        where = args.out
    else:
        where = f"nothing written ({args.out} left as it was: no input could be scored)"
    print(f"scored {summary.scored} image(s) with {meta.get('model')} ({predictor.backend_name}, "
          f"{predictor.scale.describe()}) -> {where}; {len(summary.failures)} failed; "
          f"{summary.images_per_s:.1f} images/s" + (f"; quality maps in {args.maps}" if maps else ""),
          file=sys.stderr)
    return 1 if summary.failures else 0


def _request(args: argparse.Namespace) -> int:
    from mobileiqa.predict.inputs import encode_images  # lazy: see the docstring

    missing = [p for p in args.images if not Path(p).is_file()]
    if missing:
        print(f"mobileiqa request: not a file: {', '.join(missing)}", file=sys.stderr)
        return 2
    body = json.dumps({"inputs": encode_images(args.images)})
    if args.out:
        write_text(args.out, body)
        print(f"wrote {args.out} ({len(args.images)} image(s), {len(body) / 1e6:.1f} MB): "
              f"curl -s HOST:PORT/invocations -H 'Content-Type: application/json' -d @{args.out}", file=sys.stderr)
    else:
        sys.stdout.write(body)
    return 0


def _promote(args: argparse.Namespace) -> int:
    from mobileiqa.tracking.mlflow_registry import client  # lazy: see the docstring
    from mobileiqa.tracking.promotion import break_lock, history, promote, rescore_on_dataset  # lazy: see the docstring

    params = params_from(args)
    c = client(params.tracking)
    name = params.register.model_name
    if args.break_lock:
        holder = break_lock(c, name)
        print(f"removed the promotion lock of {name} (held by {holder})" if holder else "no promotion lock held")
        return 0
    if args.history:
        for row in history(c, name):
            print(json.dumps(row))
        return 0
    rescore = rescore_on_dataset(args.dataset) if args.dataset else None
    outcome = promote(c, params.register, args.version, rescore,
                      int8_max_drift=params.export.int8_max_srcc_drop)
    print(outcome.report())
    return 0 if outcome.outcome in ("promoted", "already-champion") else 1


def _card(args: argparse.Namespace) -> int:
    from mobileiqa.tracking.mlflow_registry import client, read_card, resolve_version  # lazy: see the docstring

    params = params_from(args)
    c = client(params.tracking)
    name = params.register.model_name
    text = read_card(c, name, resolve_version(c, name, args.version))
    if args.out:
        write_text(args.out, text)
    else:
        print(text)
    return 0


def _fetch_photos(args: argparse.Namespace) -> int:
    from mobileiqa.data import photos  # lazy: see the docstring

    if args.photos:
        records = photos.use_own_photos(args.photos, args.out)
    else:
        records = photos.fetch_photos(args.out, args.cache)
    print(f"{len(records)} photos in {args.out}")
    return 0


def _convert_reference(args: argparse.Namespace) -> int:
    from mobileiqa.models.checkpoint import save_model  # lazy: see the docstring
    from mobileiqa.models.reference import load_reference  # lazy: see the docstring

    src = Path(args.file)
    name, model = load_reference(src)
    out = Path(args.out) if args.out else src.with_suffix(".mobileiqa.pt")
    save_model(model, name, out, meta={"source": src.name, "converted_from": "reference"})
    print(f"{src} -> {out} ({name}, scale {model.scale.describe()})")
    return 0


def _profile_apply(args: argparse.Namespace) -> int:
    changed = apply_profile(args.params, args.profile, args.set)
    print(f"{args.params}: applied {', '.join(args.profile) or 'overrides'}; {len(changed)} value(s) changed"
          + (f": {', '.join(changed)}" if changed else "") + f" (undo: git checkout {args.params})")
    return 0


def _profile_defaults(args: argparse.Namespace) -> int:
    changed = write_defaults(args.params)
    print(f"{args.params}: {len(changed)} value(s) set to the typed defaults" + (f": {', '.join(changed)}" if changed
                                                                                else ""))
    return 0


def _render_benchmarks(args: argparse.Namespace) -> int:
    from mobileiqa.eval.report import render  # lazy: see the docstring

    write_text(args.out, render(args.results, doc=args.out))
    print(f"wrote {args.out}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add these commands to the ``mobileiqa`` parser."""
    p = sub.add_parser(
        "predict", help="score image files, folders (recursive) and globs with a model file",
        description="Score images; one output row per input (CSV: path,score,status,error; JSON: model, scale, "
                    "preprocess, results). A model with explanation heads adds each image's spread (CSV, JSON) and "
                    "quality map (JSON: a GxG grid of local quality in [0, 1], higher is better, row 0 = top). The "
                    "spread is the predicted disagreement between raters (std of their opinion scores, normalised "
                    "MOS), not a confidence interval of the model's error.",
        epilog="inputs:\n"
               "  a file (or a symlink to one) is always scored, whatever its suffix;\n"
               f"  a folder is walked recursively: image suffixes only ({' '.join(IMAGE_SUFFIXES)}),\n"
               "  symlinks to files followed, symlinked folders not entered, hidden files and folders\n"
               "  skipped; a glob (quoted; ** recurses) is expanded the same way.\n"
               "  A missing file, a dangling symlink, a symlink loop, a folder with no image and a pattern that\n"
               "  matches nothing are reported as failed inputs; the others are still scored.\n"
               f"  Sides below {MIN_IMAGE_SIDE} px are refused; smaller than the models' {MIN_SIDE} px minimum is "
               "upscaled with a warning.\n"
               "exit status: 0 all scored, 1 any input failed, 2 bad arguments or model.")
    p.add_argument("paths", nargs="+", help="image files, folders or glob patterns (quote globs)")
    p.add_argument("--model", required=True, help=".pt, .onnx or .ort file, or models:/NAME@ALIAS")
    p.add_argument("--out", help="output file (.csv or .json), written once every input was processed and only "
                                 "when one was scored (else left as it was); default: stdout")
    p.add_argument("--format", choices=("csv", "json"), help="output format (default: from --out's suffix, else csv)")
    p.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads (default: its own)")
    p.add_argument("--max-pixels", type=int, default=MAX_PIXELS,
                   help="refuse larger images, from the header, before decoding (default: %(default)s)")
    p.add_argument("--full-decode", action="store_true",
                   help="decode JPEGs at full size even when the resolution policy downsamples them (slower; by "
                        "default libjpeg decodes at 1/2, 1/4 or 1/8 size, never below the policy's size)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--maps", metavar="DIR",
                   help="also write one PNG per scored image into DIR (NAME_map.png): the photo (long side 1024) "
                        "with its quality map as a heat map (bright = low quality), a colour bar, score and spread; "
                        "needs a model with explanation heads")
    p.set_defaults(func=_predict)

    p = sub.add_parser("request", help="write the JSON body of a REST scoring request for `mlflow models serve` "
                                       "(the images base64-encoded under \"inputs\")")
    p.add_argument("images", nargs="+", help="image files")
    p.add_argument("--out", help="request file to write (send it with curl -d @FILE); default: stdout")
    p.set_defaults(func=_request)

    p = sub.add_parser("promote", help="move @champion to a version when every gate passes (exit 1 if refused)")
    add_params_args(p, "params file", default="params.yaml")
    p.add_argument("--version", help="version number or alias to promote (default: @challenger)")
    p.add_argument("--dataset", help="prepared dataset of the challenger's evaluation, to re-score a champion "
                                     "evaluated on another split")
    p.add_argument("--history", action="store_true", help="print every recorded promotion attempt (JSON lines)")
    p.add_argument("--break-lock", action="store_true",
                   help="remove a promotion lock left by a killed process (check no promotion is running)")
    p.set_defaults(func=_promote)

    p = sub.add_parser("card", help="print the model card of a registered version")
    add_params_args(p, "params file", default="params.yaml")
    p.add_argument("--version", help="version number or alias (default: @champion)")
    p.add_argument("--out", help="write the card to this file instead of printing it")
    p.set_defaults(func=_card)

    p = sub.add_parser("fetch-photos", help="fetch the default dataset's reference photos from Debian packages")
    p.add_argument("--out", default="data", help="folder of selected photos (tracked by data.dvc)")
    p.add_argument("--cache", default=".cache/debs", help="where downloaded .deb files are kept")
    p.add_argument("--photos", help="use your own photos from this folder instead of Debian's")
    p.set_defaults(func=_fetch_photos)

    p = sub.add_parser("convert-reference", help="load a reference-code *.pkl state dict into the faithful variant")
    p.add_argument("file", help="state dict saved by the reference code (teacher or student; detected)")
    p.add_argument("--out", help="output checkpoint (default: FILE with suffix .mobileiqa.pt)")
    p.set_defaults(func=_convert_reference)

    p = sub.add_parser("profile", help="apply a profile (e.g. params/tiny.yaml) to params.yaml for DVC")
    prof = p.add_subparsers(dest="profile_command", required=True)
    p = prof.add_parser("apply", help="deep-merge profile files into params.yaml in place (comments kept), so "
                                      "`dvc repro` / `dvc exp run` rerun what they change")
    p.add_argument("profile", nargs="+", help="profile file(s), merged in order, e.g. params/tiny.yaml")
    p.add_argument("--params", default="params.yaml", help="params file to update in place")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="also override one value")
    p.set_defaults(func=_profile_apply)
    p = prof.add_parser("defaults", help="write the typed config's defaults into params.yaml (comments kept): the "
                                         "one way a changed default reaches the file")
    p.add_argument("--params", default="params.yaml", help="params file to update in place")
    p.set_defaults(func=_profile_defaults)

    p = sub.add_parser("render-benchmarks", help="render docs/BENCHMARKS.md from benchmarks/results/*/*.json")
    p.add_argument("--results", default="benchmarks/results", help="folder of per-machine benchmark JSON")
    p.add_argument("--out", default="docs/BENCHMARKS.md", help="the document to write")
    p.set_defaults(func=_render_benchmarks)
