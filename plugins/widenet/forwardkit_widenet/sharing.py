"""Parameter sharing across depth (paper sec. "WideNet", Fig. 1): every block calls the same attention and the same
MoE, each with its own LayerNorms.

A shared module is *owned* (registered) by the first block only; the other blocks hold a :class:`SharedModule`,
a reference that calls it without registering it. So ``parameters()`` and ``state_dict()`` hold each shared
tensor once (safetensors checkpoints refuse aliased tensors), the gradient of a shared weight is the sum of its
per-block contributions (autograd accumulates over the calls), and ``copy.deepcopy`` keeps the sharing.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from torch import nn

from forwardkit.nn import MetaFormerBlock

__all__ = ["SharedModule", "block_stacks", "owner", "share_across", "widen"]


class SharedModule(nn.Module):
    """Calls ``target``, a module registered elsewhere (it is kept out of ``_modules``: no parameters here)."""

    def __init__(self, target: nn.Module) -> None:
        super().__init__()
        object.__setattr__(self, "_target", owner(target))

    @property
    def target(self) -> nn.Module:
        target: nn.Module = self.__dict__["_target"]
        return target

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.target(*args, **kwargs)

    def extra_repr(self) -> str:
        return f"shares {type(self.target).__name__} at {id(self.target):#x}"


def owner(module: nn.Module) -> nn.Module:
    """The module a (possibly) shared reference calls: ``module`` itself unless it is a :class:`SharedModule`."""
    return module.target if isinstance(module, SharedModule) else module


def share_across(blocks: Sequence[nn.Module], attr: str) -> None:
    """Make ``blocks[t].<attr>`` (t >= 1) a reference to ``blocks[0].<attr>``."""
    first = getattr(blocks[0], attr)
    for block in blocks[1:]:
        setattr(block, attr, SharedModule(first))


def block_stacks(model: nn.Module) -> list[list[MetaFormerBlock]]:
    """The stacks of consecutive :class:`~forwardkit.nn.MetaFormerBlock` s of ``model``: every ``nn.Sequential``
    or ``nn.ModuleList`` whose children are all blocks (a MetaFormer stage's ``blocks``), in module order."""
    stacks = []
    for module in model.modules():
        if isinstance(module, (nn.Sequential, nn.ModuleList)) and len(module) > 0:
            blocks = [child for child in module if isinstance(child, MetaFormerBlock)]
            if len(blocks) == len(module):
                stacks.append(blocks)
    return stacks


def _dense_pair(mixer: nn.Module) -> tuple[nn.Linear, nn.Linear] | None:
    fc1, fc2 = getattr(mixer, "fc1", None), getattr(mixer, "fc2", None)
    if isinstance(fc1, nn.Linear) and isinstance(fc2, nn.Linear):
        return fc1, fc2
    return None


def _moe_from(mixer: nn.Module, dim: int, experts: dict[str, Any], moe: dict[str, Any], noise: float) -> nn.Module:
    """A MoEFFN replacing the channel mixer ``mixer`` of a ``dim``-wide block: each expert a noisy copy of the
    dense FFN when ``mixer`` is one (fc1/fc2 linears; the expert width follows it unless set), else fresh."""
    from forwardkit_widenet.moe import MoEFFN

    pair = _dense_pair(mixer)
    fields = dict(experts)
    if pair is not None and fields.get("hidden_dim") is None:
        fields["hidden_dim"] = pair[0].out_features
    layer = MoEFFN(dim=dim, **fields, **moe)
    if pair is not None and pair[0].out_features == layer.hidden:
        layer.load_dense(*pair, noise=noise)
    return layer


def widen(
    model: nn.Module,
    *,
    share_attention: bool = True,
    share_ffn: bool = True,
    share_norms: bool = False,
    ffn: str = "moe",
    experts: dict[str, Any] | None = None,
    moe: dict[str, Any] | None = None,
    init_noise: float = 0.01,
    inplace: bool = False,
) -> nn.Module:
    """WideNet from a model of MetaFormer stacks (the functional form of the ``widenet`` adapter).

    In every stack of blocks: with ``share_attention`` every block calls block 0's token mixer; with
    ``ffn='moe'`` the channel mixers become a :class:`~forwardkit_widenet.moe.MoEFFN` (one for the stack with
    ``share_ffn``, the WideNet case; one per block without, the ViT-MoE case), initialised from the dense FFN it
    replaces; with ``ffn='dense'`` and ``share_ffn`` block 0's channel mixer is shared; with ``share_norms`` the
    two norms too (ALBERT). Layer/ResScales and drop-path rates stay per block. A forward pre-hook clears the MoE
    records at each call (see :mod:`forwardkit_widenet.records`). Returns a changed copy unless ``inplace``."""
    from forwardkit_widenet.records import reset_routing_hook

    out = model if inplace else copy.deepcopy(model)
    stacks = block_stacks(out)
    if not stacks:
        raise ValueError(f"widen() needs a model built of MetaFormer blocks (forwardkit.nn.MetaFormerBlock), e.g. "
                         f"the builtin 'metaformer'; {type(model).__name__} has none")
    for blocks in stacks:
        dim = _width(blocks[0])
        if ffn == "moe":
            targets = blocks[:1] if share_ffn else blocks
            for block in targets:
                block.channel_mixer = _moe_from(block.channel_mixer, dim, experts or {}, moe or {}, init_noise)
        if share_ffn:
            share_across(blocks, "channel_mixer")
        if share_attention:
            share_across(blocks, "token_mixer")
        if share_norms:
            share_across(blocks, "norm1")
            share_across(blocks, "norm2")
    out.register_forward_pre_hook(reset_routing_hook)
    return out


def _width(block: MetaFormerBlock) -> int:
    """The channel count of a block, from its second norm (``normalized_shape`` or its first parameter)."""
    norm = owner(block.norm2)
    shape = getattr(norm, "normalized_shape", None)
    if shape:
        return int(shape[0])
    for p in norm.parameters():
        return int(p.shape[0])
    raise ValueError("cannot tell the width of a block whose norm has no parameters")
