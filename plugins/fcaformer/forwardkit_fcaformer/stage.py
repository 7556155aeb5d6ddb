"""The Fca stage: it owns the block loop and the cross-token bank (official ``FcaLayer``).

Why a stage and not a token mixer: the blocks of a stage share state (the cross tokens earlier blocks
produced), and forwardkit token mixers are stateless and independent (design.md, "State across blocks"), so
the bank is created here, once per forward pass, and handed from block to block.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from forwardkit_fcaformer.bank import CrossTokenBank, cross_token_count
from forwardkit_fcaformer.blocks import FcaBlock
from forwardkit_fcaformer.tme import merged_count


class FcaStage(nn.Module):
    """``depth`` Fca blocks on ``(B, N, C)`` tokens of a fixed ``grid``; block i reads
    ``min(i, max_depth) * n_s`` cross tokens (none with ``cross_tokens=False``) and every block but the last
    writes ``n_s = merged_count(grid)`` of its own. ``drop_paths``: one rate per block."""

    def __init__(self, *, dim: int, depth: int, grid: tuple[int, int], head_dim: int, drop_paths: list[float],
                 cross_tokens: bool = True, max_depth: int = 12, merge: dict[str, Any] | None = None,
                 **block: Any) -> None:
        super().__init__()
        merge = dict(merge or {"mode": "dwconv", "kernel": 7, "stride": 4})
        self.grid, self.max_depth, self.cross_tokens = grid, max_depth, cross_tokens
        self.per_block = merged_count(grid, **merge) if cross_tokens else 0
        self.blocks = nn.ModuleList(
            FcaBlock(dim=dim, grid=grid, head_dim=head_dim, drop_path=drop_paths[i], merge=merge,
                     n_cross=cross_token_count(i, self.per_block, max_depth),
                     produces=cross_tokens and i < depth - 1, **block)
            for i in range(depth))

    def forward(self, x: Tensor) -> Tensor:
        """``(B, N, C) -> (B, N, C)``."""
        bank = CrossTokenBank(max_depth=self.max_depth)
        for block in self.blocks:
            x, s = block(x, bank.read())
            if s is not None:
                bank.write(s)
        return x

    def forward_with_weights(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """As :meth:`forward`, plus every block's joint softmax ``(B, h, N, N + M_i)``."""
        bank = CrossTokenBank(max_depth=self.max_depth)
        weights = []
        for block in self.blocks:
            assert isinstance(block, FcaBlock)
            x, s, w = block.forward_with_weights(x, bank.read())
            weights.append(w)
            if s is not None:
                bank.write(s)
        return x, weights
