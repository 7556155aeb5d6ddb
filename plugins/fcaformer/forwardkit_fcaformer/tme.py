"""Token merge and enhancement (TME), the convolutional half of an Fca block (official ``FcaBlock.forward``,
"local conv and skip token generate").

After the attention residual the tokens are viewed as a map ``(B, C, H, W)``:

* **merge** (every block but the last of a stage): cross tokens ``s_i = flatten(DW_{k x k, stride s}(x))``,
  ``(B, n_s, C)`` with ``n_s = ceil(H/s) * ceil(W/s)`` for the official k=7, s=4, padding 3, no bias (16 tokens
  pooled into one); ``'avgpool'`` averages the same windows instead; ``'none'`` passes every token;
* **enhancement**: ``x <- BN(DW_3x3(x))``, which *replaces* x (no residual, as in TinyViT).

The merge reads x before the enhancement.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit.nn import conv_output_size
from forwardkit_fcaformer.layers import ConvBN, map_to_tokens


def merged_count(grid: tuple[int, ...], *, mode: str, kernel: int, stride: int) -> int:
    """Cross tokens one block produces on ``grid``: ``prod(floor((g + 2 (k // 2) - k) / s) + 1)`` (= ``ceil(g / s)``
    for odd k >= s - 1), or every token for ``mode='none'``."""
    n = 1
    for g in grid:
        side = g if mode == "none" else conv_output_size(g, kernel_size=kernel, stride=stride, padding=kernel // 2)
        assert side is not None and side > 0, f"a merge of kernel {kernel} does not fit an axis of {g} tokens"
        n *= side
    return n


class TokenMerge(nn.Module):
    """Cross tokens of one block: ``(B, C, H, W) -> (B, n_s, C)`` (official ``dw_conv``)."""

    def __init__(self, *, dim: int, mode: str = "dwconv", kernel: int = 7, stride: int = 4) -> None:
        super().__init__()
        self.mode, self.kernel, self.stride = mode, kernel, stride
        self.conv = (nn.Conv2d(dim, dim, kernel, stride, kernel // 2, groups=dim, bias=False)
                     if mode == "dwconv" else None)

    def forward(self, x: Tensor) -> Tensor:
        if self.conv is not None:
            x = self.conv(x)
        elif self.mode == "avgpool":
            x = F.avg_pool2d(x, self.kernel, self.stride, self.kernel // 2, count_include_pad=False)
        return map_to_tokens(x)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, kernel={self.kernel}, stride={self.stride}"


class LocalEnhance(ConvBN):
    """``BN(DW_3x3(x))`` on ``(B, C, H, W)`` (official ``local_conv``)."""

    def __init__(self, *, dim: int) -> None:
        super().__init__(dim, dim, 3, 1, groups=dim)
