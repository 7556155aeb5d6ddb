"""A depthwise convolution with training-time parallel branches, and its exact folding into one kernel.

CFSR trains two such convolutions (official ``basicsr/archs/cfsr_arch.py``):

* ConvMod's large kernel (``ReparamLargeKernelConv``): ``DW_k(x) + DW_s(x)`` with ``k = 9``, ``s = 3``
  (RepLKNet's small-kernel re-parameterisation, with biases and no BN; the official training form also adds
  the edge branches below to it, the "AllEdge" variant);
* EFN's depthwise 3x3 (``MLP.pos`` + ``mask_sobel_x`` ...): ``DW_3(t) + sum_e (s_e * (K_e conv t) + b_e)``,
  ``K_e`` a fixed Sobel-x / Sobel-y / Laplacian filter replicated per channel, ``s_e`` and ``b_e`` learnable
  per channel (paper eq. 5).

Every branch is a linear map of ``x`` with the same zero 'same' padding, so the sum is one depthwise
convolution with kernel ``W = W_k + pad(W_s) + sum_e pad(s_e K_e)`` and bias ``b = b_k + b_s + sum_e b_e``
(the small kernels zero-padded to ``k``, centred). :meth:`RepDepthwise.forward` computes exactly that
composed kernel in every pass (one convolution, also in training: gradients reach ``s_e`` through it);
:meth:`RepDepthwise.forward_branches` is the paper-literal sum of the separate convolutions, the reference
the tests compare it with; :meth:`RepDepthwise.merge_` folds the branches into the parameters for good.
All tensors here are channels-first ``(B, C, *spatial)``; the channels-last mixers permute around them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit_cfsr.edges import edge_stack

__all__ = ["RepDepthwise", "conv_init_", "use_branch_sum", "to_first", "to_last"]

_FCONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def to_first(x: Tensor) -> Tensor:
    """``(B, *spatial, C)`` -> ``(B, C, *spatial)`` (a view: channels-last strides, no copy)."""
    return x.movedim(-1, 1)


def to_last(x: Tensor) -> Tensor:
    """``(B, C, *spatial)`` -> ``(B, *spatial, C)``."""
    return x.movedim(1, -1)


@torch.no_grad()
def conv_init_(weight: Tensor, bias: Tensor | None) -> None:
    """PyTorch's default ``nn.Conv`` initialisation (what the official code gets): Kaiming-uniform with
    ``a = sqrt(5)``, bias uniform in ``+-1/sqrt(fan_in)`` with ``fan_in = C_in/groups * prod(kernel)``."""
    nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in = weight.shape[1] * math.prod(weight.shape[2:])
        bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        nn.init.uniform_(bias, -bound, bound)


def _pad_to(kernel: Tensor, size: int) -> Tensor:
    """``(C, 1, s, ...)`` zero-padded (centred) to ``(C, 1, size, ...)``."""
    d = (size - kernel.shape[-1]) // 2
    return F.pad(kernel, (d, d) * (kernel.dim() - 2)) if d else kernel


class RepDepthwise(nn.Module):
    """``y = DW_k(x) + [DW_s(x)] + sum_e (s_e * (K_e conv x) + b_e)`` on ``(B, C, *spatial)``, same shape.

    Parameters: ``weight`` ``(C, 1, k, ...)`` and ``bias`` ``(C,)``; with ``small`` (only when smaller than
    ``kernel``) ``small_weight`` ``(C, 1, s, ...)`` and ``small_bias``; with ``edges`` (rank 2) ``edge_scale``
    and ``edge_bias`` ``(E, C)`` (normal, std ``scale_init_std``), the fixed filters in the buffer
    ``edge_kernels`` ``(E, 3, 3)``. ``merged=True`` builds the inference form (``weight`` and ``bias`` only).
    """

    edge_kernels: Tensor

    def __init__(self, *, rank: int, channels: int, kernel: int, small: int | None = None,
                 edges: Sequence[str] = (), variant: str = "released", scale_init_std: float = 1e-3,
                 merged: bool = False) -> None:
        super().__init__()
        if edges and (rank != 2 or kernel < 3):
            raise ValueError("edge branches are 3x3 image filters: they need rank 2 and kernel >= 3")
        self.rank, self.channels, self.kernel = rank, channels, kernel
        #: run :meth:`forward_branches` instead of the composed kernel (a reference/benchmark switch, see
        #: :func:`use_branch_sum`; it changes the cost, not the function)
        self.branch_sum = False
        self.weight = nn.Parameter(torch.empty(channels, 1, *([kernel] * rank)))
        self.bias = nn.Parameter(torch.empty(channels))
        conv_init_(self.weight, self.bias)
        self.small = small if (small is not None and small < kernel and not merged) else None
        if self.small is not None:
            self.small_weight = nn.Parameter(torch.empty(channels, 1, *([self.small] * rank)))
            self.small_bias = nn.Parameter(torch.empty(channels))
            conv_init_(self.small_weight, self.small_bias)
        self.edges = () if merged else tuple(edges)
        if self.edges:
            self.register_buffer("edge_kernels", edge_stack(self.edges, variant), persistent=False)
            self.edge_scale = nn.Parameter(torch.randn(len(self.edges), channels) * scale_init_std)
            self.edge_bias = nn.Parameter(torch.randn(len(self.edges), channels) * scale_init_std)

    @property
    def merged(self) -> bool:
        """True when there is no branch left (the inference form)."""
        return self.small is None and not self.edges

    def fused(self) -> tuple[Tensor, Tensor]:
        """The ``(C, 1, k, ...)`` kernel and ``(C,)`` bias of the one equivalent depthwise conv (differentiable)."""
        w: Tensor = self.weight
        b: Tensor = self.bias
        if self.small is not None:
            w = w + _pad_to(self.small_weight, self.kernel)
            b = b + self.small_bias
        if self.edges:
            edge = torch.einsum("ec,eij->cij", self.edge_scale, self.edge_kernels.to(self.edge_scale.dtype))
            w = w + _pad_to(edge.unsqueeze(1), self.kernel)
            b = b + self.edge_bias.sum(0)
        return w, b

    def _conv(self, x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
        return _FCONV[self.rank](x, w, b, padding=w.shape[-1] // 2, groups=self.channels)

    def forward(self, x: Tensor) -> Tensor:
        """One depthwise conv with the composed kernel of :meth:`fused` (or the branch sum, see ``branch_sum``)."""
        if self.branch_sum:
            return self.forward_branches(x)
        w, b = self.fused()
        return self._conv(x, w, b)

    def forward_branches(self, x: Tensor) -> Tensor:
        """Paper-literal reference: the sum of the separate branch convolutions (official ``forward``)."""
        y = self._conv(x, self.weight, self.bias)
        if self.small is not None:
            y = y + self._conv(x, self.small_weight, self.small_bias)
        for e in range(len(self.edges)):
            kernel = (self.edge_scale[e][:, None, None] * self.edge_kernels[e]).unsqueeze(1)
            y = y + self._conv(x, kernel, self.edge_bias[e])
        return y

    @torch.no_grad()
    def merge_(self) -> RepDepthwise:
        """Fold every branch into ``weight`` and ``bias`` in place (the released inference form); returns self."""
        if self.merged:
            return self
        w, b = self.fused()
        self.weight.data.copy_(w)
        self.bias.data.copy_(b)
        if self.small is not None:
            del self.small_weight, self.small_bias
            self.small = None
        if self.edges:
            del self.edge_scale, self.edge_bias, self.edge_kernels
            self.edges = ()
        return self

    def extra_repr(self) -> str:
        small = f", small={self.small}" if self.small else ""
        edges = f", edges={list(self.edges)}" if self.edges else ""
        return f"rank={self.rank}, channels={self.channels}, kernel={self.kernel}{small}{edges}"


def use_branch_sum(model: nn.Module, enabled: bool = True) -> nn.Module:
    """Make every :class:`RepDepthwise` of ``model`` compute the paper-literal sum of branch convolutions
    (``enabled``) or the composed kernel (the default); returns ``model``. The benchmark times both forms."""
    for module in model.modules():
        if isinstance(module, RepDepthwise):
            module.branch_sum = enabled
    return model
