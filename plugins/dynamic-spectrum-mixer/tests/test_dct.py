"""The card's transform tests: orthonormal DCT matrices, agreement with scipy.fft.dctn (the numerical
reference, test-only), exact inverse, and the FFT path equal to the matrix path."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft
import torch
from forwardkit_dynamic_spectrum_mixer.dct import (
    dct2_reference,
    dct_along_fft,
    dct_matrix,
    dctn,
    idctn,
)


@pytest.mark.parametrize("n", [1, 2, 3, 7, 14, 16])
def test_dct_matrix_is_orthonormal(n: int) -> None:
    d = dct_matrix(n)
    assert torch.allclose(d @ d.T, torch.eye(n), atol=1e-6)
    assert torch.allclose(d.T @ d, torch.eye(n), atol=1e-6)


@pytest.mark.parametrize("transform", ["matrix", "fft"])
@pytest.mark.parametrize("shape", [(2, 14, 9, 3), (2, 11, 4), (1, 3, 5, 6, 2)])
def test_dctn_matches_scipy_and_inverts(transform: str, shape: tuple[int, ...]) -> None:
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    dims = tuple(range(1, len(shape) - 1))
    ref = scipy.fft.dctn(x.double().numpy(), type=2, norm="ortho", axes=dims)
    s = dctn(x, dims, transform=transform)  # type: ignore[arg-type]
    np.testing.assert_allclose(s.numpy(), ref, atol=1e-5, rtol=1e-5)
    assert torch.allclose(idctn(s, dims, transform=transform), x, atol=1e-5)  # type: ignore[arg-type]


def test_matrix_and_fft_paths_agree_on_a_14x14_grid_with_gradients() -> None:
    x = torch.randn(3, 14, 14, 8, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 14, 14, 8, dtype=torch.float64)
    outs, grads = [], []
    for transform in ("matrix", "fft"):
        y = idctn(dctn(x, (1, 2), transform=transform) * w, (1, 2), transform=transform)  # type: ignore[arg-type]
        (g,) = torch.autograd.grad((y * w).sum(), x)
        outs.append(y)
        grads.append(g)
    assert torch.allclose(outs[0], outs[1], atol=1e-10) and torch.allclose(grads[0], grads[1], atol=1e-10)
    x32 = x.detach().float()
    assert torch.allclose(dctn(x32, (1, 2), transform="fft"), dctn(x32, (1, 2)), atol=1e-5)


def test_the_paper_literal_double_sum_equals_the_separable_products() -> None:
    x = torch.randn(2, 6, 5, 3, dtype=torch.float64)
    assert torch.allclose(dct2_reference(x), dctn(x, (1, 2)), atol=1e-12)
    # the DCT is not the real part of a DFT: an FFT-based filter test would not catch a wrong DCT
    assert not torch.allclose(dctn(x, (1, 2)), torch.fft.fftn(x, dim=(1, 2), norm="ortho").real, atol=1e-3)


def test_half_precision_inputs_are_transformed_in_float32() -> None:
    x = torch.randn(2, 8, 4).bfloat16()
    y = dct_along_fft(x, 1)
    assert y.dtype == torch.bfloat16
    assert torch.allclose(y.float(), dctn(x.float(), (1,)), atol=2e-2)


def test_a_bad_transform_is_named() -> None:
    with pytest.raises(ValueError, match="transform must be one of"):
        dctn(torch.randn(1, 4, 2), (1,), transform="dft")  # type: ignore[arg-type]
