"""S-ConvKAN: patch unfolding, the paper-literal per-patch reference, exact pruning and the phase schedule."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import yaml
from forwardkit_s_kan.conv import SConvKAN2d, sconvkan_reference, unfold_patches
from forwardkit_s_kan.layers import KANLayer, PrunedSKANLayer, SKANLayer, space_parameter_count
from forwardkit_s_kan.model import SConvKANNet
from forwardkit_s_kan.prune import SKANPrune, prune_skan, select_
from forwardkit_s_kan.schedule import SKANPhaseSchedule

import forwardkit

SPACES = ["bspline", "chebyshev", "rbf", "fourier", "wavelet"]
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "s-kan-convkan-digits.yaml"


@pytest.mark.parametrize(("k", "stride", "padding"), [(3, 1, 1), (3, 2, 0), (2, 1, 0), (5, 2, 2)])
def test_unfold_matches_torch_unfold_channel_major(k: int, stride: int, padding: int) -> None:
    x = torch.randn(2, 7, 6, 3)
    ours = unfold_patches(x, k, stride=stride, padding=padding)                     # (B, H', W', C k^2)
    ref = F.unfold(x.permute(0, 3, 1, 2), k, stride=stride, padding=padding)        # (B, C k^2, H' W')
    assert torch.equal(ours.flatten(1, 2), ref.transpose(1, 2))


def test_output_shapes() -> None:
    torch.manual_seed(0)
    net = SConvKANNet()
    assert net(torch.randn(3, 8, 8, 1)).shape == (3, 10)
    assert net.features(torch.randn(3, 8, 8, 1)).shape == (3, 2, 2, 16)
    rgb = SConvKANNet(in_channels=3, num_classes=4, channels=[5, 6], downsample="none")
    assert rgb.features(torch.randn(2, 7, 5, 3)).shape == (2, 7, 5, 6) and rgb(torch.randn(2, 7, 5, 3)).shape == (2, 4)
    layer = SConvKAN2d(3, 4, kernel_size=3, stride=2, padding=0, pool=["chebyshev"])
    assert layer(torch.randn(2, 7, 6, 3)).shape == (2, 3, 2, 4)
    with pytest.raises(ValueError, match="expects"):
        net(torch.randn(3, 1, 8, 8))


def _one_hot_layer(stride: int, padding: int) -> SConvKAN2d:
    """Output channel j selects space j of the five (phase 2, top-1: weights exactly one-hot)."""
    torch.manual_seed(4)
    layer = SConvKAN2d(2, 5, kernel_size=3, stride=stride, padding=padding, pool=SPACES)
    assert isinstance(layer.kan, SKANLayer)
    with torch.no_grad():
        for p in layer.parameters():
            p.add_(0.1 * torch.randn_like(p))
        layer.kan.alpha.copy_(torch.randn(5, 5) + 6 * torch.eye(5))
    layer.kan.select(1)
    assert torch.equal(layer.kan.weights(), torch.eye(5))
    return layer


@pytest.mark.parametrize(("stride", "padding"), [(1, 1), (2, 1), (1, 0)])
def test_one_hot_selection_equals_the_per_patch_loop_reference(stride: int, padding: int) -> None:
    layer = _one_hot_layer(stride, padding)
    x = torch.randn(1, 3, 4, 2)
    assert torch.allclose(layer(x), sconvkan_reference(layer, x), atol=1e-5)


def test_one_hot_selection_equals_the_single_space_convkan() -> None:
    layer = _one_hot_layer(1, 1)
    x = torch.randn(2, 5, 5, 2)
    y = layer(x)
    for m, space in enumerate(SPACES):
        single = SConvKAN2d(2, 5, kernel_size=3, padding=1, space=space)
        single.kan.load_state_dict(layer.kan.branches[m].state_dict())
        assert torch.allclose(y[..., m], single(x)[..., m], atol=1e-6), space


def test_phase1_mixture_equals_the_reference_too() -> None:
    torch.manual_seed(5)
    layer = SConvKAN2d(1, 3, kernel_size=3, padding=1, pool=["bspline", "rbf", "fourier"])
    with torch.no_grad():
        layer.kan.alpha.copy_(torch.randn(3, 3))
    x = torch.randn(1, 3, 3, 1)
    assert torch.allclose(layer(x), sconvkan_reference(layer, x), atol=1e-5)


def test_pruning_is_exact_on_s_convkan_net() -> None:
    torch.manual_seed(6)
    net = SConvKANNet(channels=[4, 6], pool=SPACES)
    with torch.no_grad():
        for layer in net.layers:
            layer.kan.alpha.copy_(torch.randn_like(layer.kan.alpha) * 3)
    select_(net, 1)
    x = torch.randn(5, 8, 8, 1)
    pruned = prune_skan(net)
    assert all(isinstance(layer.kan, PrunedSKANLayer) for layer in pruned.layers)
    assert torch.allclose(pruned(x), net(x), atol=1e-6)
    expected = sum(p.numel() for p in net.head.parameters())
    for layer in net.layers:
        kan = layer.kan
        for m, space in enumerate(kan.pool):
            k = int(kan.mask[:, m].sum())
            if k:
                expected += space_parameter_count(space, kan.d_in, k) + k   # branch over its k channels + weights
    assert sum(p.numel() for p in pruned.parameters()) == expected
    labels = torch.randint(0, 10, (5,))
    new, report = SKANPrune(latency_repeats=1).compress(net, [{"x": x, "y": labels}])
    assert report.after.parameters == expected < report.before.parameters
    assert torch.allclose(new(x), net(x), atol=1e-6)


def test_single_space_convkan_has_no_selection_and_is_not_pruned() -> None:
    net = SConvKANNet(channels=[3, 4], space="fourier")
    assert all(isinstance(layer.kan, KANLayer) for layer in net.layers)
    assert not [m for m in net.modules() if isinstance(m, SKANLayer)]
    x = torch.randn(2, 8, 8, 1)
    assert torch.equal(prune_skan(net)(x), net(x))


def test_the_schedule_and_the_compressor_drive_s_convkan_net(tmp_path: Path) -> None:
    """The example (digits) on a small budget: phase 2 masks every channel to its top-1 space, phase 3 is
    reached, and the skan_prune compressor leaves the test accuracy unchanged."""
    from forwardkit.engine import Trainer

    exp = yaml.safe_load(EXAMPLE.read_text())
    exp["model"]["channels"] = [3, 4]
    exp["callbacks"] = [{"name": "skan_phase_schedule", "phase_fracs": [0.3, 0.4, 0.3]}]
    exp["data"].update(val_fraction=0.05, test_fraction=0.05)
    exp["trainer"].update(epochs=1, max_steps=6, batch_size=32, eval_every=0, plots=False)
    trainer = Trainer(exp, run_dir=tmp_path, verbose=False)
    result = trainer.fit()
    cb = next(c for c in trainer.callbacks if isinstance(c, SKANPhaseSchedule))
    assert cb.phase == 3 and cb.switch_steps == [2, 4]
    assert sum(cb.histogram.values()) == 3 + 4                      # top-1: one space per output channel
    for layer, width in zip(result.model.layers, (3, 4), strict=True):
        kan = layer.kan
        assert isinstance(kan, PrunedSKANLayer)
        kept = torch.cat([getattr(kan, f"index_{k}") for k in range(len(kan.branches))])
        assert sorted(kept.tolist()) == list(range(width))         # every channel kept exactly one branch
    f = result.final
    assert f["compression/skan_prune/after/parameters"] < f["compression/skan_prune/before/parameters"]
    assert f["compression/skan_prune/test/accuracy"] == pytest.approx(f["test/accuracy"], abs=1e-9)


def test_parameter_counts_match_the_kanconv2d_reference_layers() -> None:
    """SeriYann/KANConv2d (the authors' companion code) wraps a KAN layer C_in k^2 -> C_out; its README CNN has
    KANConv2d(1, 10, 5) and KANConv2d(10, 20, 5). B-spline (efficient-kan KANLinear: base weight, spline weight,
    standalone spline scaler) in*out*(G + k + 2); ChebyKANConv2d in*out*(deg + 1); FastKANConv2d LayerNorm(in) +
    in*out*8 + Linear(in, out)."""
    counts = {"bspline": (25 * 10 * 10, 250 * 20 * 10), "chebyshev": (25 * 10 * 5, 250 * 20 * 5),
              "rbf": (2 * 25 + 25 * 10 * 8 + 25 * 10 + 10, 2 * 250 + 250 * 20 * 8 + 250 * 20 + 20)}
    for space, (first, second) in counts.items():
        for (c_in, c_out), expected in (((1, 10), first), ((10, 20), second)):
            layer = SConvKAN2d(c_in, c_out, kernel_size=5, padding=0, space=space)
            assert sum(p.numel() for p in layer.parameters()) == expected, space


def test_registered_and_shown() -> None:
    info = forwardkit.get_registry().get("model", "s_convkan_net")
    assert info.plugin == "s-kan"
    net = forwardkit.create("model", "s_convkan_net", channels=[2, 3], pool=["bspline", "wavelet"])
    assert isinstance(net, SConvKANNet) and net.layers[1].kan.d_in == 2 * 9
