"""Single-space KAN layers, the S-KAN selectable layer and its pruned form.

Shapes: inputs ``(..., d_in)``, outputs ``(..., d_out)``; every per-edge parameter is stored output-first,
``(d_out, d_in, ...)``, so that a layer restricted to a subset of its output nodes is a slice.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit_s_kan import bases

#: per-edge / per-output parameter names of each space (sliced along dim 0 when outputs are pruned)
OUTPUT_PARAMS: dict[str, tuple[str, ...]] = {
    "bspline": ("base_weight", "spline_weight", "spline_scaler"),
    "chebyshev": ("coeffs",),
    "rbf": ("spline_weight", "base_weight", "base_bias"),
    "fourier": ("cos_coeffs", "sin_coeffs", "bias"),
    "wavelet": ("wavelet_weight", "scale", "translation"),
}


def space_parameter_count(space: str, d_in: int, d_out: int, *, grid_size: int = 5, spline_order: int = 3,
                          degree: int = 4, num_centers: int = 8, fourier_terms: int = 5) -> int:
    """Closed-form parameter count of one single-space layer (what the card's test compares to numel):
    B-spline ``d_in d_out (G + k) + 2 d_in d_out`` (base weight and spline scaler); Chebyshev
    ``d_in d_out (deg + 1)``; RBF ``2 d_in + d_in d_out G + d_in d_out + d_out`` (LayerNorm, RBF weights, SiLU
    base linear with bias); Fourier ``2 d_in d_out G + d_out``; wavelet ``3 d_in d_out`` (weight, scale,
    translation)."""
    e = d_in * d_out
    if space == "bspline":
        return e * (grid_size + spline_order) + 2 * e
    if space == "chebyshev":
        return e * (degree + 1)
    if space == "rbf":
        return 2 * d_in + e * num_centers + e + d_out
    if space == "fourier":
        return 2 * e * fourier_terms + d_out
    if space == "wavelet":
        return 3 * e
    raise ValueError(f"unknown space {space!r}")


class KANLayer(nn.Module):
    """One single-space KAN layer (KAN eq. 2.6): ``y_j = sum_i phi_{j,i}(x_i)``, ``(..., d_in) -> (..., d_out)``.

    Each space applies its own input preprocessing inside the layer (card pitfall): B-spline on the raw x with a
    grid on [-1, 1] plus a SiLU base (efficient-kan), Chebyshev on ``tanh x`` (ChebyKAN), RBF on
    ``LayerNorm(x)`` with a SiLU base linear on the raw x (FastKAN), Fourier and wavelets on the raw x."""

    def __init__(self, space: str, d_in: int, d_out: int, *, grid_size: int = 5, spline_order: int = 3,
                 degree: int = 4, num_centers: int = 8, fourier_terms: int = 5, wavelet: str = "mexican_hat",
                 _empty: bool = False) -> None:
        super().__init__()
        if space not in OUTPUT_PARAMS:
            raise ValueError(f"unknown activation space {space!r}; allowed: {sorted(OUTPUT_PARAMS)}")
        self.space, self.d_in, self.d_out = space, d_in, d_out
        self.hparams: dict[str, Any] = {"grid_size": grid_size, "spline_order": spline_order, "degree": degree,
                                        "num_centers": num_centers, "fourier_terms": fourier_terms,
                                        "wavelet": wavelet}
        o, i = d_out, d_in
        if space == "bspline":
            self.register_buffer("knots", bases.bspline_knots(grid_size, spline_order), persistent=False)
            self.base_weight = nn.Parameter(torch.empty(o, i))
            self.spline_weight = nn.Parameter(torch.empty(o, i, grid_size + spline_order))
            self.spline_scaler = nn.Parameter(torch.empty(o, i))
        elif space == "chebyshev":
            self.coeffs = nn.Parameter(torch.empty(o, i, degree + 1))
        elif space == "rbf":
            self.norm = nn.LayerNorm(i)
            self.register_buffer("centers", bases.rbf_centers(num_centers), persistent=False)
            self.width = 4.0 / (num_centers - 1)
            self.spline_weight = nn.Parameter(torch.empty(o, i, num_centers))
            self.base_weight = nn.Parameter(torch.empty(o, i))
            self.base_bias = nn.Parameter(torch.empty(o))
        elif space == "fourier":
            self.cos_coeffs = nn.Parameter(torch.empty(o, i, fourier_terms))
            self.sin_coeffs = nn.Parameter(torch.empty(o, i, fourier_terms))
            self.bias = nn.Parameter(torch.empty(o))
        else:
            bases.wavelet(torch.zeros(1), wavelet)  # validates the name
            self.wavelet_weight = nn.Parameter(torch.empty(o, i))
            self.scale = nn.Parameter(torch.empty(o, i))
            self.translation = nn.Parameter(torch.empty(o, i))
        if not _empty:
            self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Initialisation of the public implementations (scaled to the fan-in)."""
        i, s = self.d_in, self.space
        if s == "bspline":
            nn.init.kaiming_uniform_(self.base_weight, a=math.sqrt(5))
            self.spline_weight.normal_(0.0, 0.1 / math.sqrt(i))
            self.spline_scaler.fill_(1.0)
        elif s == "chebyshev":
            self.coeffs.normal_(0.0, 1.0 / (i * (self.hparams["degree"] + 1)))
        elif s == "rbf":
            self.spline_weight.normal_(0.0, 0.1)
            nn.init.kaiming_uniform_(self.base_weight, a=math.sqrt(5))
            self.base_bias.uniform_(-1 / math.sqrt(i), 1 / math.sqrt(i))
        elif s == "fourier":
            std = 1.0 / (math.sqrt(i) * math.sqrt(self.hparams["fourier_terms"]))
            self.cos_coeffs.normal_(0.0, std)
            self.sin_coeffs.normal_(0.0, std)
            self.bias.zero_()
        else:
            nn.init.kaiming_uniform_(self.wavelet_weight, a=math.sqrt(5))
            self.scale.fill_(1.0)
            self.translation.zero_()

    def forward(self, x: Tensor) -> Tensor:
        """``(..., d_in) -> (..., d_out)``, vectorised over edges (the reference is :func:`kan_layer_reference`)."""
        s, hp = self.space, self.hparams
        if s == "bspline":
            b = bases.bspline_bases(x, self.knots, hp["spline_order"])                   # (..., i, G+k)
            spline = torch.einsum("...ib,oib->...o", b, self.spline_weight * self.spline_scaler.unsqueeze(-1))
            return F.silu(x) @ self.base_weight.t() + spline
        if s == "chebyshev":
            t = bases.chebyshev_bases(torch.tanh(x), hp["degree"])                       # (..., i, deg+1)
            return torch.einsum("...in,oin->...o", t, self.coeffs)
        if s == "rbf":
            g = bases.rbf_bases(self.norm(x), self.centers, self.width)                  # (..., i, C)
            return torch.einsum("...ic,oic->...o", g, self.spline_weight) + F.linear(
                F.silu(x), self.base_weight, self.base_bias)
        if s == "fourier":
            c, sn = bases.fourier_bases(x, hp["fourier_terms"])                          # (..., i, G) x2
            return (torch.einsum("...ik,oik->...o", c, self.cos_coeffs)
                    + torch.einsum("...ik,oik->...o", sn, self.sin_coeffs) + self.bias)
        z = (x.unsqueeze(-2) - self.translation) / self.scale                            # (..., o, i)
        return (bases.wavelet(z, hp["wavelet"]) * self.wavelet_weight).sum(-1)

    def sliced(self, index: Tensor) -> KANLayer:
        """A copy restricted to the output nodes ``index`` (``(k,)`` long): ``d_out = k``, same outputs there."""
        new = KANLayer(self.space, self.d_in, int(index.numel()), _empty=True, **self.hparams)
        with torch.no_grad():
            for name in OUTPUT_PARAMS[self.space]:
                getattr(new, name).copy_(getattr(self, name)[index])
            if self.space == "rbf":
                new.norm.load_state_dict(self.norm.state_dict())
        return new

    def extra_repr(self) -> str:
        return f"space={self.space!r}, d_in={self.d_in}, d_out={self.d_out}"


def kan_edge(layer: KANLayer, j: int, i: int, xi: Tensor) -> Tensor:
    """Paper-literal edge function ``phi_{j,i}(x_i)`` of ``layer`` on a vector ``xi (n,)`` of inputs to edge
    (j, i); for RBF ``xi`` must already be the layer-normalised input (LayerNorm mixes the inputs of a node)."""
    s, hp = layer.space, layer.hparams
    if s == "bspline":
        b = bases.bspline_bases(xi, layer.knots, hp["spline_order"])
        return layer.base_weight[j, i] * F.silu(xi) + layer.spline_scaler[j, i] * (b @ layer.spline_weight[j, i])
    if s == "chebyshev":
        return bases.chebyshev_bases(torch.tanh(xi), hp["degree"]) @ layer.coeffs[j, i]
    if s == "rbf":
        raise ValueError("use kan_layer_reference for rbf (its base term uses the raw input)")
    if s == "fourier":
        c, sn = bases.fourier_bases(xi, hp["fourier_terms"])
        return c @ layer.cos_coeffs[j, i] + sn @ layer.sin_coeffs[j, i]
    z = (xi - layer.translation[j, i]) / layer.scale[j, i]
    return layer.wavelet_weight[j, i] * bases.wavelet(z, hp["wavelet"])


def kan_layer_reference(layer: KANLayer, x: Tensor) -> Tensor:
    """Paper-literal loop over nodes and edges: ``y_j = sum_i phi_{j,i}(x_i)`` (+ output bias where the space
    has one). ``x (n, d_in) -> (n, d_out)``; slow, for tests."""
    cols = []
    xn = layer.norm(x) if layer.space == "rbf" else None
    for j in range(layer.d_out):
        acc = torch.zeros(x.shape[0], dtype=x.dtype)
        for i in range(layer.d_in):
            if layer.space == "rbf":
                assert xn is not None
                g = bases.rbf_bases(xn[:, i], layer.centers, layer.width)
                acc = acc + g @ layer.spline_weight[j, i] + layer.base_weight[j, i] * F.silu(x[:, i])
            else:
                acc = acc + kan_edge(layer, j, i, x[:, i])
        if layer.space == "rbf":
            acc = acc + layer.base_bias[j]
        if layer.space == "fourier":
            acc = acc + layer.bias[j]
        cols.append(acc)
    return torch.stack(cols, dim=-1)


class SKANLayer(nn.Module):
    """S-KAN layer (reconstruction of sec. 3): ``y_j = sum_m a_{j,m} y^{(m)}_j`` over a pool of M single-space
    layers, ``(..., d_in) -> (..., d_out)``. ``a_j = softmax(alpha_j / T)`` over the unmasked spaces of node j
    (``weight_norm='softmax'``; alpha starts at 0, a uniform average) or ``a_j = alpha_j * mask_j``
    (``'none'``; alpha starts at 1/M). ``mask (d_out, M)`` is 1 for every space in phase 1; :meth:`select`
    keeps the top-K per node (phase 2). A space masked at every node is not computed at all."""

    def __init__(self, d_in: int, d_out: int, *, pool: Sequence[str], weight_norm: str = "softmax",
                 temperature: float = 1.0, **space_kwargs: Any) -> None:
        super().__init__()
        self.d_in, self.d_out = d_in, d_out
        self.pool = list(pool)
        self.weight_norm, self.temperature = weight_norm, temperature
        self.branches = nn.ModuleList(KANLayer(s, d_in, d_out, **space_kwargs) for s in self.pool)
        m = len(self.pool)
        self.alpha = nn.Parameter(torch.zeros(d_out, m) if weight_norm == "softmax" else torch.full((d_out, m), 1 / m))
        self.register_buffer("mask", torch.ones(d_out, m))
        self._active = [True] * m

    def _refresh(self) -> None:
        self._active = [bool(c) for c in (self.mask > 0).any(0).tolist()]

    def _load_from_state_dict(self, *args: Any, **kwargs: Any) -> None:  # the mask decides which branches run
        super()._load_from_state_dict(*args, **kwargs)
        self._refresh()

    def weights(self) -> Tensor:
        """The selection weights ``a (d_out, M)``; masked entries exactly 0, kept ones summing to 1 (softmax)."""
        if self.weight_norm == "softmax":
            return torch.softmax((self.alpha / self.temperature).masked_fill(self.mask == 0, float("-inf")), -1)
        return self.alpha * self.mask

    def forward(self, x: Tensor) -> Tensor:
        a = self.weights()
        out = None
        for m, branch in enumerate(self.branches):
            if not self._active[m]:
                continue
            y = a[:, m] * branch(x)
            out = y if out is None else out + y
        assert out is not None
        return out

    @torch.no_grad()
    def select(self, top_k: int) -> Tensor:
        """Phase 2: keep the top-``top_k`` spaces of every node by ``a`` (ties: the earlier pool entry); with
        ``'none'`` the kept raw weights are renormalised to sum 1 per node. Returns the new mask ``(d_out, M)``."""
        a = self.weights()
        keep = torch.topk(a, top_k, dim=-1).indices
        mask = torch.zeros_like(self.mask).scatter_(-1, keep, 1.0)
        self.mask.copy_(mask)
        if self.weight_norm == "none":
            kept = self.alpha * mask
            total = kept.sum(-1, keepdim=True)
            self.alpha.copy_(torch.where(total.abs() > 0, kept / total, mask / top_k))
        self._refresh()
        return mask

    def selected(self) -> list[list[str]]:
        """The spaces each node keeps (all of the pool before :meth:`select`)."""
        return [[self.pool[m] for m in range(len(self.pool)) if self.mask[j, m] > 0] for j in range(self.d_out)]


class PrunedSKANLayer(nn.Module):
    """An :class:`SKANLayer` with its masked branches physically removed (phase 3): for every space still kept
    by some node, a single-space layer over those nodes only and their selection weights ``(k_m,)``;
    ``y = sum_m scatter(idx_m, w_m * branch_m(x))``, ``(..., d_in) -> (..., d_out)``."""

    def __init__(self, layer: SKANLayer) -> None:
        super().__init__()
        self.d_in, self.d_out = layer.d_in, layer.d_out
        a = layer.weights().detach()
        self.spaces: list[str] = []
        branches, weights = [], []
        for m, branch in enumerate(layer.branches):
            index = torch.nonzero(layer.mask[:, m] > 0).flatten()
            if index.numel() == 0:
                continue
            self.spaces.append(layer.pool[m])
            self.register_buffer(f"index_{len(branches)}", index)
            branches.append(branch.sliced(index))
            weights.append(nn.Parameter(a[index, m].clone()))
        self.branches = nn.ModuleList(branches)
        self.weights = nn.ParameterList(weights)

    def forward(self, x: Tensor) -> Tensor:
        out = x.new_zeros((*x.shape[:-1], self.d_out))
        for k, branch in enumerate(self.branches):
            out = out.index_add(-1, getattr(self, f"index_{k}"), self.weights[k] * branch(x))
        return out


def skan_layer_reference(layer: SKANLayer | KANLayer, x: Tensor) -> Tensor:
    """Paper-literal S-KAN layer: ``y_j = sum_m a_{j,m} sum_i phi^{(m)}_{j,i}(x_i)`` with every branch evaluated
    by :func:`kan_layer_reference` (a masked space, weight exactly 0, adds 0). A :class:`KANLayer` is its own
    one-space case. ``x (n, d_in) -> (n, d_out)``; slow, for tests."""
    if isinstance(layer, KANLayer):
        return kan_layer_reference(layer, x)
    a = layer.weights()
    out = torch.zeros(x.shape[0], layer.d_out, dtype=x.dtype)
    for m, branch in enumerate(layer.branches):
        out = out + a[:, m] * kan_layer_reference(branch, x)
    return out
