"""The card's own tests of raft mixing, the Mixer baseline, the embedding, the adapter and the spec."""

from __future__ import annotations

import pytest
import torch
from forwardkit_raftmlp.adapter import BicubicGridAdapter
from forwardkit_raftmlp.analyzer import PaddedResolution, pad_centred
from forwardkit_raftmlp.embedding import CrossScaleEmbedding
from forwardkit_raftmlp.model import RaftMLP
from forwardkit_raftmlp.raft import RaftMixing, raft_axis_mlp_reference
from forwardkit_raftmlp.reproduction import SPEC

import forwardkit
from forwardkit.errors import ConfigError
from forwardkit.reproduce.spec import load_spec


def _plain(dim: int, grid: tuple[int, int], r: int) -> RaftMixing:
    torch.manual_seed(0)
    return RaftMixing(dim=dim, grid=grid, raft_size=r, inner_norm_and_residual=False)


def test_raft_grouping_is_strided() -> None:
    c, r = 8, 2
    co = c // r
    m = _plain(c, (4, 5), r).eval()
    for ch in range(c):
        x = torch.zeros(1, 4, 5, c)
        x[..., ch] = torch.randn(1, 4, 5)
        y = m.vertical(x) - m.vertical(torch.zeros_like(x))  # remove the bias response
        touched = {k for k in range(c) if y[..., k].abs().max() > 1e-6}
        assert touched == {(ch % co) + i * co for i in range(r)}, ch


def test_axis_separation() -> None:
    m = _plain(4, (3, 4), 2).eval()
    x = torch.randn(1, 3, 4, 4, requires_grad=True)
    (g,) = torch.autograd.grad(m.vertical(x)[0, :, 1].sum(), x)
    assert g[0, :, [0, 2, 3]].abs().max() == 0 and g[0, :, 1].abs().max() > 0
    (g,) = torch.autograd.grad(m.horizontal(x)[0, 2].sum(), x)
    assert g[0, [0, 1]].abs().max() == 0 and g[0, 2].abs().max() > 0
    for h in range(3):
        for w in range(4):
            (g,) = torch.autograd.grad(m(x)[0, h, w].sum(), x)
            assert (g[0].abs().sum(-1) > 0).all()


def test_r1_vertical_is_a_shared_per_channel_mlp_along_h() -> None:
    m = _plain(3, (5, 2), 1).eval()
    x = torch.randn(2, 5, 2, 3)
    v = m.vertical
    hid = torch.nn.functional.gelu(torch.einsum("bhwc,kh->bkwc", x, v.fc1.weight) + v.fc1.bias[None, :, None, None])
    ref = torch.einsum("bkwc,hk->bhwc", hid, v.fc2.weight) + v.fc2.bias[None, :, None, None]
    torch.testing.assert_close(v(x), ref)


@pytest.mark.parametrize("axis", [1, 2])
def test_vectorised_raft_mlp_matches_the_literal_loop(axis: int) -> None:
    m = _plain(6, (3, 4), 3).eval()
    x = torch.randn(2, 3, 4, 6)
    branch = m.vertical if axis == 1 else m.horizontal
    torch.testing.assert_close(branch(x), raft_axis_mlp_reference(x, axis, 3, branch.mlp))


def test_parameter_count_of_one_raft_layer() -> None:
    dim, g, r, e = 8, 6, 2, 2
    model = RaftMLP(size="tiny", image_size=24, num_classes=3)
    n = r * g
    mlp = n * int(e * n) + int(e * n) + int(e * n) * n + n
    expected = 2 * (mlp + 2 * 16) + (2 * 16 + 16 * 64 + 64 + 64 * 16 + 16)  # 2 raft blocks + channel block
    layer = list(model.body)[1:4]  # level 0 (dim 16, grid 6): vertical, horizontal, channel
    assert sum(p.numel() for blk in layer for p in blk.parameters()) == expected
    mixer = RaftMixing(dim=dim, grid=(g, g), raft_size=r, inner_norm_and_residual=False)
    assert sum(p.numel() for p in mixer.parameters()) == 2 * mlp


def test_bicubic_is_skipped_at_the_trained_grid_and_keeps_shapes_elsewhere() -> None:
    torch.manual_seed(0)
    a = RaftMixing(dim=8, grid=(4, 6), raft_size=2)
    torch.manual_seed(0)
    b = RaftMixing(dim=8, grid=(4, 6), raft_size=2, resize_mode="error")
    x = torch.randn(2, 4, 6, 8)
    assert torch.equal(a(x), b(x))
    assert a(torch.randn(2, 7, 3, 8)).shape == (2, 7, 3, 8)
    assert not b.supports((7, 3))
    with pytest.raises(ValueError, match="resize_mode"):
        b(torch.randn(2, 7, 3, 8))


