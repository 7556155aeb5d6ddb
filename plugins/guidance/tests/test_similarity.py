"""Linear CKA and RSA: the card's properties (hypothesis), the paper-literal references, float64 gradchecks."""

from __future__ import annotations

import pytest
import torch
from forwardkit_guidance.similarity import (
    linear_cka,
    linear_cka_reference,
    rsa,
    rsa_reference,
    similarity_table,
    tokenwise_cka,
)
from hypothesis import given, settings
from hypothesis import strategies as st

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True)


@st.composite
def representations(draw: st.DrawFn, min_features: int = 1) -> tuple[torch.Tensor, torch.Tensor, int]:
    """A pair ``x (B, p)``, ``y (B, q)`` of float64 representations and a seed."""
    b = draw(st.integers(3, 12))
    p, q = draw(st.integers(min_features, 9)), draw(st.integers(min_features, 9))
    seed = draw(st.integers(0, 2**16))
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, p, generator=g, dtype=torch.float64), torch.randn(b, q, generator=g, dtype=torch.float64), \
        seed


def orthogonal(n: int, seed: int) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    return q


@SETTINGS
@given(representations(), st.floats(1e-3, 1e3))
def test_cka_properties(pair, scale):
    x, y, seed = pair
    value = linear_cka(x, y)
    assert torch.allclose(linear_cka(x, x), torch.tensor(1.0, dtype=torch.float64))  # CKA(X, X) = 1
    assert -1e-12 <= float(value) <= 1 + 1e-12  # in [0, 1]
    assert torch.allclose(value, linear_cka(y, x))  # symmetric
    assert torch.allclose(value, linear_cka(scale * x, y))  # isotropic scaling
    assert torch.allclose(value, linear_cka(x @ orthogonal(x.shape[1], seed + 1), y))  # orthogonal transform
    shift = torch.randn(1, x.shape[1], generator=torch.Generator().manual_seed(seed + 2), dtype=torch.float64)
    assert torch.allclose(value, linear_cka(x + 10 * shift, y))  # a constant added to every row (centring)
    assert torch.allclose(value, linear_cka_reference(x, y))  # the explicit-H form


@SETTINGS
@given(representations(min_features=2), st.floats(1e-3, 1e3))
def test_rsa_properties(pair, scale):
    """(One feature would make every cosine similarity +-1: a constant matrix has no Pearson correlation.)"""
    x, y, seed = pair
    value = rsa(x, y)
    assert torch.allclose(rsa(x, x), torch.tensor(1.0, dtype=torch.float64))
    assert -1 - 1e-12 <= float(value) <= 1 + 1e-12
    assert torch.allclose(value, rsa(y, x))
    assert torch.allclose(value, rsa(scale * x, y))
    assert torch.allclose(value, rsa(x @ orthogonal(x.shape[1], seed + 1), y))
    assert torch.allclose(value, rsa_reference(x, y))


def test_cka_is_not_invariant_to_an_anisotropic_scaling():
    """A check that can fail: CKA changes when one feature is stretched (it is not invariant to any linear map)."""
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(32, 5, generator=g, dtype=torch.float64), torch.randn(32, 5, generator=g, dtype=torch.float64)
    stretch = torch.diag(torch.tensor([10.0, 1, 1, 1, 1], dtype=torch.float64))
    assert abs(float(linear_cka(x @ stretch, y) - linear_cka(x, y))) > 1e-3


def test_cka_of_a_linear_function_of_x_is_high_and_of_independent_noise_low():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(256, 8, generator=g)
    assert float(linear_cka(x, x @ orthogonal(8, 3).float() * 3 + 1)) > 0.999
    assert float(linear_cka(x, torch.randn(256, 8, generator=g))) < 0.1


def test_shapes_flatten_per_sample_and_p_may_differ_from_q():
    g = torch.Generator().manual_seed(2)
    conv, y = torch.randn(6, 4, 5, 5, generator=g), torch.randn(6, 3, generator=g)
    assert torch.equal(linear_cka(conv, y), linear_cka(conv.reshape(6, -1), y))
    assert torch.equal(rsa(conv, y), rsa(conv.reshape(6, -1), y))
    with pytest.raises(ValueError, match="same samples"):
        linear_cka(torch.randn(4, 3), torch.randn(5, 3))


def test_a_constant_representation_gives_zero_not_nan():
    x = torch.ones(8, 4, requires_grad=True)
    value = linear_cka(x, torch.randn(8, 3))
    value.backward()
    assert float(value.detach()) == 0.0 and torch.isfinite(x.grad).all()
    assert torch.isfinite(rsa(torch.zeros(8, 4), torch.randn(8, 3)))


def test_gradcheck_float64():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(7, 5, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.randn(7, 3, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(linear_cka, (x, y))
    assert torch.autograd.gradcheck(rsa, (x, y))
    assert torch.autograd.gradcheck(lambda a, b: tokenwise_cka(a, b).sum(),
                                    (x.detach().reshape(7, 5, 1).repeat(1, 1, 2).requires_grad_(),
                                     y.detach()[:, :1].reshape(7, 1, 1).repeat(1, 5, 3).requires_grad_()))


def test_tokenwise_and_table():
    g = torch.Generator().manual_seed(4)
    x, y = torch.randn(9, 4, 6, generator=g), torch.randn(9, 4, 2, generator=g)
    per = tokenwise_cka(x, y)
    assert per.shape == (4,) and torch.allclose(per[1], linear_cka(x[:, 1], y[:, 1]))
    with pytest.raises(ValueError, match="same B and N"):
        tokenwise_cka(x, y[:, :3])
    table = similarity_table({"a": x, "b": y}, {"c": x[:, 0]}, "rsa")
    assert table.shape == (2, 1) and torch.allclose(table[0, 0], rsa(x, x[:, 0]))
