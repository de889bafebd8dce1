"""infra/: the component image's Dockerfile (hadolint and the image contract), the Kubernetes manifests (schema
validation for one pinned Kubernetes version, kustomizations, secret templates) and the local-stack script
(`status`/`env` only: starting PostgreSQL, moto and MLflow is left to the servers' own fixtures)."""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
K8S = INFRA / "k8s"
DOCKERFILE = INFRA / "Dockerfile"
LOCAL_STACK = INFRA / "local-stack.sh"
K8S_VERSION = "1.33.0"  # the Kubernetes version the manifests are validated against (kubernetes-validate schemas)
MANIFESTS = sorted(p for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml")
KUSTOMIZATIONS = sorted(K8S.rglob("kustomization.yaml"))
# keys of secret templates that name things rather than hold secrets
NON_SECRET_KEYS = {"POSTGRES_USER", "POSTGRES_DB", "MLFLOW_TRACKING_URI"}


def _tool(name: str) -> str:
    """A lint binary from the venv (or PATH); skip without it, but fail under CI, where it must be installed."""
    exe = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if exe is None:
        msg = f"{name} is not installed: pip install -r requirements/lock.txt (scripts/setup.sh)"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return exe


def _kubernetes_validate():
    try:
        from kubernetes_validate import utils
    except ImportError:
        msg = "kubernetes-validate is not installed: pip install -r requirements/lock.txt (scripts/setup.sh)"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return utils


def _docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


# ---------------------------------------------------------------- Dockerfile

def test_dockerfile_passes_hadolint():
    proc = subprocess.run([_tool("hadolint"), "--no-color", str(DOCKERFILE)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_hadolint_rejects_a_careless_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y gcc\nRUN pip install torch\n")
    proc = subprocess.run([_tool("hadolint"), "--no-color", str(bad)], capture_output=True, text=True)
    assert proc.returncode != 0
    assert "DL3007" in proc.stdout and "DL3013" in proc.stdout


def _stages(text: str) -> list[list[str]]:
    """The Dockerfile's instructions (continuations joined, comments dropped), split into build stages."""
    lines = re.sub(r"\\\n", " ", text).splitlines()
    stages: list[list[str]] = []
    for line in (x.strip() for x in lines):
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def test_dockerfile_is_multi_stage_pinned_non_root_and_installs_the_lock():
    text = DOCKERFILE.read_text()
    default_base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.M).group(1)
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", default_base), default_base
    build, runtime = _stages(text)
    assert build[0].endswith(" AS build") and runtime[0].endswith(" AS runtime")
    build_text, runtime_text = "\n".join(build), "\n".join(runtime)
    assert "-r requirements/lock.txt" in build_text
    assert re.search(r"pip install .*--no-deps \.", build_text)
    assert "COPY --from=build /opt/venv /opt/venv" in runtime_text
    assert not re.search(r"build-essential|\bgcc\b|\bg\+\+|python3-dev", runtime_text), "build tools in the image"
    user = [x.split()[1] for x in runtime if x.upper().startswith("USER ")]
    assert user and user[-1].split(":")[0] not in ("0", "root"), "the image must end as a non-root user"
    assert any(x.upper().startswith("WORKDIR ") for x in runtime)
    assert "org.opencontainers.image.version" in runtime_text
    for line in build + runtime:
        if line.upper().startswith(("ENV ", "ARG ")):
            assert not re.search(r"PASSWORD|SECRET|TOKEN|AWS_ACCESS", line, re.I), f"credential in the image: {line}"


def _dockerignore_allows(rel: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path (or one of its parent folders) decides."""
    parts = rel.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    allowed = True
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern[1:] if negate else pattern
        pat = pat.rstrip("/")
        if any(fnmatch.fnmatch(c, pat) or fnmatch.fnmatch(c, pat.removeprefix("**/"))
               or (pat.startswith("**/") and fnmatch.fnmatch(c.split("/")[-1], pat[3:])) for c in candidates):
            allowed = negate
    return allowed


def test_every_copied_path_exists_and_is_in_the_build_context():
    patterns = [x.strip() for x in (ROOT / ".dockerignore").read_text().splitlines()
                if x.strip() and not x.startswith("#")]
    assert "*" in patterns, ".dockerignore must be an allowlist (start with `*`)"
    sources = []
    for stage in _stages(DOCKERFILE.read_text()):
        for line in stage:
            words = line.split()
            if words[0].upper() == "COPY" and not any(w.startswith("--from") for w in words):
                sources += [w for w in words[1:-1] if not w.startswith("--")]
    assert sources
    for src in sources:
        assert (ROOT / src).exists(), f"infra/Dockerfile copies {src}, which is not in the repository"
        assert _dockerignore_allows(src, patterns), f"{src} is excluded by .dockerignore; add `!{src}` to it"
    for secret in (".dvc/config.local", ".venv", ".git", "data", "artifacts", "mlflow.db"):
        assert not _dockerignore_allows(secret, patterns), f".dockerignore lets {secret} into the build context"


# ---------------------------------------------------------------- Kubernetes manifests

@pytest.mark.parametrize("path", MANIFESTS, ids=[str(p.relative_to(K8S)) for p in MANIFESTS])
def test_manifest_is_valid_for_the_pinned_kubernetes_version(path):
    utils = _kubernetes_validate()
    docs = _docs(path)
    assert docs, f"{path} holds no resource"
    for doc in docs:
        try:
            utils.validate(doc, K8S_VERSION, strict=True)
        except utils.ValidationError as e:
            pytest.fail(f"{path.relative_to(ROOT)}: {doc.get('kind')}/{doc['metadata'].get('name')}: {e}")


def test_validation_rejects_a_misspelt_field():
    utils = _kubernetes_validate()
    doc = _docs(K8S / "services" / "mlflow.yaml")[1]
    doc["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    with pytest.raises(utils.ValidationError):
        utils.validate(doc, K8S_VERSION, strict=True)


def test_kustomizations_list_every_manifest_but_no_secret():
    listed = []
    for kust in KUSTOMIZATIONS:
        for res in yaml.safe_load(kust.read_text()).get("resources", []):
            target = (kust.parent / res).resolve()
            assert target.exists(), f"{kust.relative_to(ROOT)} lists {res}, which does not exist"
            if target.is_file():
                listed.append(target)
    applied = [p for p in MANIFESTS if "secrets" not in p.relative_to(K8S).parts]
    assert sorted(listed) == sorted(p.resolve() for p in applied)
    for path in listed:
        kinds = {d["kind"] for d in _docs(path)}
        assert "Secret" not in kinds, f"{path}: secrets are created with kubectl, never applied from the repo"


def _secret_templates() -> dict[tuple[str, str], dict]:
    out = {}
    for path in (K8S / "secrets").glob("*.yaml"):
        for doc in _docs(path):
            assert doc["kind"] == "Secret", f"{path}: only Secret templates belong in secrets/"
            out[(doc["metadata"]["namespace"], doc["metadata"]["name"])] = doc["stringData"]
    return out


def test_secret_templates_hold_only_placeholders():
    templates = _secret_templates()
    assert templates
    for (ns, name), data in templates.items():
        for key, value in data.items():
            if key not in NON_SECRET_KEYS:
                assert str(value).startswith("CHANGE-ME"), f"secret {ns}/{name} key {key} is not a placeholder"


def _walk(node):
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


def test_every_secret_reference_has_a_template():
    templates = _secret_templates()
    refs = 0
    for path in (K8S / "services").glob("*.yaml"):
        if path.name == "kustomization.yaml":
            continue
        for doc in _docs(path):
            for node in _walk(doc):
                if "secretKeyRef" in node:
                    ref = node["secretKeyRef"]
                    assert ref["key"] in templates[("mobileiqa", ref["name"])], f"{path.name}: {ref}"
                    refs += 1
                if "secretRef" in node:
                    assert ("mobileiqa", node["secretRef"]["name"]) in templates, f"{path.name}: {node}"
                    refs += 1
    assert refs >= 5


def test_kustomize_renders_the_stack():
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed (optional: the schema tests above cover each file)")
    proc = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    where = {(d["kind"], d["metadata"]["name"]): d["metadata"].get("namespace") for d in docs}
    assert where[("Deployment", "mobileiqa-mlflow")] == "mobileiqa"
    assert where[("StatefulSet", "mobileiqa-postgres")] == "mobileiqa"
    assert where[("StatefulSet", "mobileiqa-minio")] == "mobileiqa"
    assert where[("ConfigMap", "mobileiqa-pipeline")] == "kubeflow"
    assert not any(kind == "Secret" for kind, _ in where)


# ---------------------------------------------------------------- local-stack.sh

def test_shell_scripts_pass_shellcheck():
    scripts = [LOCAL_STACK, *sorted((ROOT / "scripts").glob("*.sh")), ROOT / ".ci" / "run"]
    proc = subprocess.run([_tool("shellcheck"), *map(str, scripts)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def stack_env(tmp_path):
    env = dict(os.environ, LOCAL_STACK_DIR=str(tmp_path / "state"), LOCAL_STACK_PG_PORT=str(_free_port()),
               LOCAL_STACK_S3_PORT=str(_free_port()), LOCAL_STACK_MLFLOW_PORT=str(_free_port()))
    return env


def _stack(env, *args):
    return subprocess.run(["bash", str(LOCAL_STACK), *args], env=env, capture_output=True, text=True, timeout=60)


def test_local_stack_status_when_nothing_runs(stack_env):
    proc = _stack(stack_env, "status")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert proc.stdout.splitlines() == ["postgres: stopped", "s3: stopped", "mlflow: stopped"]
    assert not Path(stack_env["LOCAL_STACK_DIR"]).exists(), "status must not write anything"


def test_local_stack_status_sees_a_running_service_and_a_stale_pid(stack_env):
    state = Path(stack_env["LOCAL_STACK_DIR"])
    state.mkdir()
    (state / "s3.pid").write_text(f"{os.getpid()}\n")  # a live process ...
    (state / "mlflow.pid").write_text("999999999\n")  # ... and one long gone
    with socket.socket() as listener:  # ... with something answering on the S3 port
        listener.bind(("127.0.0.1", int(stack_env["LOCAL_STACK_S3_PORT"])))
        listener.listen()
        proc = _stack(stack_env, "status")
    lines = proc.stdout.splitlines()
    assert proc.returncode == 3
    assert lines[0] == "postgres: stopped"
    assert lines[1].startswith(f"s3: running (pid {os.getpid()}, http://127.0.0.1:{stack_env['LOCAL_STACK_S3_PORT']}")
    assert lines[2].startswith("mlflow: stopped (stale pid file")


def test_local_stack_env_prints_the_exports(stack_env):
    proc = _stack(stack_env, "env")
    assert proc.returncode == 0, proc.stderr
    exports = dict(re.findall(r"^export (\w+)=(\S+)$", proc.stdout, re.M))
    s3 = f"http://127.0.0.1:{stack_env['LOCAL_STACK_S3_PORT']}"
    assert exports["MLFLOW_TRACKING_URI"] == f"http://127.0.0.1:{stack_env['LOCAL_STACK_MLFLOW_PORT']}"
    assert exports["MLFLOW_S3_ENDPOINT_URL"] == exports["AWS_ENDPOINT_URL"] == s3
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"} <= exports.keys()


def test_local_stack_rejects_an_unknown_command(stack_env):
    proc = _stack(stack_env, "launch")
    assert proc.returncode == 2
    assert "unknown command 'launch'" in proc.stderr and "Usage:" in proc.stderr


def test_pipeline_namespace_matches_what_the_pipeline_reads():
    try:
        from pipelines import mobileiqa_pipeline as pipe
    except ImportError as e:  # the pipeline module belongs to another part of the project
        pytest.skip(f"pipelines/mobileiqa_pipeline.py is not importable: {e}")
    config = _docs(K8S / "pipeline" / "configmap.yaml")[0]
    assert config["metadata"]["name"] == pipe.CONFIG_MAP
    assert set(pipe.CONFIG_ENV) <= set(config["data"]), "the ConfigMap lacks keys the pipeline maps into its pods"
    templates = _secret_templates()
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(templates[("kubeflow", pipe.S3_SECRET)])
    assert "MLFLOW_TRACKING_URI" in templates[("kubeflow", pipe.MLFLOW_SECRET)]
