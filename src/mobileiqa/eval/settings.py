"""Typed params.yaml section for evaluation (split, baselines, bootstrap, behavioural checks); read through
mobileiqa.config."""

from __future__ import annotations

from dataclasses import dataclass, field

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class BehaviourConfig:
    """Behavioural checks on a trained model: the score must fall as a monotone distortion grows, and a
    high-quality JPEG re-encode must barely move it."""

    types: tuple[str, ...] = ("gaussian_blur", "white_noise", "jpeg")
    photos: int = 6               # test-split reference photos used (first N by id)
    reencode_quality: int = 95
    flat_tolerance: float = 0.01  # a rise below this from one level to the next counts as flat, not as a rise
    falling_target: float = 0.9   # the report's target: this fraction of each type's series falls at every level


@dataclass(frozen=True)
class LocalisedConfig:
    """The quadrant set of the localised evaluation (:mod:`mobileiqa.eval.localised`): each photo of the split
    with one distortion type at ``level`` in one seeded quadrant, the rest pristine; the quality map's lowest
    quadrant should be that one."""

    types: tuple[str, ...] = ("gaussian_blur", "white_noise", "jpeg")  # KADID types or phone families
    level: int = 4                # 1..5, as in the dataset's distortions
    max_photos: int | None = None  # None = every photo of the split (seeded order)
    seed: int = 0                 # photo order and quadrant assignment

    def __post_init__(self) -> None:
        if isinstance(self.types, str) or not self.types:
            raise ValueError(f"evaluate.localised.types must be a non-empty list of distortion types, "
                             f"got {self.types!r}")
        if len(set(self.types)) != len(self.types):
            raise ValueError(f"evaluate.localised.types lists a type twice: {list(self.types)}")
        if isinstance(self.level, bool) or not isinstance(self.level, int) or not 1 <= self.level <= 5:
            raise ValueError(f"evaluate.localised.level must be an integer 1..5, got {self.level!r}")
        if self.max_photos is not None and (isinstance(self.max_photos, bool) or not isinstance(self.max_photos, int)
                                            or self.max_photos < 1):
            raise ValueError(f"evaluate.localised.max_photos must be null (all) or an integer >= 1, "
                             f"got {self.max_photos!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"evaluate.localised.seed must be an integer >= 0, got {self.seed!r}")


@dataclass(frozen=True)
class ExplainEvalConfig:
    """Evaluating a student's explanation heads (skipped for a model without them): the report's targets and how
    many best- and worst-scored test images are drawn with their maps."""

    map_srcc_target: float = 0.6      # mean per-image Spearman(predicted map, local target) on the split
    pointing_target: float = 0.8      # share of quadrant-set images whose lowest map quadrant is the distorted one
    spread_srcc_target: float = 0.5   # SRCC(predicted spread, mos_std) on the split
    examples: int = 3                 # best and worst test images drawn with their maps (0 = no figure)

    def __post_init__(self) -> None:
        for name in ("map_srcc_target", "pointing_target", "spread_srcc_target"):
            if not -1 <= getattr(self, name) <= 1:
                raise ValueError(f"evaluate.explain.{name} must be in [-1, 1], got {getattr(self, name)}")
        if self.examples < 0:
            raise ValueError(f"evaluate.explain.examples must be >= 0, got {self.examples}")


@dataclass(frozen=True)
class GeneralisationConfig:
    """Leave-one-distortion-group-out benchmark (``mobileiqa benchmark generalisation``; not part of dvc repro)."""

    model: str = ""               # "" = models.student, trained directly on MOS with the train_teacher recipe and
                                  # its configured weights (models.weights_for)
    epochs: int = -1              # end-to-end epochs per held-out group; -1 = the train_teacher recipe's own
    groups: tuple[str, ...] = ()  # () = every group with images in the dataset (KADID's seven, phone groups when built)


@dataclass(frozen=True)
class AblationConfig:
    """Student ablation (``mobileiqa benchmark ablation``; not part of dvc repro): every model is distilled from
    each seed's teacher with the ``distill_student`` recipe (its head and end-to-end epochs, so equal optimiser
    steps; ``start``: as shipped or with new heads) and its configured weights (``models.weights_for``), once per
    seed, and compared with ``reference`` on the evaluation split. Shipping rule: the cheapest model (GMACs) whose
    mean SRCC is within ``ship_within`` of the best mean."""

    reference: str = "mobileiqa_student_efficientnet_lite0"
    variants: tuple[str, ...] = (  # the students compared with the reference (docs/ABLATION.md)
        "mobileiqa_student_mobilenetv3_small_050_nanopool", "mobileiqa_student_efficientnet_lite1")
    seeds: tuple[int, ...] = (0, 1, 2)
    n_boot: int = 1000              # paired-bootstrap resamples of the SRCC difference to the reference
    ship_within: float = 0.02       # the shipping rule's accuracy tolerance (mean SRCC below the best mean)
    latency_threads: int = 1        # ORT latency and memory of each model's ONNX file at summary.height x width
    latency_repeats: int = 9
    start: str = "recipe"           # recipe = as dvc repro ships (init_from_teacher as configured) | fresh = new heads

    def __post_init__(self) -> None:
        if self.start not in ("recipe", "fresh"):
            raise ValueError(f"ablation.start must be 'recipe' or 'fresh', got {self.start!r}")
        if not self.seeds:
            raise ValueError("ablation.seeds is empty; give at least one seed")
        if self.ship_within < 0:
            raise ValueError(f"ablation.ship_within must be >= 0, got {self.ship_within}")
        if self.reference in self.variants:
            raise ValueError(f"ablation.variants lists the reference {self.reference!r}; list only the others")


@dataclass(frozen=True)
class EvaluateConfig:
    """The `evaluate` section of params.yaml."""

    split: str = "test"
    baselines: tuple[str, ...] = ("niqe", "piqe", "brisque")
    n_boot: int = 1000            # bootstrap resamples for the 95 % intervals
    seed: int = 0
    batch_size: int = 8
    behaviour: BehaviourConfig = field(default_factory=BehaviourConfig)
    localised: LocalisedConfig = field(default_factory=LocalisedConfig)
    explain: ExplainEvalConfig = field(default_factory=ExplainEvalConfig)
    generalisation: GeneralisationConfig = field(default_factory=GeneralisationConfig)

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {self.split!r}")
        if self.n_boot < 0:
            raise ValueError(f"n_boot must be >= 0, got {self.n_boot}")
