"""The paper-faithful variants: parameter counts and GMACs as PAPER.md measures them."""

from __future__ import annotations

import pytest

from mobileiqa.models import get_spec, list_models
from mobileiqa.models.complexity import complexity

PAPER = {
    "mobileiqa_teacher_mobilevitv2_200": (96.72, 360.0),
    "mobileiqa_student_mobilenetv3_large_100": (81.48, 47.8),
}


def test_the_faithful_variants_are_the_paper_pair():
    assert sorted(n for n in list_models() if get_spec(n).faithful) == sorted(PAPER)


@pytest.mark.parametrize("name", sorted(PAPER))
def test_params_and_gmacs_match_the_reference(name):
    params_m, gmacs = PAPER[name]
    c = complexity(name, height=1231, width=1907)
    assert round(c.params_m, 2) == params_m
    assert abs(c.gmacs - gmacs) / gmacs < 0.02, c.gmacs


def test_lite_student_is_far_cheaper_than_the_paper_student():
    lite = complexity("mobileiqa_student_mobilenetv3_large_100_lite", 1231, 1907)
    paper = complexity("mobileiqa_student_mobilenetv3_large_100", 1231, 1907)
    assert lite.params * 4 < paper.params and lite.macs * 4 < paper.macs
