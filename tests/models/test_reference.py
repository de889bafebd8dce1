"""Reference checkpoints: the key mapping both ways, and equal outputs against an independent oracle."""

from __future__ import annotations

import pytest
import torch

from mobileiqa.models import create_model
from mobileiqa.models.checkpoint import load_model, save_model
from mobileiqa.models.reference import FAITHFUL, detect_role, from_reference, load_reference, to_reference
from tests.models.reference_oracle import OracleNet

ORACLE_ARGS = {
    "teacher": dict(backbone="mobilevitv2_200"),
    "student": dict(backbone="mobilenetv3_large_100", pool=2, sigmoid=True),
}
# A head with the faithful structure (full-width projections, expand-then-pool) at tiny sizes.
TINY_FAITHFUL = dict(grid=6, width=16, lda_hidden=24, lda_pool_first=False, num_opinions=2, qk_ratio=4,
                     attn_rank=None)
TINY = {
    "teacher": ("mobileiqa_teacher_mobilevitv2_050_tiny",
                dict(backbone="mobilevitv2_050", grid=6, width=16, hidden=24, opinions=2, ratio=4, pool=2,
                     head_channels=16, head_hidden=8)),
    "student": ("mobileiqa_student_mobilenetv3_small_050_tiny",
                dict(backbone="mobilenetv3_small_050", grid=6, width=16, hidden=24, opinions=2, ratio=4, pool=2,
                     head_channels=16, head_hidden=8,
                     sigmoid=True)),
}


def _randomise_gates(oracle: torch.nn.Module) -> None:
    """Open the residual gates so the per-view attention path is part of the comparison."""
    with torch.no_grad():
        for name, p in oracle.named_parameters():
            if name.endswith("gamma"):
                p.uniform_(0.5, 1.5)


def _assert_same_outputs(oracle: OracleNet, ours: torch.nn.Module, x: torch.Tensor) -> None:
    oracle.eval(), ours.eval()
    with torch.no_grad():
        x_ref, dof_ref, fused_ref, score_ref = oracle(x)
        f = ours.features(x)
    torch.testing.assert_close(f.lda, x_ref.transpose(0, 1), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(f.opinions, dof_ref.transpose(0, 1), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(f.fused, fused_ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(f.score, score_ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("role", ["teacher", "student"])
def test_key_mapping_both_ways_covers_every_key(role):
    with torch.device("meta"):
        oracle = OracleNet(role, **ORACLE_ARGS[role])
        ours = create_model(FAITHFUL[role])
    ref_sd, our_sd = oracle.state_dict(), ours.state_dict()
    assert detect_role(ref_sd) == role
    mapped = from_reference(ref_sd)
    assert set(mapped) == set(our_sd)
    assert all(mapped[k].shape == our_sd[k].shape for k in mapped)
    back = to_reference(our_sd, role)
    assert set(back) == set(ref_sd)
    assert all(back[k].shape == ref_sd[k].shape for k in back)
    assert to_reference(from_reference(ref_sd), role).keys() == ref_sd.keys()


@pytest.mark.parametrize("role", ["teacher", "student"])
def test_tiny_faithful_structure_reproduces_the_oracle(role):
    name, oracle_args = TINY[role]
    torch.manual_seed(1)
    oracle = OracleNet(role, **oracle_args)
    _randomise_gates(oracle)
    ours = create_model(name, **TINY_FAITHFUL)
    ours.load_state_dict(from_reference(oracle.state_dict()))
    for size in [(64, 64), (97, 131)]:
        _assert_same_outputs(oracle, ours, torch.rand(2, 3, *size))
    # and the mapping back gives the oracle exactly its own weights
    back = to_reference(ours.state_dict(), role)
    assert all(torch.equal(back[k], v) for k, v in oracle.state_dict().items())


def test_unknown_keys_are_named():
    with pytest.raises(KeyError, match="MALs.0.bogus"):
        from_reference({"local_cnn.conv_stem.weight": torch.zeros(1), "MALs.0.bogus.weight": torch.zeros(1)})
    with pytest.raises(ValueError, match="global_vit"):
        detect_role({"foo.weight": torch.zeros(1)})


@pytest.mark.slow
@pytest.mark.parametrize("role", ["teacher", "student"])
def test_paper_variants_reproduce_the_oracle_from_a_reference_pkl(role, tmp_path):
    torch.manual_seed(2)
    oracle = OracleNet(role, **ORACLE_ARGS[role])
    _randomise_gates(oracle)
    pkl = tmp_path / f"{role}.pkl"
    # saved as the reference does (DataParallel-wrapped keys included)
    torch.save({f"module.{k}": v for k, v in oracle.state_dict().items()}, pkl)
    name, ours = load_reference(pkl)
    assert name == FAITHFUL[role]
    x = torch.rand(1, 3, 64, 96)
    _assert_same_outputs(oracle, ours, x)
    # our checkpoint format round-trips the converted weights
    ckpt = save_model(ours, name, tmp_path / "converted.pt", meta={"source": str(pkl)})
    del ours
    reloaded, info = load_model(ckpt)
    assert info["model"] == name and info["meta"]["source"] == str(pkl)
    with torch.no_grad():
        torch.testing.assert_close(reloaded(x), oracle.eval()(x)[3], atol=1e-5, rtol=1e-5)


def test_load_reference_rejects_other_files(tmp_path):
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="bad.pkl"):
        load_reference(bad)
    torch.save({"foo.weight": torch.zeros(1)}, tmp_path / "other.pkl")
    with pytest.raises(ValueError, match="global_vit"):
        load_reference(tmp_path / "other.pkl")
