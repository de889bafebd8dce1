"""``mobileiqa kfp compile|submit|upload|run-local``: the Kubeflow pipeline (:mod:`mobileiqa.orchestration`, which
imports kfp only when a command runs)."""

from __future__ import annotations

import argparse
import json
import sys

from mobileiqa.cli.args import add_params_args
from mobileiqa.orchestration.compile import compile_pipeline, stale_diff
from mobileiqa.orchestration.local_run import run_local
from mobileiqa.orchestration.params_text import read_texts
from mobileiqa.orchestration.submit import run_arguments, submit, upload

COMPILED = "pipelines/mobileiqa_pipeline.yaml"
PROFILES = ("cpu", "paper")


def _cmd_compile(args: argparse.Namespace) -> int:
    profiles = [args.profile] if args.profile else list(PROFILES)
    if args.out and len(profiles) > 1:
        print("mobileiqa kfp compile: --out needs one --profile", file=sys.stderr)
        return 2
    if args.check:
        stale = 0
        for profile in profiles:
            diff = stale_diff(args.root, args.out, profile)
            where = args.out or f"the {profile} pipeline"
            if diff:
                print(diff, end="")
                print(f"{where} is stale: run `mobileiqa kfp compile` and commit it", file=sys.stderr)
                stale += 1
            else:
                print(f"{where} is up to date")
        return 1 if stale else 0
    for profile in profiles:
        print(f"wrote {compile_pipeline(args.out, args.root, profile, args.image)} ({profile} profile, image "
              f"{args.image or 'the default'})")
    return 0


def _arguments(args: argparse.Namespace) -> dict:
    params_yaml, overlay_yaml = read_texts(args.params, args.overlay)
    return run_arguments(params_yaml, overlay_yaml, args.set, args.data_source)


def _cmd_submit(args: argparse.Namespace) -> int:
    info = submit(args.host, args.package, _arguments(args), args.run_name, args.experiment, args.namespace,
                  False if args.no_cache else None)
    print(f"submitted run {info['run_id']} (experiment {info['experiment']}): {info['url']}")
    return 0


def _cmd_upload(args: argparse.Namespace) -> int:
    info = upload(args.host, args.package, args.name, args.description, args.namespace)
    print(f"uploaded pipeline {info['name']} ({info['pipeline_id']})")
    return 0


def _cmd_run_local(args: argparse.Namespace) -> int:
    params_yaml, overlay_yaml = read_texts(args.params, args.overlay)
    result = run_local(params_yaml, args.data_source, args.pipeline_root, overlay_yaml, args.set, args.root)
    print(json.dumps(result["metrics"], indent=2))
    print(f"artifacts in {result['run_dir']}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``kfp`` and its subcommands to the ``mobileiqa`` parser."""
    kfp = sub.add_parser("kfp", help="the Kubeflow pipeline: compile, submit, upload, run locally")
    kfp_sub = kfp.add_subparsers(dest="kfp_command", required=True)

    p = kfp_sub.add_parser("compile", help="compile pipelines/mobileiqa_pipeline.py, one YAML per compute profile")
    p.add_argument("--profile", choices=PROFILES,
                   help="cpu (no GPU request; pipelines/mobileiqa_pipeline.yaml) or paper (GPU training steps; "
                        "pipelines/mobileiqa_pipeline_paper.yaml); default: both")
    p.add_argument("--image", help="component image REGISTRY/NAME:TAG, e.g. the one you pushed from infra/Dockerfile "
                                   "(default: ghcr.io/mobileiqa/mobileiqa:<version>)")
    p.add_argument("--out", help="output YAML (default: the profile's file under pipelines/)")
    p.add_argument("--check", action="store_true",
                   help="only check that the committed YAML files are current (exit 1 if not)")
    p.add_argument("--root", default=".", help="project root holding pipelines/ and components/")
    p.set_defaults(func=_cmd_compile)

    def run_args(p: argparse.ArgumentParser) -> None:
        add_params_args(p, "params file sent as the run's params_yaml", default="params.yaml")
        p.add_argument("--data-source", default="dvc",
                       help="dvc (pull data.dvc from the DVC remote) | s3://bucket/prefix | a folder the pods see")

    def host_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--host", required=True, help="KFP API URL, e.g. http://localhost:8080 (token: $KFP_TOKEN)")
        p.add_argument("--package", default=COMPILED, help="compiled pipeline YAML")
        p.add_argument("--namespace", help="Kubernetes namespace of multi-user Kubeflow")

    p = kfp_sub.add_parser("submit", help="start a run of the compiled pipeline on a Kubeflow cluster")
    host_args(p)
    run_args(p)
    p.add_argument("--run-name", help="run display name (default: kfp's)")
    p.add_argument("--experiment", default="mobileiqa", help="KFP experiment (created when missing)")
    p.add_argument("--no-cache", action="store_true", help="disable step caching for this run")
    p.set_defaults(func=_cmd_submit)

    p = kfp_sub.add_parser("upload", help="upload the compiled pipeline to a Kubeflow cluster under a name")
    host_args(p)
    p.add_argument("--name", default="mobileiqa", help="pipeline name on the cluster")
    p.add_argument("--description", help="pipeline description shown in the Kubeflow UI")
    p.set_defaults(func=_cmd_upload)

    p = kfp_sub.add_parser(
        "run-local", help="run the whole pipeline here with kfp's local runner (no cluster): it trains",
        description="Runs every step here with kfp's local runner: it builds the dataset and trains the teacher and "
                    "the student, as `dvc repro` does (about 45 minutes on 2 CPU cores with the default profile). "
                    "For a smoke run of a minute or two add --overlay params/tiny.yaml.")
    run_args(p)
    p.add_argument("--pipeline-root", default="artifacts/kfp_local", help="where the local run writes artifacts")
    p.add_argument("--root", default=".", help="project root holding pipelines/ and components/")
    p.set_defaults(func=_cmd_run_local)
