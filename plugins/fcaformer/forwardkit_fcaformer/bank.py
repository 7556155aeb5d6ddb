"""The cross-token bank of one Fca stage (official ``FcaLayer.forward``'s ``s_list``).

A bank lives for one forward pass of one stage: the stage creates an empty bank, block i reads the cross
tokens of the last ``min(i, D)`` earlier blocks (concatenated along the token axis, oldest first) and then
writes its own. Nothing is kept across calls (that would break autograd and evaluation) and nothing crosses a
stage boundary: each stage has its own bank.
"""

from __future__ import annotations

import torch
from torch import Tensor


def cross_token_count(index: int, per_block: int, max_depth: int) -> int:
    """Cross tokens that block ``index`` reads: ``min(index, D) * n_s``."""
    return min(index, max_depth) * per_block


class CrossTokenBank:
    """The cross-token sets written so far in one forward pass, each ``(B, n_s, C)``."""

    def __init__(self, *, max_depth: int) -> None:
        self.max_depth = max_depth
        self._sets: list[Tensor] = []

    def __len__(self) -> int:
        return len(self._sets)

    def write(self, tokens: Tensor) -> None:
        """Append the cross tokens ``(B, n_s, C)`` of the next block."""
        self._sets.append(tokens)

    def read(self) -> Tensor | None:
        """The last ``min(len, D)`` sets on the token axis, ``(B, min(len, D) * n_s, C)``; None when empty."""
        if not self._sets:
            return None
        recent = self._sets[-self.max_depth:]
        return recent[0] if len(recent) == 1 else torch.cat(recent, dim=1)
