"""The MobileIQA model family (PAPER.md, Architecture): backbone → LDA per stage → opinion MALs → fusion MAL →
score head. Importing this package needs only torch and timm.
"""

from mobileiqa.models.iqa_net import HeadConfig, IQAFeatures, IQANet
from mobileiqa.models.registry import (
    STUDENT,
    TEACHER,
    ModelSpec,
    create_model,
    get_spec,
    list_models,
)
from mobileiqa.scale import QualityScale

__all__ = [
    "STUDENT",
    "TEACHER",
    "HeadConfig",
    "IQAFeatures",
    "IQANet",
    "ModelSpec",
    "QualityScale",
    "create_model",
    "get_spec",
    "list_models",
]
