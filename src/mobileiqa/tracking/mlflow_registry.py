"""Register an evaluated, exported student as a version of the MLflow registered model (``mobileiqa-student``).

A version carries everything the promotion gates and the model card need, so promotion reads the registry alone:

* the pyfunc model (:mod:`mobileiqa.tracking.pyfunc`) with the shipped files as artifacts — ``onnx``
  (``model.onnx``), ``ort`` (``model.ort``), ``int8`` (``model.int8.onnx``, only when it shipped), plus
  ``export.json`` and ``model_card.md``. The model is self-contained: its ``code/`` holds the project modules
  that scoring an ONNX/ORT/int8 file runs (:func:`scoring_code`, read from the source: no torch, no timm) and its
  ``requirements.txt`` pins exactly the third-party distributions those modules import
  (:func:`pip_requirements`), so ``pip install -r requirements.txt`` in a fresh environment is enough to load
  and serve it;
* tags (:class:`Evidence`): git commit, dataset hash, evaluation split and size, metrics (with intervals and
  baselines as compact JSON), profile, export latency and its machine, int8 drift, data validation outcome;
* the version description = the model card (truncated to what the store accepts; the full card is an artifact);
* the registered model's description = the card's summary (:func:`card_summary`: its first paragraph), so the
  model's page says what it is; each registration refreshes it;
* the alias ``challenger``.

Inputs are the folders written by the evaluate, export and validate stages (``metrics.json``, ``export.json``,
``summary.json``). Credentials for remote stores come from the environment only; nothing secret is tagged.
"""

from __future__ import annotations

import ast
import json
import math
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from importlib.metadata import packages_distributions, version
from pathlib import Path

from mobileiqa.atomic import read_stage_json
from mobileiqa.tracking.mlflow_logger import MlflowLogger, tracking_uri
from mobileiqa.tracking.pyfunc import ImageQualityModel, signature
from mobileiqa.tracking.settings import RegisterConfig, TrackingConfig

CHALLENGER, CHAMPION = "challenger", "champion"
ARTIFACT_FILES = {"onnx": "model.onnx", "ort": "model.ort", "int8": "model.int8.onnx"}
CARD_FILE = "model_card.md"
CARD_KEY = "model_card"  # pyfunc artifact key: stored as <model>/artifacts/model_card.md
MAX_TAG = 4900          # MLflow stores tag values and descriptions up to 5000 characters
MAX_DESCRIPTION = 4900
PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the mobileiqa package whose scoring modules a version ships
#: third-party imports that only a ``.pt`` checkpoint reaches (the Predictor's PyTorch backend); a registered
#: version scores an ONNX/ORT/int8 file (``register.serve_format``), so it neither ships nor requires them
TORCH_PATH = frozenset({"torch", "torchvision", "timm"})


