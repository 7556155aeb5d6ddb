"""``transfer_patch_net``: the pre-trained patch network P initialises the classifier's first blocks (paper's method,
fine-tuning: the patch network initialises the first stages of the ResNet).

Both models name P ``patch_net`` (``patch_net.trunk.*``: the same modules), so the copy is an exact name mapping;
the classifier's stem on a whole image then equals P's trunk (before its global pooling) on that image (tested).
Inside a multi-stage experiment the core's ``carry: {include: [patch_net]}`` does the same copy from the previous
stage; the adapter reads a saved state (a safetensors file) and can freeze the copied stem.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from safetensors.torch import load_file
from torch import nn

from forwardkit.errors import ForwardkitError
from forwardkit.interfaces import Adapter
from forwardkit_selfie.config import TransferPatchNetConfig


def patch_net_state(state: dict[str, torch.Tensor], prefix: str = "patch_net.") -> dict[str, torch.Tensor]:
    """The entries of a model state under ``prefix`` (P's weights and BatchNorm statistics)."""
    return {k: v for k, v in state.items() if k.startswith(prefix)}


def load_patch_net(target: nn.Module, state: dict[str, torch.Tensor], *, prefix: str = "patch_net.",
                   strict: bool = True) -> list[str]:
    """Copy ``state``'s ``prefix`` entries into ``target`` by exact name; returns the names copied."""
    own = {k: v for k, v in target.state_dict().items() if k.startswith(prefix)}
    if not own:
        raise ForwardkitError(f"transfer_patch_net: the model {type(target).__name__} has no weights under "
                              f"{prefix!r} (a selfie_classifier has patch_net.trunk.*)")
    given = patch_net_state(state, prefix)
    missing = sorted(k for k in own if k not in given)
    wrong = sorted(k for k in own if k in given and given[k].shape != own[k].shape)
    if strict and (missing or wrong):
        raise ForwardkitError(f"transfer_patch_net: the source does not fit the stem (missing: {missing[:4]}; "
                              f"other shape: {wrong[:4]}); the patch_net and embed_dim of both models must agree")
    chosen = {k: v for k, v in given.items() if k in own and own[k].shape == v.shape}
    target.load_state_dict(chosen, strict=False)
    return sorted(chosen)


def freeze_patch_net(model: nn.Module, prefix: str = "patch_net.") -> list[str]:
    """``requires_grad = False`` on every parameter under ``prefix``; returns their names."""
    names = [n for n, p in model.named_parameters() if n.startswith(prefix)]
    for n, p in model.named_parameters():
        if n.startswith(prefix):
            p.requires_grad_(False)
    return names


def transfer_patch_net(source: nn.Module, target: nn.Module, *, freeze: bool = False,
                       prefix: str = "patch_net.") -> nn.Module:
    """Copy ``source``'s patch network (a ``selfie_pretrainer``) into ``target``'s stem (a ``selfie_classifier``),
    in place; with ``freeze`` the copied parameters stay fixed. Returns ``target``."""
    load_patch_net(target, source.state_dict(), prefix=prefix, strict=True)
    if freeze:
        freeze_patch_net(target, prefix)
    return target


class TransferPatchNet(Adapter):
    """Returns a copy of the classifier with P's weights from ``checkpoint`` in its stem (and frozen with
    ``freeze``)."""

    Config = TransferPatchNetConfig
    config: TransferPatchNetConfig
    inplace = False
    conformance_models = ({"name": "selfie_classifier", "embed_dim": 8, "head_widths": [8], "pad_to": 12,
                           "in_channels": 1, "num_classes": 3},)
    conformance_configs = ({}, {"freeze": True})

    def __init__(self, config: TransferPatchNetConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)

    def apply(self, model: nn.Module) -> nn.Module:
        new = copy.deepcopy(model)
        cfg = self.config
        if cfg.checkpoint is not None:
            try:
                state = load_file(cfg.checkpoint)
            except Exception as exc:
                raise ForwardkitError(f"transfer_patch_net.checkpoint {cfg.checkpoint!r} cannot be read: "
                                      f"{type(exc).__name__}: {exc}") from exc
            load_patch_net(new, state, prefix=cfg.prefix, strict=cfg.strict)
        elif not any(k.startswith(cfg.prefix) for k in new.state_dict()):
            raise ForwardkitError(f"transfer_patch_net: the model {type(model).__name__} has no weights under "
                                  f"{cfg.prefix!r}")
        if cfg.freeze:
            freeze_patch_net(new, cfg.prefix)
        return new
