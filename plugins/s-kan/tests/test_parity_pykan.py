"""Parity with the reference KAN library, pykan (KindXiaoming/pykan, PyPI ``pykan``; test-only, skipped without it).

pykan's B-spline layer is ``y_j = sum_i mask_{i,j} (scale_base_{i,j} b(x_i) + scale_sp_{i,j} sum_g coef_{i,j,g}
B_g(x_i))`` with ``b = SiLU`` and a uniform grid of ``num`` intervals on ``[-1, 1]`` extended by ``k`` knots per side
(``KANLayer.forward``, ``spline.B_batch``, ``spline.extend_grid``): the B-spline space of this plugin with its
parameters stored input-first. Our ``base_weight``, ``spline_scaler``, ``spline_weight`` are pykan's
``scale_base.T``, ``(scale_sp * mask).T``, ``coef.permute(1, 0, 2)``.
"""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("kan", reason="pykan (reference KAN library) is a test-only extra; pip install pykan tqdm")

from forwardkit_s_kan import bases
from forwardkit_s_kan.layers import KANLayer, space_parameter_count
from forwardkit_s_kan.mixers import KANFFN
from kan.KANLayer import KANLayer as PyKANLayer
from kan.spline import B_batch, extend_grid


@pytest.mark.parametrize(("grid_size", "order"), [(5, 3), (4, 2), (7, 1), (3, 0), (10, 4)])
def test_bspline_bases_equal_pykan_B_batch(grid_size: int, order: int) -> None:
    grid = extend_grid(torch.linspace(-1, 1, grid_size + 1, dtype=torch.float64)[None, :], k_extend=order)
    knots = bases.bspline_knots(grid_size, order).double()
    assert torch.allclose(knots, grid[0], atol=1e-12)                      # the same extended uniform grid
    x = torch.rand(500, dtype=torch.float64, generator=torch.Generator().manual_seed(grid_size)) * 5 - 2.5
    ref = B_batch(x[:, None], grid, k=order)[:, 0].to(x.dtype)              # (500, G + k); k = 0 gives bools
    assert ref.shape == (500, grid_size + order)
    assert torch.allclose(bases.bspline_bases(x, knots, order), ref, atol=1e-6)
    # float32, on the grid as pykan's KANLayer builds it (float32 linspace + extension) and our float32 knots
    grid32 = extend_grid(torch.linspace(-1, 1, grid_size + 1)[None, :], k_extend=order)
    ours32 = bases.bspline_bases(x.float(), bases.bspline_knots(grid_size, order), order)
    ref32 = B_batch(x.float()[:, None], grid32, k=order)[:, 0].float()
    assert torch.allclose(ours32, ref32, atol=1e-6)


def _copy_from_pykan(ours: KANLayer, ref: PyKANLayer) -> None:
    with torch.no_grad():
        ours.base_weight.copy_(ref.scale_base.t())
        ours.spline_scaler.copy_((ref.scale_sp * ref.mask).t())
        ours.spline_weight.copy_(ref.coef.permute(1, 0, 2))


def _pykan_layer(d_in: int, d_out: int, grid_size: int = 5, order: int = 3) -> PyKANLayer:
    ref = PyKANLayer(in_dim=d_in, out_dim=d_out, num=grid_size, k=order)
    with torch.no_grad():                                                   # non-trivial splines and scales
        ref.coef.normal_(0.0, 0.5)
        ref.scale_sp.uniform_(0.5, 1.5)
    return ref.double()


def test_bspline_layer_with_weights_copied_from_pykan_gives_the_same_outputs() -> None:
    torch.manual_seed(0)
    ref = _pykan_layer(4, 3)
    ours = KANLayer("bspline", 4, 3, grid_size=5, spline_order=3).double()
    _copy_from_pykan(ours, ref)
    x = torch.rand(64, 4, dtype=torch.float64) * 3 - 1.5                     # inside and outside [-1, 1]
    assert torch.allclose(ours(x), ref(x)[0], atol=1e-6)
    trainable = sum(p.numel() for p in ref.parameters() if p.requires_grad)  # coef, scale_base, scale_sp
    assert trainable == space_parameter_count("bspline", 4, 3) == sum(p.numel() for p in ours.parameters())


def test_kan_ffn_bspline_equals_two_stacked_pykan_layers() -> None:
    torch.manual_seed(1)
    ffn = KANFFN(dim=4, space="bspline", hidden_ratio=1.5).double()        # 4 -> 6 -> 4
    refs = [_pykan_layer(4, 6), _pykan_layer(6, 4)]
    _copy_from_pykan(ffn.layer1, refs[0])
    _copy_from_pykan(ffn.layer2, refs[1])
    x = torch.rand(2, 5, 4, dtype=torch.float64) * 2 - 1
    y_ref = refs[1](refs[0](x.reshape(-1, 4))[0])[0].reshape(2, 5, 4)
    assert torch.allclose(ffn(x), y_ref, atol=1e-6)
