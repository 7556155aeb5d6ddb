"""The three objectives' inputs and targets (official ``cover_image_with_patches`` and
``preserve_patches_and_fill_rest``), on channels-last images ``(B, *spatial, C)``.

* random token prediction: ``int(K * r)`` tokens chosen uniformly without replacement are overwritten (fill);
* prefix masking (next-token and next-all): tokens ``0 .. k-1`` are kept, ``k .. K-1`` are filled, with
  ``k ~ Uniform{1, ..., K-1}`` per sample, so that at least one token is visible and one is hidden;
* the next-token target is token ``k`` (the first hidden one) of the volume it is cut from.

``random_token_mask`` is vectorised (argsort of uniform scores); ``random_token_mask_reference`` is the
per-sample loop of the official code (``random.sample`` of token indices), and a test checks that both hide
exactly ``int(K * r)`` tokens and agree when given the same scores.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

from forwardkit_tokenunify.tokens import patchify, token_grid, token_mask_to_voxels

Fill = Literal["noise", "zero"]


def _filler(x: Tensor, fill: Fill, generator: torch.Generator | None) -> Tensor:
    if fill == "zero":
        return torch.zeros_like(x)
    return torch.randn(x.shape, generator=generator, dtype=x.dtype, device="cpu").to(x.device)


def fill_tokens(x: Tensor, mask: Tensor, patch: tuple[int, ...], *, fill: Fill = "noise",
                generator: torch.Generator | None = None) -> Tensor:
    """``x`` ``(B, *spatial, C)`` with the tokens where ``mask`` ``(B, K)`` is True overwritten by N(0, 1) noise
    (``noise``, official fill_mode 1) or zeros; the other voxels are returned bit-identical."""
    spatial = tuple(x.shape[1:-1])
    voxels = token_mask_to_voxels(mask.to(x.device), spatial, patch)
    return torch.where(voxels, _filler(x, fill, generator), x)


def hidden_count(k_tokens: int, ratio: float) -> int:
    """How many tokens the random objective hides: ``int(K * r)`` (official ``int(num_patches * mask_ratio)``)."""
    return int(k_tokens * ratio)


def draw_ratios(batch: int, low: float, high: float, generator: torch.Generator | None) -> Tensor:
    """Per-sample mask ratios ``(B,)``: the fixed ratio when ``low == high``, else ``U(low, high)``."""
    if low == high:
        return torch.full((batch,), low)
    return low + (high - low) * torch.rand(batch, generator=generator)


def random_token_mask(batch: int, k_tokens: int, ratios: Tensor, *, generator: torch.Generator | None = None,
                      scores: Tensor | None = None) -> Tensor:
    """``(B, K)`` boolean mask hiding ``int(K * r_b)`` tokens of sample b, uniformly without replacement: the
    tokens of the smallest uniform ``scores`` (drawn here unless given, ``(B, K)``)."""
    if scores is None:
        scores = torch.rand(batch, k_tokens, generator=generator)
    counts = torch.tensor([hidden_count(k_tokens, float(r)) for r in ratios])
    rank = scores.argsort(dim=1).argsort(dim=1)  # rank of each token's score within its sample
    return rank < counts[:, None]


def random_token_mask_reference(batch: int, k_tokens: int, ratios: Tensor, scores: Tensor) -> Tensor:
    """Paper-literal per-sample loop: for each sample choose ``int(K * r)`` token indices (here the tokens of the
    smallest scores, so that the vectorised form can be compared) and cover them one by one."""
    mask = torch.zeros(batch, k_tokens, dtype=torch.bool)
    for b in range(batch):
        n = hidden_count(k_tokens, float(ratios[b]))
        chosen = sorted(range(k_tokens), key=lambda t: float(scores[b, t]))[:n]
        for t in chosen:
            mask[b, t] = True
    return mask


def draw_prefix_lengths(batch: int, k_tokens: int, generator: torch.Generator | None = None) -> Tensor:
    """``k ~ Uniform{1, ..., K-1}`` per sample ``(B,)`` (never 0, never K)."""
    if k_tokens < 2:
        raise ValueError(f"prefix masking needs at least 2 tokens, the image has {k_tokens}")
    return torch.randint(1, k_tokens, (batch,), generator=generator)


def prefix_mask(k: Tensor, k_tokens: int) -> Tensor:
    """``(B, K)`` mask of the hidden tokens ``t >= k_b`` (raster order)."""
    return torch.arange(k_tokens)[None, :] >= k[:, None]


def next_token_target(x: Tensor, k: Tensor, patch: tuple[int, ...]) -> Tensor:
    """Token ``k_b`` of each sample of ``x`` ``(B, *spatial, C)``, as a patch ``(B, *patch, C)``."""
    tokens = patchify(x, patch)  # (B, K, prod(patch), C)
    idx = k.to(x.device).view(-1, 1, 1, 1).expand(-1, 1, tokens.shape[2], tokens.shape[3])
    return tokens.gather(1, idx).reshape(x.shape[0], *patch, x.shape[-1])


def random_inputs(x: Tensor, patch: tuple[int, ...], low: float, high: float, *, fill: Fill = "noise",
                  generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """The random objective's input: ``(masked x, token mask (B, K))``."""
    k_tokens = math.prod(token_grid(tuple(x.shape[1:-1]), patch))
    ratios = draw_ratios(x.shape[0], low, high, generator)
    mask = random_token_mask(x.shape[0], k_tokens, ratios, generator=generator)
    return fill_tokens(x, mask, patch, fill=fill, generator=generator), mask


def prefix_inputs(x: Tensor, patch: tuple[int, ...], *, fill: Fill = "noise",
                  generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """The autoregressive objectives' input: ``(x with tokens >= k filled, k (B,))``."""
    k_tokens = math.prod(token_grid(tuple(x.shape[1:-1]), patch))
    k = draw_prefix_lengths(x.shape[0], k_tokens, generator)
    return fill_tokens(x, prefix_mask(k, k_tokens), patch, fill=fill, generator=generator), k