# ------------------------------------------------------------------------------------------------- evidence
@dataclass(frozen=True)
class Evidence:
    """What one version is judged on; stored as version tags (``from_tags`` reads them back)."""

    dataset_sha256: str
    split: str
    n: int
    srcc: float
    plcc: float
    krcc: float | None = None
    metrics: dict = field(default_factory=dict)      # the model's full metrics entry (ci, per type, ...)
    baselines: dict = field(default_factory=dict)    # name -> {srcc, plcc, ...}
    latency_ms: float | None = None
    latency_machine: str | None = None
    formats: tuple[str, ...] = ()
    int8_shipped: bool = False
    int8_delta_srcc: float | None = None
    int8_delta_plcc: float | None = None
    validation_passed: bool | None = None
    git_commit: str = "unknown"
    profile: str = "cpu"
    model_arch: str | None = None

    def to_tags(self) -> dict[str, str]:
        tags = {
            "git_commit": self.git_commit, "dataset_sha256": self.dataset_sha256, "profile": self.profile,
            "eval.split": self.split, "eval.n": str(self.n),
            "metrics.srcc": _fmt(self.srcc), "metrics.plcc": _fmt(self.plcc), "metrics.krcc": _fmt(self.krcc),
            "metrics.json": _json_tag(_slim(self.metrics)), "baselines.json": _json_tag(_slim(self.baselines)),
            "export.latency_ms": _fmt(self.latency_ms), "export.latency_machine": self.latency_machine or "",
            "export.formats": ",".join(self.formats), "int8.shipped": str(self.int8_shipped).lower(),
            "int8.delta_srcc": _fmt(self.int8_delta_srcc), "int8.delta_plcc": _fmt(self.int8_delta_plcc),
            "validation.passed": "" if self.validation_passed is None else str(self.validation_passed).lower(),
        }
        if self.model_arch:
            tags["model_arch"] = self.model_arch
        return tags

    @classmethod
    def from_tags(cls, tags: dict[str, str], where: str = "model version") -> Evidence:
        missing = [k for k in ("dataset_sha256", "eval.split", "metrics.srcc", "metrics.plcc") if not tags.get(k)]
        if missing:
            raise ValueError(f"{where} lacks tag(s) {missing}: it was not registered by `mobileiqa register`")
        validation = tags.get("validation.passed", "")
        return cls(
            dataset_sha256=tags["dataset_sha256"], split=tags["eval.split"], n=int(tags.get("eval.n") or 0),
            srcc=float(tags["metrics.srcc"]), plcc=float(tags["metrics.plcc"]), krcc=_num(tags.get("metrics.krcc")),
            metrics=_load_json(tags.get("metrics.json")), baselines=_load_json(tags.get("baselines.json")),
            latency_ms=_num(tags.get("export.latency_ms")), latency_machine=tags.get("export.latency_machine") or None,
            formats=tuple(f for f in tags.get("export.formats", "").split(",") if f),
            int8_shipped=tags.get("int8.shipped") == "true", int8_delta_srcc=_num(tags.get("int8.delta_srcc")),
            int8_delta_plcc=_num(tags.get("int8.delta_plcc")),
            validation_passed=None if validation == "" else validation == "true",
            git_commit=tags.get("git_commit", "unknown"), profile=tags.get("profile", ""),
            model_arch=tags.get("model_arch"))


def _fmt(x: float | None) -> str:
    return "" if x is None or not math.isfinite(x) else repr(float(x))


def _num(text: str | None) -> float | None:
    return float(text) if text not in (None, "") else None


def _load_json(text: str | None) -> dict:
    try:
        return json.loads(text) if text else {}
    except json.JSONDecodeError:
        return {}


def _slim(d: dict, drop: tuple[str, ...] = ("fit", "per_level")) -> dict:
    """A metrics entry without bulky sub-entries (the full file is in the run's artifacts)."""
    return {k: (_slim(v, drop) if isinstance(v, dict) else v) for k, v in d.items() if k not in drop}


def _json_tag(d: dict) -> str:
    text = json.dumps(d, separators=(",", ":"), default=float)
    while len(text) > MAX_TAG and d:  # drop the largest entries until it fits
        d = dict(sorted(d.items(), key=lambda kv: len(json.dumps(kv[1], default=float)))[:-1])
        text = json.dumps(d, separators=(",", ":"), default=float)
    return text


# ------------------------------------------------------------------------------------- reading stage outputs
def read_eval(eval_dir: str | os.PathLike) -> dict:
    """``metrics.json`` of the evaluate stage, checked for the keys the registry relies on."""
    path = Path(eval_dir) / "metrics.json"
    data = read_stage_json(path, "evaluate")
    model = data.get("model")
    missing = [k for k in ("split", "n", "dataset_sha256") if k not in data]
    missing += [f"model.{k}" for k in ("srcc", "plcc") if not isinstance(model, dict) or k not in model]
    if missing:
        raise ValueError(f"{path}: missing key(s) {missing} (expected the evaluate stage's metrics.json)")
    return data


