"""The weight-sharing super-network (paper: weight-sharing NAS with multi-architectural sampling; official
``vit_sr_supernet.py`` with ``supernet=True``, ``supernet_blocks.py``, ``channel_drop.py``).

The super-network is the largest ViT-Res of its search space. A sub-network (:class:`~forwardkit_vit_resnas.arch.Arch`)
is the same network with prefix masks: per stage the first ``embed[s]`` channels of the token stream, per block
the first ``attn / head_dim`` heads (the attention output before its projection), the first ``mlp`` hidden
units, and for a skipped block a zero residual branch. The stream is masked after the stem and after every
reduction, every LayerNorm is masked (:mod:`~forwardkit_vit_resnas.masked_norm`), and each residual branch is
multiplied by ``embed mask x keep``. Masks are per sample, ``(B, 1, C)``, so one batch can carry many
sub-networks (multi-architectural sampling) at the cost of one pass of the largest network.

:meth:`ViTResSuperNet.extract` copies the weight prefixes of a sub-network into a stand-alone
:class:`~forwardkit_vit_resnas.vit_res.ViTRes` that computes exactly what the masked super-network computes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, cast

import torch
from torch import Tensor, nn

from forwardkit.interfaces import Model
from forwardkit.nn import (
    DropPath,
    Pointwise,
    drop_path_schedule,
    make_activation,
    merge_heads,
    pointwise,
    project_qkv,
    scaled_dot_product_attention,
)
from forwardkit_vit_resnas.arch import Arch, SearchSpace, subnet_config
from forwardkit_vit_resnas.config import ViTResSuperNetConfig
from forwardkit_vit_resnas.masked_norm import MaskedLayerNorm, prefix_mask
from forwardkit_vit_resnas.rsr import ResidualSpatialReduction
from forwardkit_vit_resnas.vit_res import ViTRes, init_linear, make_stem, pad_to

#: a small super-network (8x8 images, patch 2: 2 stages of 2 blocks) for checks and tests
TINY_FIELDS: dict[str, Any] = {
    "img_size": 8, "patch": 2, "depths": [2, 2], "embed_choices": [[16, 12, 8], [24, 20, 16]], "head_dims": [4, 4],
    "attn_choices": [[8, 4], [16, 8]], "mlp_choices": [[32, 16], [48, 24]], "drop_path": 0.0,
}


class MaskedAttention(nn.Module):
    """Multi-head self-attention on ``(B, N, C)`` with ``heads`` heads of ``head_dim`` channels (official
    ``Attention``); ``head_mask`` ``(B or 1, 1, heads * head_dim)`` zeroes the outputs of dropped heads before
    the projection, which is the same as removing those heads. Layers ``qkv``, ``proj`` as the builtin
    ``attention`` token mixer's (rows of ``qkv``: q of every head, then k, then v)."""

    def __init__(self, *, dim: int, heads: int, head_dim: int) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        self.qkv = nn.Linear(dim, 3 * heads * head_dim)
        self.proj = nn.Linear(heads * head_dim, dim)

    def forward(self, x: Tensor, head_mask: Tensor | None = None) -> Tensor:
        q, k, v = project_qkv(x, self.qkv.weight, self.qkv.bias, num_heads=self.heads)
        out = merge_heads(scaled_dot_product_attention(q, k, v))  # (B, N, heads * head_dim)
        if head_mask is not None:
            out = out * head_mask
        return pointwise(out, self.proj.weight, self.proj.bias)

    def head_importance(self) -> Tensor:
        """Official ``Attention.rewiring``: per head, the sum of |weight| of its q, k, v rows, |bias| of those
        rows and |weight| of its projection columns, ``(heads,)``."""
        h, d = self.heads, self.head_dim
        qkv = self.qkv.weight.detach().abs().sum(1).reshape(3, h, d).sum((0, 2))
        bias = self.qkv.bias.detach().abs().reshape(3, h, d).sum((0, 2))
        proj = self.proj.weight.detach().abs().sum(0).reshape(h, d).sum(1)
        return qkv + bias + proj


