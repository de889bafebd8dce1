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


def _cmd_compile(args: argparse.Namespace) -> int:
    if args.check:
        diff = stale_diff(args.root, args.out)
        if diff:
            print(diff, end="")
            print(f"{args.out or COMPILED} is stale: run `mobileiqa kfp compile` and commit it", file=sys.stderr)
            return 1
        print(f"{args.out or COMPILED} is up to date")
        return 0
    print(f"wrote {compile_pipeline(args.out, args.root)}")
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

    p = kfp_sub.add_parser("compile", help=f"compile pipelines/mobileiqa_pipeline.py to {COMPILED}")
    p.add_argument("--out", help=f"output YAML (default {COMPILED})")
    p.add_argument("--check", action="store_true", help="only check that the committed YAML is current (exit 1 if not)")
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

    p = kfp_sub.add_parser("run-local", help="run the whole pipeline here with kfp's local runner (no cluster)")
    run_args(p)
    p.add_argument("--pipeline-root", default="artifacts/kfp_local", help="where the local run writes artifacts")
    p.add_argument("--root", default=".", help="project root holding pipelines/ and components/")
    p.set_defaults(func=_cmd_run_local)