def export_facts(export: dict) -> dict:
    """Latency (ms + machine), shipped formats and int8 drift from ``export.json`` (tolerant of key spellings)."""
    lat = export.get("latency") if isinstance(export.get("latency"), dict) else {}
    ms = lat.get("ms", lat.get("latency_ms", export.get("latency_ms")))
    if ms is None:
        seconds = lat.get("seconds", lat.get("s", lat.get("median_s", lat.get("latency_s", export.get("latency_s")))))
        ms = None if seconds is None else 1000.0 * float(seconds)
    machine = lat.get("machine", export.get("machine"))
    formats = export.get("shipped", export.get("formats", []))
    formats = list(formats) if isinstance(formats, list | tuple) else list(formats or {})
    int8 = export.get("int8") if isinstance(export.get("int8"), dict) else {}
    drift = int8.get("drift") if isinstance(int8.get("drift"), dict) else int8
    shipped = "int8" in formats or bool(int8.get("shipped", False))
    return {"latency_ms": None if ms is None else float(ms), "latency_machine": machine, "formats": formats,
            "int8_shipped": shipped,
            "int8_delta_srcc": _first(drift, "delta_srcc", "d_srcc", "srcc"),
            "int8_delta_plcc": _first(drift, "delta_plcc", "d_plcc", "plcc")}


def _first(d: dict, *keys: str) -> float | None:
    for k in keys:
        if isinstance(d.get(k), int | float) and not isinstance(d.get(k), bool):
            return float(d[k])
    return None


def collect_evidence(eval_data: dict, export: dict, validation: dict | None, git_commit: str, profile: str,
                     model_arch: str | None = None) -> Evidence:
    model = eval_data["model"]
    baselines = {k: {m: v.get(m) for m in ("srcc", "plcc", "krcc", "ci", "ci95") if m in v}
                 for k, v in (eval_data.get("baselines") or {}).items() if isinstance(v, dict)}
    facts = export_facts(export)
    return Evidence(
        dataset_sha256=str(eval_data["dataset_sha256"]), split=str(eval_data["split"]), n=int(eval_data["n"]),
        srcc=float(model["srcc"]), plcc=float(model["plcc"]), krcc=_first(model, "krcc"), metrics=model,
        baselines=baselines, latency_ms=facts["latency_ms"], latency_machine=facts["latency_machine"],
        formats=tuple(str(f) for f in facts["formats"]), int8_shipped=facts["int8_shipped"],
        int8_delta_srcc=facts["int8_delta_srcc"], int8_delta_plcc=facts["int8_delta_plcc"],
        validation_passed=None if validation is None else bool(validation.get("success")),
        git_commit=git_commit, profile=profile, model_arch=model_arch)


