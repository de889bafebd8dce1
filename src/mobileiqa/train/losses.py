"""Loss functions (pure): MOS regression for the teacher, and the distillation objective of PAPER.md.

Distillation (teacher frozen): ``w_lda * MSE(LDA maps) + w_dof * MSE(opinion features) +
w_score * MSE(student score, MOS)`` with weights 1:1:1 by default, plus an optional extension
``w_teacher_score * MSE(student score, teacher score)``. Each term is returned separately for tracking. The
explanation heads' quality-map and spread losses (:mod:`mobileiqa.train.explain`).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from mobileiqa.models.iqa_net import IQAFeatures
from mobileiqa.train.settings import DistillWeights


def score_loss(pred: Tensor, target: Tensor, kind: str = "mse") -> Tensor:
    if kind == "mse":
        return F.mse_loss(pred, target)
    if kind == "mae":
        return F.l1_loss(pred, target)
    raise ValueError(f"loss must be 'mse' or 'mae', got {kind!r}")


def distill_terms(student: IQAFeatures, teacher: IQAFeatures, mos: Tensor, w: DistillWeights,
                  score_kind: str = "mse") -> dict[str, Tensor]:
    """Per-term losses and their weighted ``loss``; features must already have equal shapes (see adapters)."""
    for part in ("lda", "opinions"):
        s, t = getattr(student, part), getattr(teacher, part)
        if s.shape != t.shape:
            raise ValueError(f"distillation {part} shapes differ: student {tuple(s.shape)} vs teacher "
                             f"{tuple(t.shape)}; use a FeatureAdapter")
    terms = {
        "loss_lda": F.mse_loss(student.lda, teacher.lda.detach()),
        "loss_dof": F.mse_loss(student.opinions, teacher.opinions.detach()),
        "loss_score": score_loss(student.score, mos, score_kind),
    }
    if w.teacher_score:
        terms["loss_teacher_score"] = F.mse_loss(student.score, teacher.score.detach())
    total = w.lda * terms["loss_lda"] + w.dof * terms["loss_dof"] + w.score * terms["loss_score"]
    if w.teacher_score:
        total = total + w.teacher_score * terms["loss_teacher_score"]
    terms["loss"] = total
    return terms


@torch.no_grad()
def within_image_ranks(maps: Tensor) -> Tensor:
    """``(B, H, W)`` → the rank of each cell among its image's cells, ``0 .. H W - 1``, ties at their average rank
    (what a Spearman correlation correlates)."""
    flat = maps.flatten(1)
    below = (flat[:, :, None] > flat[:, None, :]).sum(dim=2)
    tied = (flat[:, :, None] == flat[:, None, :]).sum(dim=2)
    return (below + (tied - 1) / 2).to(maps.dtype).view_as(maps)


def map_loss(pred: Tensor, target: Tensor, ranks: bool = False, eps: float = 1e-6) -> Tensor:
    """Quality-map loss of ``(B, G, G)`` maps (``pred`` may also be ``(B, M, G, G)``: M maps of each image, each
    against its image's target, the means taken over all of them): MSE (the level) plus ``1 - r``, the mean over
    images of the Pearson correlation ``r`` of predicted and target cells within each image (the contrast inside
    one image, what its Spearman measures, however flat or steep its targets are; a flat target, whose correlation
    is undefined, adds a constant 1 and no gradient). With ``ranks`` the correlation is with the target cells'
    ranks in their image (:func:`within_image_ranks`): the order the per-image Spearman scores, with no pull towards
    the target's own spacing. Probes on cached whole-image features (docs/TRAINING.md): test map Spearman 0.55
    against 0.51 for MSE plus the MSE of the per-image centred maps; against ranks 0.580 against 0.567 (3 seeds)."""
    order = within_image_ranks(target) if ranks else target  # once per image, however many maps it has
    if pred.dim() == target.dim() + 1:
        target, order = target[:, None], order[:, None]
    pc = (pred - pred.mean(dim=(-2, -1), keepdim=True)).flatten(-2)
    tc = (order - order.mean(dim=(-2, -1), keepdim=True)).flatten(-2)
    r = (pc * tc).sum(dim=-1) / (pc.norm(dim=-1) * tc.norm(dim=-1) + eps)
    return (pred - target).square().mean() + (1 - r).mean()


def rank_loss(score: Tensor, mos: Tensor, group: Tensor, margin: float = 0.02, scale: float = 10.0) -> Tensor:
    """Mean logistic loss ``softplus(-scale * sign(dy) * ds) / scale`` over pairs of the same ``group`` whose
    MOS differ by more than ``margin``; 0 (with a graph) when the batch has no such pair."""
    dy = mos[:, None] - mos[None, :]
    ds = score[:, None] - score[None, :]
    pairs = (group[:, None] == group[None, :]).to(score.device) & (dy.abs() > margin)
    if not bool(pairs.any()):
        return score.sum() * 0.0
    return F.softplus(-scale * torch.sign(dy) * ds)[pairs].mean() / scale


def spread_loss(order: Tensor, target: Tensor, variance: float) -> Tensor:
    """Opinion-spread loss: the pairwise logistic ranking loss (:func:`rank_loss`, every pair of the batch) of the
    spread head's order score against the annotators' std in units of its standard deviation (``variance`` over the
    training split), pairs closer than a tenth of it left out. SRCC is about the order, which an MSE learns slowly
    (0.26 against 0.44 for the same head, docs/TRAINING.md); the scale is fitted after training
    (:meth:`mobileiqa.models.explain.ExplainHeads.fit_spread_scale`)."""
    same = torch.zeros(len(order), dtype=torch.long, device=order.device)
    return rank_loss(order, target / max(variance, 1e-12) ** 0.5, same, margin=0.1, scale=1.0)


def check_finite(loss: Tensor, step: int, terms: dict[str, Tensor] | None = None) -> None:
    if not torch.isfinite(loss):
        detail = "" if not terms else " (" + ", ".join(f"{k}={float(v):.4g}" for k, v in terms.items()) + ")"
        raise FloatingPointError(f"non-finite loss {float(loss)} at step {step}{detail}; lower the learning rate, "
                                 "check the data, or resume from the last checkpoint")
