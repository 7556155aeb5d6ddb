"""``selfie_pretrainer``: the network Selfie pre-trains (paper's method; the card's Mechanism steps 1-5).

1. the image ``(B, H, W, C)`` is cut into a G x G grid of P x P patches
   (:func:`~forwardkit_selfie.patches.patchify_grid`);
2. the patch network embeds every patch on its own: ``h_j = P(p_j)``, ``(B, n, d)`` with ``n = G^2``;
3. the visible patches ``j in V`` are pooled by the attention pooling A into ``u`` ``(B, d)``;
4. for every masked location ``i = (r, c) in T`` the query is ``v_i = u + row[r] + col[c]``;
5. the masked patches themselves, embedded by the same P, are the candidates ``h_t``, ``t in T``.

P runs once over all n patches (context and masked alike: the cost of one forward of P over the image). In train
mode its BatchNorm statistics therefore mix visible and masked patches; in eval mode ``u`` depends on the visible
patches only (tested). ``forward(x, masked)`` returns the candidate logits ``(B, m, m)`` (temperature 1); without
``masked`` it returns ``u`` of the whole image ``(B, d)``, the pre-trained image embedding.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from forwardkit.interfaces import Model
from forwardkit_selfie.config import SelfiePretrainerConfig
from forwardkit_selfie.loss import selfie_logits
from forwardkit_selfie.patch_net import PatchNet
from forwardkit_selfie.patches import pad_center, patchify_grid
from forwardkit_selfie.pooling import AttentionPooling, FactorisedPosition


def context_indices(masked: Tensor, num_patches: int) -> Tensor:
    """The visible locations ``V`` (ascending) of every row of masked locations ``(B, m)`` -> ``(B, n - m)``."""
    keep = torch.ones(masked.shape[0], num_patches, dtype=torch.int64, device=masked.device)
    keep = keep.scatter(1, masked, 0)
    order = torch.sort(1 - keep, dim=1, stable=True).indices
    return order[:, : num_patches - masked.shape[1]]


def gather_tokens(h: Tensor, index: Tensor) -> Tensor:
    """Rows ``index`` ``(B, k)`` of ``h`` ``(B, n, d)`` -> ``(B, k, d)``."""
    return torch.gather(h, 1, index.unsqueeze(-1).expand(-1, -1, h.shape[-1]))


class SelfiePretrainer(Model):
    """Patch network + attention pooling + factorised position embeddings, on ``(B, H, W, C)`` images."""

    Config = SelfiePretrainerConfig
    config: SelfiePretrainerConfig
    conformance_configs = ({"embed_dim": 16, "pool_layers": 1, "pool_heads": 2, "patch_size": 4, "grid": 2,
                            "in_channels": 1},
                           {"embed_dim": 8, "pool_layers": 1, "pool_heads": 2, "patch_size": 2, "grid": 3,
                            "patch_net": "resnet_stem", "context_pos_emb": True, "in_channels": 2})

    def __init__(self, config: SelfiePretrainerConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        self.patch_net = PatchNet(cfg)
        self.pool = AttentionPooling(dim=cfg.embed_dim, layers=cfg.pool_layers, heads=cfg.pool_heads,
                                     mlp_ratio=cfg.mlp_ratio)
        self.pos = FactorisedPosition(grid=cfg.grid, dim=cfg.embed_dim, init_std=cfg.pos_init_std)

    @property
    def num_patches(self) -> int:
        return self.config.grid ** 2

    @property
    def side(self) -> int:
        return self.config.grid * self.config.patch_size

    def patches(self, x: Tensor) -> Tensor:
        """``(B, H, W, C)`` images -> ``(B, n, C, P, P)`` patches (padded to G x P first when ``pad_input``)."""
        if x.dim() != 4 or x.shape[-1] != self.config.in_channels:
            raise ValueError(f"selfie_pretrainer takes (B, H, W, {self.config.in_channels}) images, got "
                             f"{tuple(x.shape)}")
        img = x.permute(0, 3, 1, 2)
        if self.config.pad_input:
            img = pad_center(img, self.side)
        elif img.shape[-2:] != (self.side, self.side):
            raise ValueError(f"images must be {self.side} x {self.side} (grid x patch_size) with pad_input false, "
                             f"got {tuple(img.shape[-2:])}")
        return patchify_grid(img, self.config.patch_size)

    def embed_patches(self, x: Tensor) -> Tensor:
        """Step 2: ``h_j = P(p_j)`` for every patch: ``(B, H, W, C) -> (B, n, d)``."""
        p = self.patches(x)
        b, n = p.shape[:2]
        return self.patch_net(p.reshape(b * n, *p.shape[2:])).reshape(b, n, -1)

    def encode(self, h_context: Tensor, context: Tensor) -> Tensor:
        """Step 3: ``u = A(h_j, j in V)``: ``(B, k, d)`` embeddings at locations ``context`` ``(B, k)`` -> ``(B, d)``.

        With ``context_pos_emb`` the visible embeddings get ``pos(j)`` added first."""
        if self.config.context_pos_emb:
            h_context = h_context + self.pos(context)
        return self.pool(h_context)

    def pretext(self, x: Tensor, masked: Tensor) -> tuple[Tensor, Tensor]:
        """Steps 2-5: images ``(B, H, W, C)`` and masked locations ``(B, m)`` -> queries ``v`` ``(B, m, d)`` and
        candidates ``h_t`` ``(B, m, d)`` (candidate ``i`` is the patch at ``masked[:, i]``)."""
        h = self.embed_patches(x)
        context = context_indices(masked, h.shape[1])
        u = self.encode(gather_tokens(h, context), context)
        queries = u.unsqueeze(1) + self.pos(masked)
        return queries, gather_tokens(h, masked)

    def forward(self, x: Tensor, masked: Tensor | None = None) -> Tensor:
        """With ``masked`` ``(B, m)``: the candidate logits ``(B, m, m)``; without: ``u`` of all patches ``(B, d)``."""
        if masked is None:
            h = self.embed_patches(x)
            every = torch.arange(h.shape[1], device=h.device).expand(h.shape[0], -1)
            return self.encode(h, every)
        return selfie_logits(*self.pretext(x, masked))

    def forward_batch(self, batch: Mapping[str, Tensor]) -> Tensor:
        """``batch["x"]`` with the optional ``batch["masked"]`` (as :meth:`forward`)."""
        return self(batch["x"], batch.get("masked"))

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Random ``(B, G P, G P, C)`` images and 2 masked locations per image."""
        cfg = self.config
        x = torch.rand(batch_size, self.side, self.side, cfg.in_channels, generator=generator)
        masked = torch.rand(batch_size, self.num_patches, generator=generator).argsort(dim=1)[:, :2]
        return {"x": x, "masked": masked}