# ---------------------------------------------------------------------------------------------- the registry
def client(tracking: TrackingConfig):
    """An ``MlflowClient`` on the configured store (``tracking.uri`` / ``$MLFLOW_TRACKING_URI`` / project sqlite)."""
    import mlflow
    from mlflow import MlflowClient

    uri = tracking_uri(tracking)
    mlflow.set_tracking_uri(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


@dataclass(frozen=True)
class Registration:
    name: str
    version: str
    run_id: str
    model_uri: str

    def to_dict(self) -> dict:
        return {"name": self.name, "version": self.version, "run_id": self.run_id, "model_uri": self.model_uri,
                "alias": CHALLENGER}


def shipped_artifacts(export_dir: str | os.PathLike, formats: tuple[str, ...] = ()) -> dict[str, str]:
    """``{key: path}`` of the files to attach: onnx and ort must exist; int8 when present (and listed, if the
    export lists its formats)."""
    export_dir = Path(export_dir)
    out = {}
    for key, name in ARTIFACT_FILES.items():
        path = export_dir / name
        if path.is_file() and (key != "int8" or not formats or "int8" in formats):
            out[key] = str(path)
        elif key in ("onnx", "ort"):
            raise FileNotFoundError(f"{path} not found: run the export stage first (`mobileiqa export`)")
    return out


@dataclass(frozen=True)
class ScoringCode:
    """What scoring a registered version runs beyond the standard library: project modules and third-party
    imports."""

    modules: dict[str, Path]  # "mobileiqa.predict.predictor" -> its source file, packages' __init__ included
    imports: frozenset[str]   # top-level third-party names imported, e.g. "PIL"


def _source(module: str, package_dir: Path) -> Path | None:
    base = package_dir.joinpath(*module.split(".")[1:])
    return next((p for p in (base / "__init__.py", base.with_suffix(".py")) if p.is_file()), None)


def _imports(tree: ast.Module) -> list[tuple[str, bool]]:
    """``(imported name, inside a function)`` for every absolute import of a module; ``from a.b import c``
    gives ``a.b.c`` (a module, or a name of ``a.b``)."""
    found = []

    def visit(node: ast.AST, local: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                found.extend((a.name, local) for a in child.names)
            elif isinstance(child, ast.ImportFrom) and not child.level and child.module:
                found.append((child.module, local))
                found.extend((f"{child.module}.{a.name}", local) for a in child.names if a.name != "*")
            visit(child, local or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda))

    visit(tree, False)
    return found


def scoring_code(entry: str = ImageQualityModel.__module__, package_dir: Path = PACKAGE_DIR) -> ScoringCode:
    """The scoring path of a registered version, read from the source (nothing is imported): the project modules
    that ``entry`` (the pyfunc) imports at module level, transitively, with the ``__init__`` of every package on
    the way; and every third-party import those modules make, at module level or inside a function (onnxruntime
    is imported where a session opens), except :data:`TORCH_PATH`. Function-level project imports are left out:
    in these modules they lead to the PyTorch backend of ``.pt`` checkpoints (``mobileiqa.models``), which a
    version never uses."""
    modules: dict[str, Path] = {}
    third_party: set[str] = set()
    todo = [entry]
    while todo:
        name = todo.pop()
        if name in modules:
            continue
        path = _source(name, package_dir)
        if path is None:
            continue  # a name imported from a module, not a module
        modules[name] = path
        parts = name.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # its packages run first
        for imported, local in _imports(ast.parse(path.read_text(), str(path))):
            top = imported.split(".")[0]
            if top == "mobileiqa":
                if not local:
                    todo.append(imported)
            elif top not in sys.stdlib_module_names and top not in TORCH_PATH:
                third_party.add(top)
    return ScoringCode(dict(sorted(modules.items())), frozenset(third_party))


def pip_requirements(imports: frozenset[str] | None = None) -> list[str]:
    """The pyfunc's pip requirements: the installed distribution of each third-party import of the scoring path
    (:func:`scoring_code`), pinned to the version installed here (no inference: MLflow's would load the model in
    a subprocess). An import provided by several distributions (``mlflow`` by mlflow, mlflow-skinny and
    mlflow-tracing) takes the one of its own name."""
    imports = scoring_code().imports if imports is None else imports
    providers = packages_distributions()
    pins = []
    for name in imports:
        found = list(dict.fromkeys(providers.get(name, [])))
        dist = name if name in found else found[0] if len(found) == 1 else None
        if dist is None:
            raise RuntimeError(f"the scoring path imports {name!r} but no single installed distribution provides "
                               f"it (found {found or 'none'}): register from an environment where it is installed")
        pins.append(f"{dist}=={version(dist)}")
    return sorted(pins, key=str.lower)


def copy_scoring_code(dst: str | os.PathLike, code: ScoringCode | None = None,
                      package_dir: Path = PACKAGE_DIR) -> Path:
    """Copy the scoring modules to ``dst/mobileiqa`` (the layout of the package); returns that folder, the
    pyfunc's ``code_paths`` entry (MLflow puts the model's ``code/`` first on ``sys.path`` when it loads it)."""
    code = scoring_code(package_dir=package_dir) if code is None else code
    out = Path(dst) / "mobileiqa"
    for path in code.modules.values():
        target = out / path.relative_to(package_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    return out


def card_summary(card: str) -> str:
    """The summary of a model card: its first paragraph after the title (the registered model's description)."""
    paragraphs = [p.strip() for p in card.strip().split("\n\n") if p.strip()]
    body = [p for p in paragraphs if not p.startswith("#")]
    return body[0] if body else (paragraphs[0].lstrip("# ") if paragraphs else "")


def register_version(cfg: RegisterConfig, tracking: TrackingConfig, export_dir: str | os.PathLike,
                     evidence: Evidence, card: str, extra_files: dict[str, str] | None = None,
                     run_tags: dict[str, str] | None = None) -> Registration:
    """Log the pyfunc (with the shipped files, its scoring code and pinned requirements) in a tracked run (tagged
    also with ``run_tags``, e.g. the pipeline execution's), register it, tag it, attach the card (the version's
    description; its summary the registered model's) and point ``challenger`` at it."""
    import mlflow

    artifacts = shipped_artifacts(export_dir, evidence.formats)
    if cfg.serve_format not in artifacts:
        raise ValueError(f"register.serve_format={cfg.serve_format!r} but {export_dir} has no "
                         f"{ARTIFACT_FILES[cfg.serve_format]}; pick one of {sorted(artifacts)}")
    artifacts.update({k: str(v) for k, v in (extra_files or {}).items()})
    tags = evidence.to_tags()
    run_cfg = TrackingConfig(enabled=True, experiment=tracking.experiment, uri=tracking.uri, system_metrics=False)
    with tempfile.TemporaryDirectory(prefix="mobileiqa-register-") as tmp, \
            MlflowLogger(run_cfg, f"register {cfg.model_name}", {"register." + k: v for k, v in vars(cfg).items()},
                         {"stage": "register", **{k: v for k, v in tags.items() if not k.endswith(".json")},
                          **(run_tags or {})}) as run:
        (Path(tmp) / CARD_FILE).write_text(card)
        artifacts[CARD_KEY] = str(Path(tmp) / CARD_FILE)
        code = scoring_code()
        mlflow.log_metrics({k: v for k, v in (("srcc", evidence.srcc), ("plcc", evidence.plcc)) if math.isfinite(v)})
        # the pickle names mobileiqa.tracking.pyfunc.ImageQualityModel: code/mobileiqa resolves it when loaded
        info = mlflow.pyfunc.log_model(
            name="model", python_model=ImageQualityModel(), artifacts=artifacts, signature=signature(),
            model_config={"serve_format": cfg.serve_format}, registered_model_name=cfg.model_name,
            code_paths=[str(copy_scoring_code(Path(tmp) / "code", code))],
            pip_requirements=pip_requirements(code.imports), await_registration_for=60)
        run_id = run.run.info.run_id
    c = client(tracking)
    version = str(info.registered_model_version)
    for key, value in tags.items():
        c.set_model_version_tag(cfg.model_name, version, key, value)
    c.update_model_version(cfg.model_name, version, description=_truncate(card, MAX_DESCRIPTION))
    c.update_registered_model(cfg.model_name, description=_truncate(card_summary(card), MAX_DESCRIPTION))
    c.set_registered_model_alias(cfg.model_name, CHALLENGER, version)
    return Registration(cfg.model_name, version, run_id, f"models:/{cfg.model_name}/{version}")


def _truncate(text: str, limit: int) -> str:
    note = "\n\n… (truncated; `mobileiqa card` prints the full card)\n"
    return text if len(text) <= limit else text[:limit - len(note)] + note


def resolve_version(c, name: str, ref: str | None) -> str:
    """A version number from ``ref`` (a number, an alias, or ``None`` = ``champion``); errors name the model."""
    from mlflow.exceptions import MlflowException

    ref = ref or CHAMPION
    try:
        if ref.isdigit():
            return str(c.get_model_version(name, ref).version)
        return str(c.get_model_version_by_alias(name, ref).version)
    except MlflowException as exc:
        raise ValueError(f"registered model {name!r} has no version or alias {ref!r} ({exc.message})") from None


def read_card(c, name: str, version: str) -> str:
    """The full model card of a version (its ``model_card.md`` artifact; the description if that is missing)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    mv = c.get_model_version(name, version)
    root = c.get_model_version_download_uri(name, version).rstrip("/")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = mlflow.artifacts.download_artifacts(artifact_uri=f"{root}/artifacts/{CARD_FILE}", dst_path=tmp)
            return Path(path).read_text()
        except (MlflowException, OSError):
            pass  # fall back to the description below
    if mv.description:
        return mv.description
    raise ValueError(f"{name} version {version} has no model card")
