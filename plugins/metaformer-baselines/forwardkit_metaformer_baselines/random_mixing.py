"""RandFormer's random token mixing (paper sec. 3.3): a frozen ``N x N`` matrix ``R``, each row a softmax
of ``U[0, 1)`` samples, mixes the flattened tokens: ``Y = R X``.

``R`` is a persistent *buffer* (never a parameter, so no optimiser sees it; it is saved in the
``state_dict``). With ``num_tokens=None`` it is built by the first input (``N = prod(spatial)``) and
fixed from then on; a new instance that loads a ``state_dict`` takes ``R`` (and N) from it.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from forwardkit.interfaces import TokenMixer
from forwardkit_metaformer_baselines.config import RandomMixingConfig


def random_mixing_matrix(num_tokens: int, seed: int, *, causal_mask: bool = False) -> Tensor:
    """The frozen mixing matrix ``R`` of shape ``(N, N)``: ``softmax(U)`` row-wise with ``U ~ U[0, 1)``
    drawn from a generator seeded with ``seed`` (official code: ``softmax(rand(N, N), dim=-1)``).

    With ``causal_mask`` the entries above the diagonal are zeroed and every row renormalised to sum 1.
    """
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    matrix = torch.softmax(torch.rand(num_tokens, num_tokens, generator=gen, device="cpu"), dim=-1)
    if causal_mask:
        matrix = torch.tril(matrix)
        matrix = matrix / matrix.sum(-1, keepdim=True)
    return matrix


def random_mix(x: Tensor, matrix: Tensor) -> Tensor:
    """``Y = R X`` over the flattened tokens: ``x`` is ``(B, *spatial, C)``, ``matrix`` ``(N, N)`` with
    ``N = prod(spatial)``; channels are untouched. Returns ``(B, *spatial, C)``."""
    tokens = x.reshape(x.shape[0], -1, x.shape[-1])  # (B, N, C)
    if tokens.shape[1] != matrix.shape[0]:
        raise ValueError(f"random mixing matrix is for {matrix.shape[0]} tokens, input has {tokens.shape[1]}")
    return torch.matmul(matrix.to(x.dtype), tokens).reshape(x.shape)


class RandomMixing(TokenMixer):
    """Frozen random token mixing on ``(B, *spatial, C)`` for spatial ranks 1, 2, 3 (see :func:`random_mix`).

    The matrix is the buffer ``matrix``, of shape ``(0, 0)`` until its N is known. ``seed=None`` draws
    the matrix's seed from torch's global RNG at construction, so the blocks of a model get independent
    matrices that are still fixed by ``torch.manual_seed``. Causal only with ``causal_mask``.
    """

    Config = RandomMixingConfig
    config: RandomMixingConfig
    conformance_configs = ({}, {"causal_mask": True}, {"seed": 5, "num_tokens": 24})

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        self.causal = cfg.causal_mask
        if cfg.seed is None:
            self.matrix_seed = int(torch.randint(0, 2**62, (1,), device="cpu"))
        else:
            self.matrix_seed = cfg.seed
        self.register_buffer("matrix", torch.empty(0, 0))
        if cfg.num_tokens is not None:
            self._materialize(cfg.num_tokens)

    @property
    def num_tokens(self) -> int | None:
        """N of the matrix, or None while it is not built yet."""
        return self.matrix.shape[0] if self.matrix.numel() else None

    def _materialize(self, num_tokens: int) -> None:
        device = self.matrix.device
        matrix = random_mixing_matrix(num_tokens, self.matrix_seed, causal_mask=self.config.causal_mask)
        self.matrix = matrix.to(device) if device.type != "meta" else matrix.to("meta")

    def supports(self, spatial: tuple[int, ...]) -> bool:
        """Ranks 1-3, and (once N is fixed) only shapes with ``prod(spatial) == N``."""
        n = self.num_tokens or self.config.num_tokens
        return len(spatial) in self.ranks and (n is None or math.prod(spatial) == n)

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        loaded = state_dict.get(prefix + "matrix")
        if isinstance(loaded, Tensor) and self.num_tokens is None and loaded.dim() == 2:
            # a lazily built matrix: take N from the saved state (the values are copied by the base class)
            self.matrix = torch.empty(loaded.shape, dtype=self.matrix.dtype, device=self.matrix.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, x: Tensor) -> Tensor:
        if self.num_tokens is None:
            self._materialize(math.prod(x.shape[1:-1]))
        return random_mix(x, self.matrix)

    def extra_repr(self) -> str:
        return f"num_tokens={self.num_tokens}, causal_mask={self.config.causal_mask}"
