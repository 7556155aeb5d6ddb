"""The blocks of FcaFormer: the Fca block (stages 3-4, token sequences) and the ConvNeXt block (stages 1-2).

Fca block i of a stage of depth L (official ``FcaBlock``), tokens ``x`` ``(B, N, C)`` on a fixed ``(H, W)``:

1. ``x <- x + DropPath(g_1 * FcaAttention(x, S_i))`` (``S_i``: the cross tokens of earlier blocks, none for i = 0);
2. TME on the map of x: cross tokens ``s_i = merge(x)`` if ``i < L - 1``; then ``x <- BN(DW_3x3(x))``;
3. ``x <- x + DropPath(g_2 * MLP(LN_2(x)))``, ``MLP = fc2(GELU(fc1(LN(.))))`` (its own LayerNorm: the
   double normalisation of the official code, switchable);

``g_1``, ``g_2`` per-channel layer scales (init 1e-6). Returns ``(x, s_i or None)``.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from forwardkit.nn import DropPath, Scale
from forwardkit_fcaformer.attention import FcaAttention
from forwardkit_fcaformer.layers import map_to_tokens, tokens_to_map
from forwardkit_fcaformer.tme import LocalEnhance, TokenMerge


class NormedMlp(nn.Module):
    """``fc2(GELU(fc1(LN(x))))`` (official ``Mlp``, which starts with its own LayerNorm; same parameter names), or
    without the LayerNorm (``norm=False``); hidden width ``int(C * mlp_ratio)``; ``(B, N, C) -> (B, N, C)``.

    Plain ``nn.Linear`` layers: ``forwardkit.nn.FeedForward``'s per-shape kernel measurement costs about 3 s per
    process on this model's many small shapes and found no faster kernel for it."""

    def __init__(self, *, dim: int, mlp_ratio: float = 4.0, norm: bool = True) -> None:
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm = nn.LayerNorm(dim) if norm else nn.Identity()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(self.norm(x))))


class FcaBlock(nn.Module):
    """One Fca block (steps 1-3 above): ``forward(x (B, N, C), cross (B, n_cross, C) or None)`` ->
    ``(x (B, N, C), s (B, n_s, C) or None)``; ``forward_with_weights`` also returns the joint softmax."""

    def __init__(self, *, dim: int, grid: tuple[int, int], n_cross: int, produces: bool, head_dim: int,
                 mlp_ratio: float = 4.0, drop_path: float = 0.0, layer_scale_init: float = 1e-6,
                 merge: dict[str, Any] | None = None, local_conv: bool = True, double_ln: bool = True,
                 **attention: Any) -> None:
        super().__init__()
        self.grid = grid
        self.attn = FcaAttention(dim=dim, head_dim=head_dim, grid=grid, n_cross=n_cross, **attention)
        self.gamma1 = Scale(dim=dim, init_value=layer_scale_init)
        self.gamma2 = Scale(dim=dim, init_value=layer_scale_init)
        self.drop_path = DropPath(p=drop_path)
        self.merge = TokenMerge(dim=dim, **(merge or {})) if produces else None
        self.local = LocalEnhance(dim=dim) if local_conv else None
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = NormedMlp(dim=dim, mlp_ratio=mlp_ratio, norm=double_ln)

    @property
    def n_cross(self) -> int:
        return self.attn.n_cross

    def _run(self, x: Tensor, cross: Tensor | None, need_weights: bool
             ) -> tuple[Tensor, Tensor | None, Tensor | None]:
        out, weights = self.attn(x, cross, need_weights=need_weights)
        x = x + self.drop_path(self.gamma1(out))
        s = None
        if self.merge is not None or self.local is not None:
            fmap = tokens_to_map(x, self.grid)
            s = self.merge(fmap) if self.merge is not None else None
            x = map_to_tokens(self.local(fmap)) if self.local is not None else x
        x = x + self.drop_path(self.gamma2(self.mlp(self.norm2(x))))
        return x, s, weights

    def forward(self, x: Tensor, cross: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        x, s, _ = self._run(x, cross, False)
        return x, s

    def forward_with_weights(self, x: Tensor, cross: Tensor | None = None
                             ) -> tuple[Tensor, Tensor | None, Tensor]:
        """As :meth:`forward`, plus the softmax weights ``(B, h, N, N + M)`` (the reference attention path)."""
        x, s, weights = self._run(x, cross, True)
        assert weights is not None
        return x, s, weights


class ConvNeXtBlock(nn.Module):
    """``x + DropPath(g * fc2(GELU(fc1(LN(DW_7x7(x))))))`` on ``(B, C, H, W)`` (official ``CxBlock``: LN eps 1e-6,
    DW conv with bias, layer scale init 1e-6)."""

    def __init__(self, *, dim: int, mlp_ratio: float = 4.0, drop_path: float = 0.0,
                 layer_scale_init: float = 1e-6) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1, self.act = nn.Linear(dim, int(dim * mlp_ratio)), nn.GELU()
        self.pwconv2 = nn.Linear(int(dim * mlp_ratio), dim)
        self.gamma = Scale(dim=dim, init_value=layer_scale_init)
        self.drop_path = DropPath(p=drop_path)

    def forward(self, x: Tensor) -> Tensor:
        y = self.dwconv(x).permute(0, 2, 3, 1)  # (B, H, W, C)
        y = self.gamma(self.pwconv2(self.act(self.pwconv1(self.norm(y))))).permute(0, 3, 1, 2)
        return x + self.drop_path(y)