@pytest.mark.parametrize(("patch", "kernels"), [(4, [4, 8]), (2, [2, 4]), (2, [2]), (4, [4])])
def test_cross_scale_embedding_features_and_grid(patch: int, kernels: list[int]) -> None:
    emb = CrossScaleEmbedding(in_channels=3, dim=10, patch=patch, kernels=kernels)
    assert emb.features == sum(k * k for k in kernels) * 3
    assert emb(torch.randn(2, 16, 24, 3)).shape == (2, 16 // patch, 24 // patch, 10)
    with pytest.raises(ValueError, match="kernels"):
        CrossScaleEmbedding(in_channels=3, dim=10, patch=4, kernels=[6])


def test_holder_sizes_the_mixers_from_its_grid() -> None:
    model = forwardkit.build_model({"name": "metaformer", "input_size": [28, 28], "in_channels": 1,
                                    "token_mixers": [{"name": "raft_mixing", "raft_size": 2}]})
    grids = [m.config.grid for m in model.modules() if isinstance(m, RaftMixing)]
    assert grids == [(14, 14), (7, 7), (4, 4), (4, 4), (2, 2)]
    model = forwardkit.build_model({"name": "metaformer", "input_size": [28, 28], "in_channels": 1,
                                    "token_mixers": "mixer_token_mlp"})
    ns = [m.config.num_tokens for m in model.modules() if hasattr(m, "config") and hasattr(m.config, "num_tokens")]
    assert ns == [196, 49, 16, 16, 4]


def test_adapter_lets_the_mixer_baseline_run_at_a_new_grid() -> None:
    model = forwardkit.build_model({"name": "metaformer", "input_size": [28, 28], "in_channels": 1,
                                    "num_classes": 10, "token_mixers": "mixer_token_mlp"}).eval()
    with pytest.raises((ValueError, RuntimeError)):
        model(torch.randn(2, 32, 32, 1))
    adapted = BicubicGridAdapter().apply(model)
    assert adapted(torch.randn(2, 32, 32, 1)).shape == (2, 10)
    x = torch.randn(2, 28, 28, 1)
    torch.testing.assert_close(adapted(x), model(x))


def test_pad_centred_keeps_the_image_in_the_middle_on_the_background() -> None:
    x = torch.rand(2, 28, 28, 1) + 1.0
    x[:, 0, 0] = 0.5                                   # the batch's smallest value: the background
    y = pad_centred(x, (32, 32))
    assert y.shape == (2, 32, 32, 1)
    torch.testing.assert_close(y[:, 2:30, 2:30], x)
    assert y[:, :2].eq(0.5).all() and y[:, :, 30:].eq(0.5).all()
    with pytest.raises(ValueError, match="smaller"):
        pad_centred(x, (20, 32))


def test_padded_resolution_measures_the_drop_of_a_grid_sized_model() -> None:
    torch.manual_seed(0)
    model = forwardkit.build_model({"name": "metaformer", "input_size": [28, 28], "in_channels": 1,
                                    "num_classes": 10, "depths": [1, 1], "dims": [8, 16],
                                    "token_mixers": "mixer_token_mlp"}).eval()
    x = torch.randn(16, 28, 28, 1)
    y = model(x).argmax(-1)                            # labels the model gets right at 28x28
    numbers = PaddedResolution().analyze(model, [{"x": x, "y": y}]).numbers
    assert numbers["native_accuracy"] == 1.0 and numbers["images"] == 16
    assert numbers["drop"] == pytest.approx(1.0 - numbers["padded_accuracy"])
    assert numbers["padded_accuracy"] == numbers["agreement"]
    same = PaddedResolution(size=[28, 28]).analyze(model, [{"x": x, "y": y}]).numbers
    assert same["drop"] == 0.0 and same["agreement"] == 1.0
    with pytest.raises(ValueError, match="image batches"):
        PaddedResolution().analyze(model, [{"x": torch.randn(4, 10, 3), "y": y[:4]}])


def test_bad_config_names_the_field() -> None:
    with pytest.raises(ConfigError, match="raft_size"):
        RaftMixing(dim=6, raft_size=4)
    with pytest.raises(ConfigError, match="resize_mode"):
        RaftMixing(dim=8, resize_mode="nearest")


def test_spec_carries_the_cards_pass_bar() -> None:
    spec = load_spec(forwardkit.get_registry().reproductions["raftmlp"])
    assert spec.fingerprint() == SPEC.fingerprint()
    assert "r=2 mean >= Mixer mean - 0.3%" in spec.pass_bar and len(spec.seeds) >= 3
    assert [c.kind for c in spec.conditions] == ["compare", "compare", "std_rule", "std_rule", "threshold"]
    assert "drop < 5 points" in spec.pass_bar and spec.conditions[-1].value == 0.05
    for arm in spec.arms:
        exp = forwardkit.config.validate_experiment(spec.experiment(arm, 0))
        assert exp.trainer.epochs == 10 and exp.trainer.batch_size == 128