class MaskedMLP(nn.Module):
    """``fc2(GELU(fc1(x)) * hidden_mask)`` on ``(B, N, C)`` (official ``Mlp`` with ``ChannelDrop``); layers
    ``fc1``, ``fc2`` as :class:`~forwardkit.nn.FeedForward`'s."""

    def __init__(self, *, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = Pointwise(dim, hidden)
        self.act = make_activation("gelu")
        self.fc2 = Pointwise(hidden, dim)

    def forward(self, x: Tensor, hidden_mask: Tensor | None = None) -> Tensor:
        h = self.act(self.fc1(x))
        return self.fc2(h if hidden_mask is None else h * hidden_mask)

    def unit_importance(self) -> Tensor:
        """Official ``Mlp.rewiring``: per hidden unit, sum |fc1 row| + |fc1 bias| + sum |fc2 column|, ``(hidden,)``."""
        return (self.fc1.weight.detach().abs().sum(1) + self.fc1.bias.detach().abs()
                + self.fc2.weight.detach().abs().sum(0))


@dataclass
class BlockMasks:
    """The masks of one block for a batch: ``attn`` ``(n, 1, heads * head_dim)``, ``mlp`` ``(n, 1, hidden)``,
    ``keep`` ``(n, 1, 1)`` (n = B, or 1 for one sub-network for every sample)."""

    attn: Tensor
    mlp: Tensor
    keep: Tensor


class SuperBlock(nn.Module):
    """The super-network's block (official ``Block``): with masks,
    ``x + DropPath(m_e * keep * MHSA(LN_m(x)))`` then ``x + DropPath(m_e * keep * MLP(LN_m(x)))``; without, the
    plain ViT-Res block."""

    def __init__(self, *, dim: int, heads: int, head_dim: int, hidden: int, drop_path: float, eps: float) -> None:
        super().__init__()
        self.norm1 = MaskedLayerNorm(dim, eps=eps)
        self.token_mixer = MaskedAttention(dim=dim, heads=heads, head_dim=head_dim)
        self.norm2 = MaskedLayerNorm(dim, eps=eps)
        self.channel_mixer = MaskedMLP(dim=dim, hidden=hidden)
        self.drop_path = DropPath(p=drop_path)

    def forward(self, x: Tensor, embed_mask: Tensor | None = None, masks: BlockMasks | None = None) -> Tensor:
        if embed_mask is None or masks is None:
            x = x + self.drop_path(self.token_mixer(self.norm1(x)))
            return x + self.drop_path(self.channel_mixer(self.norm2(x)))
        branch = embed_mask * masks.keep
        x = x + self.drop_path(branch * self.token_mixer(self.norm1(x, embed_mask), masks.attn))
        return x + self.drop_path(branch * self.channel_mixer(self.norm2(x, embed_mask), masks.mlp))

    def rewire(self) -> dict[str, tuple[int, Tensor]]:
        """Sort heads and hidden units by importance, most important first, in place (official ``Block.rewiring``).
        The full-width block computes the same function. Returns ``{parameter name: (dim, index)}``."""
        attn, mlp = self.token_mixer, self.channel_mixer
        heads = torch.argsort(attn.head_importance(), descending=True)
        d = attn.head_dim
        # (heads * d,): the new order of the attention channels, head by head
        channels = (heads[:, None] * d + torch.arange(d, device=heads.device)).flatten()
        rows = torch.cat([channels + j * attn.heads * d for j in range(3)])
        units = torch.argsort(mlp.unit_importance(), descending=True)
        perms = {"token_mixer.qkv.weight": (0, rows), "token_mixer.qkv.bias": (0, rows),
                 "token_mixer.proj.weight": (1, channels), "channel_mixer.fc1.weight": (0, units),
                 "channel_mixer.fc1.bias": (0, units), "channel_mixer.fc2.weight": (1, units)}
        params = dict(self.named_parameters())
        with torch.no_grad():
            for name, (dim, index) in perms.items():
                params[name].copy_(params[name].index_select(dim, index))
        return perms


class ViTResSuperNet(Model):
    """The super-network (module docstring): ``(B, H, W, C_in)`` images -> ``(B, num_classes)`` logits.

    ``set_arch(arch)`` fixes one sub-network for every sample (in training and evaluation);
    ``set_sample_archs(archs)`` gives sample ``b`` the sub-network ``archs[b % len(archs)]`` (multi-architectural
    sampling); with neither, the forward is the largest network without masks. ``extract(arch)`` returns the
    stand-alone :class:`~forwardkit_vit_resnas.vit_res.ViTRes` of a sub-network; ``rewire()`` sorts heads and
    hidden units by importance. State-dict keys are those of the largest ``ViTRes``.
    """

    Config = ViTResSuperNetConfig
    config: ViTResSuperNetConfig
    #: the kit checks small super-networks (the default one, 3 x 6 blocks, takes ~0.5 s a check)
    conformance_configs: ClassVar[tuple[dict[str, Any], ...]] = (
        dict(TINY_FIELDS),
        {**TINY_FIELDS, "stem": "conv", "stem_mid": 4, "num_cls_tokens": 2, "skip_every": 1},
    )

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        self.space = SearchSpace(cfg)
        self.fixed_arch: Arch | None = None
        self.sample_archs: list[Arch] | None = None
        widths = [c[0] for c in cfg.embed_choices]
        self.grid = cfg.img_size // cfg.patch
        t = cfg.num_cls_tokens
        self.stem = make_stem(cfg, widths[0])
        self.cls_token = nn.Parameter(torch.zeros(1, t, widths[0]))
        self.pos_embed = nn.Parameter(torch.zeros(1, t + self.grid ** 2, widths[0]))
        rates = drop_path_schedule(cfg.drop_path, cfg.depths)
        self.stages = nn.ModuleList()
        self.reductions = nn.ModuleList()
        grid = self.grid
        for s, depth in enumerate(cfg.depths):
            if s > 0:
                self.reductions.append(ResidualSpatialReduction(
                    in_dim=widths[s - 1], out_dim=widths[s], grid=grid, num_cls_tokens=t, residual=cfg.residual_sr,
                    kernel=cfg.sr_kernel, new_pos_embed=cfg.new_pos_embed, norm_eps=cfg.norm_eps))
                grid //= 2
            d = cfg.head_dims[s]
            self.stages.append(nn.ModuleList(
                SuperBlock(dim=widths[s], heads=cfg.attn_choices[s][0] // d, head_dim=d, hidden=cfg.mlp_choices[s][0],
                           drop_path=rates[s][i], eps=cfg.norm_eps) for i in range(depth)))
        self.norm = MaskedLayerNorm(widths[-1], eps=cfg.norm_eps)
        self.head = nn.Linear(widths[-1], cfg.num_classes)
        self.apply(init_linear)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)

    # ---- choosing sub-networks -----------------------------------------------------------------------------
    def set_arch(self, arch: Arch | None) -> None:
        """Fix sub-network ``arch`` for every sample (None: back to the largest, unmasked)."""
        if arch is not None and not self.space.contains(arch):
            raise ValueError(f"{arch} is not a sub-network of this search space")
        self.fixed_arch = arch

    def set_sample_archs(self, archs: Sequence[Arch] | None) -> None:
        """Give sample ``b`` of every batch the sub-network ``archs[b % len(archs)]`` (None: stop)."""
        self.sample_archs = list(archs) if archs else None

    @contextlib.contextmanager
    def using_arch(self, arch: Arch | None) -> Iterator[None]:
        """``set_arch(arch)`` inside the block, the previous choice restored after it."""
        before = self.fixed_arch
        self.set_arch(arch)
        try:
            yield
        finally:
            self.fixed_arch = before

    def largest_arch(self) -> Arch:
        return self.space.largest()

    def _masks(self, batch: int, device: torch.device) -> tuple[list[Tensor], list[list[BlockMasks]]] | None:
        """Per-stage embedding masks and per-block masks for a batch, or None for the unmasked largest net."""
        archs = self.sample_archs if self.sample_archs is not None else (
            [self.fixed_arch] if self.fixed_arch is not None else None)
        if archs is None:
            return None
        cfg = self.config
        index = torch.arange(batch, device=device) % len(archs) if len(archs) > 1 else None

        def masks(widths: list[int], size: int) -> Tensor:
            m = prefix_mask(torch.tensor(widths, device=device), size)
            return m if index is None else m[index]

        embed = [masks([a.embed[s] for a in archs], cfg.embed_choices[s][0]) for s in range(len(cfg.depths))]
        blocks = []
        for s, depth in enumerate(cfg.depths):
            stage = []
            for i in range(depth):
                keep = torch.tensor([float(a.keep[s][i]) for a in archs], device=device).reshape(-1, 1, 1)
                stage.append(BlockMasks(attn=masks([a.attn[s][i] for a in archs], cfg.attn_choices[s][0]),
                                        mlp=masks([a.mlp[s][i] for a in archs], cfg.mlp_choices[s][0]),
                                        keep=keep if index is None else keep[index]))
            blocks.append(stage)
        return embed, blocks

    # ---- forward -----------------------------------------------------------------------------------------
    def forward(self, x: Tensor) -> Tensor:
        cfg = self.config
        if x.dim() != 4 or x.shape[-1] != cfg.in_channels:
            raise ValueError(f"vit_res_supernet expects (B, H, W, {cfg.in_channels}) images, got {tuple(x.shape)}")
        patches = self.stem(pad_to(x, cfg.img_size)).flatten(1, 2)
        tokens = torch.cat([self.cls_token.expand(patches.shape[0], -1, -1), patches], dim=1) + self.pos_embed
        masks = self._masks(tokens.shape[0], tokens.device)
        embed, blocks = masks if masks is not None else (None, None)
        if embed is not None:
            tokens = tokens * embed[0]
        for s, stage in enumerate(self.stages):
            if s > 0:
                tokens = self.reductions[s - 1](tokens, embed[s - 1] if embed else None, embed[s] if embed else None)
            for i, block in enumerate(cast(nn.ModuleList, stage)):
                tokens = block(tokens, embed[s] if embed else None, blocks[s][i] if blocks else None)
        cls = self.norm(tokens[:, : cfg.num_cls_tokens], embed[-1] if embed else None)
        return self.head(cls[:, 0])

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        cfg = self.config
        x = torch.randn(batch_size, cfg.img_size, cfg.img_size, cfg.in_channels, generator=generator)
        y = torch.randint(0, cfg.num_classes, (batch_size,), generator=generator)
        return {"x": x, "y": y}

    # ---- rewiring ----------------------------------------------------------------------------------------
    def rewire(self) -> dict[str, tuple[int, Tensor]]:
        """Sort every block's heads and MLP units by importance (:meth:`SuperBlock.rewire`); returns the
        permutations ``{parameter name: (dim, index)}`` (e.g. to permute an optimizer's state alike)."""
        out = {}
        for s, stage in enumerate(self.stages):
            for i, block in enumerate(cast(nn.ModuleList, stage)):
                for name, perm in cast(SuperBlock, block).rewire().items():
                    out[f"stages.{s}.{i}.{name}"] = perm
        return out

    # ---- extraction ----------------------------------------------------------------------------------------
    def subnet_config(self, arch: Arch, **overrides: Any) -> Any:
        """The :class:`~forwardkit_vit_resnas.config.ViTResConfig` of sub-network ``arch``."""
        return subnet_config(self.config, arch, **overrides)

    def extract(self, arch: Arch | None = None) -> ViTRes:
        """The stand-alone ViTRes of ``arch`` (default: the fixed sub-network, else the largest) with the weight
        prefixes of this super-network; in eval mode its outputs equal the masked super-network's."""
        arch = arch or self.fixed_arch or self.largest_arch()
        if not self.space.contains(arch):
            raise ValueError(f"{arch} is not a sub-network of this search space")
        net = ViTRes(self.subnet_config(arch))
        net.load_state_dict(self.subnet_state_dict(arch))
        return net.train(self.training)

    def subnet_state_dict(self, arch: Arch) -> dict[str, Tensor]:
        """The state dict of the extracted ViTRes of ``arch`` (official ``get_sub_state_dict``, by prefixes)."""
        src = {k: v.detach() for k, v in self.state_dict().items()}
        e = arch.embed
        out: dict[str, Tensor] = {}
        for key, value in src.items():
            if key.startswith("stem."):
                out[key] = value[: e[0]] if key.startswith(("stem.conv.", "stem.proj.")) else value
        out["cls_token"] = src["cls_token"][..., : e[0]]
        out["pos_embed"] = src["pos_embed"][..., : e[0]]
        for s in range(len(self.config.depths)):
            if s > 0:
                p = f"reductions.{s - 1}."
                for name in ("norm.weight", "norm.bias"):
                    out[p + name] = src[p + name][: e[s - 1]]
                out[p + "conv.weight"] = src[p + "conv.weight"][: e[s], : e[s - 1]]
                out[p + "cls_proj.weight"] = src[p + "cls_proj.weight"][: e[s], : e[s - 1]]
                for name in ("conv.bias", "cls_proj.bias"):
                    out[p + name] = src[p + name][: e[s]]
                if self.config.new_pos_embed:
                    out[p + "pos_embed"] = src[p + "pos_embed"][..., : e[s]]
            j = 0
            for i in range(self.config.depths[s]):
                if arch.keep[s][i]:
                    out.update(self._block_state(src, s, i, j, arch))
                    j += 1
        out["norm.weight"], out["norm.bias"] = src["norm.weight"][: e[-1]], src["norm.bias"][: e[-1]]
        out["head.weight"], out["head.bias"] = src["head.weight"][:, : e[-1]], src["head.bias"]
        return {k: v.clone() for k, v in out.items()}

    def _block_state(self, src: dict[str, Tensor], s: int, i: int, j: int, arch: Arch) -> dict[str, Tensor]:
        """Weight prefixes of super-network block ``(s, i)`` as block ``j`` of the extracted stage ``s``."""
        cfg, c = self.config, arch.embed[s]
        d, h_max = cfg.head_dims[s], cfg.attn_choices[s][0] // cfg.head_dims[s]
        heads, hidden = arch.attn[s][i] // d, arch.mlp[s][i]
        a, b = f"stages.{s}.{i}.", f"stages.{s}.{j}."
        qkv_w = src[a + "token_mixer.qkv.weight"].reshape(3, h_max, d, -1)[:, :heads, :, :c].reshape(-1, c)
        qkv_b = src[a + "token_mixer.qkv.bias"].reshape(3, h_max, d)[:, :heads].reshape(-1)
        return {
            b + "norm1.weight": src[a + "norm1.weight"][:c], b + "norm1.bias": src[a + "norm1.bias"][:c],
            b + "token_mixer.qkv.weight": qkv_w, b + "token_mixer.qkv.bias": qkv_b,
            b + "token_mixer.proj.weight": src[a + "token_mixer.proj.weight"][:c, : heads * d],
            b + "token_mixer.proj.bias": src[a + "token_mixer.proj.bias"][:c],
            b + "norm2.weight": src[a + "norm2.weight"][:c], b + "norm2.bias": src[a + "norm2.bias"][:c],
            b + "channel_mixer.fc1.weight": src[a + "channel_mixer.fc1.weight"][:hidden, :c],
            b + "channel_mixer.fc1.bias": src[a + "channel_mixer.fc1.bias"][:hidden],
            b + "channel_mixer.fc2.weight": src[a + "channel_mixer.fc2.weight"][:c, :hidden],
            b + "channel_mixer.fc2.bias": src[a + "channel_mixer.fc2.bias"][:c],
        }
