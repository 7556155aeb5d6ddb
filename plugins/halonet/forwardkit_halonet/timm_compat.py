"""Loading timm's HaloNet weights: a timm ``ByobNet`` state dict -> this plugin's ``HaloNet`` state dict.

Every conv, BN and linear has the same name and shape as in timm (see :mod:`forwardkit_halonet.layers`); only
the halo attention differs in layout:

- timm keeps ``self_attn.q`` ``(n d_k, C, 1, 1)`` and ``self_attn.kv`` ``(n (d_k + d_v), C, 1, 1)`` with the
  keys and values interleaved per head; here one ``self_attn.qkv`` ``(n (2 d_k + d_v), C)`` holds all q, then
  all k, then all v rows (head-major within each);
- timm's relative tables (``pos_embed.height_rel`` / ``width_rel``, ``(2w - 1, d_k)``) are indexed by
  ``key - query + w - 1`` with the key counted from the window's corner; here by the pixel offset
  ``key - h - query + w - 1``, so row r here is timm's row r + h (the last h rows are never read).

With ``query_offsets="block"`` for the strided blocks, the converted model computes timm's function.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from forwardkit_halonet.model import HaloNet

__all__ = ["convert_timm_state_dict"]


def _qkv_weight(q: Tensor, kv: Tensor, num_heads: int, dk: int) -> Tensor:
    """``q`` ``(n d_k, C, 1, 1)`` and per-head-interleaved ``kv`` -> the fused ``(n (2 d_k + d_v), C)``."""
    kv = kv.flatten(1).view(num_heads, -1, kv.shape[1])             # (n, d_k + d_v, C)
    k, v = kv[:, :dk].reshape(-1, kv.shape[-1]), kv[:, dk:].reshape(-1, kv.shape[-1])
    return torch.cat([q.flatten(1), k, v], dim=0)


def _shift_table(table: Tensor, halo: int) -> Tensor:
    """timm's ``(2w - 1, d_k)`` table re-indexed to this plugin's offsets: row r <- timm row r + h."""
    out = torch.zeros_like(table)
    out[: table.shape[0] - halo] = table[halo:]
    return out


def convert_timm_state_dict(state_dict: Mapping[str, Tensor], model: HaloNet) -> dict[str, Tensor]:
    """The state dict of ``model`` (built with the preset of the timm model) from timm's ``state_dict``;
    entries already in this plugin's layout pass through."""
    out: dict[str, Tensor] = {}
    attn_prefixes = {name[: -len("qkv")] for name, _ in model.named_modules() if name.endswith("self_attn.qkv")}
    modules = dict(model.named_modules())
    for key, value in state_dict.items():
        prefix = next((p for p in attn_prefixes if key.startswith(p)), None)
        if prefix is None:
            out[key] = value
            continue
        attn, halo = modules[prefix[:-1]], modules[prefix[:-1]].config.halo_size
        rest = key[len(prefix):]
        if rest == "q.weight":
            out[prefix + "qkv.weight"] = _qkv_weight(value, state_dict[prefix + "kv.weight"], attn.config.num_heads,
                                                     attn.dk)
        elif rest == "pos_embed.height_rel":
            out[prefix + "rel_tables.0"] = _shift_table(value, halo)
        elif rest == "pos_embed.width_rel":
            out[prefix + "rel_tables.1"] = _shift_table(value, halo)
        elif rest == "qkv.weight" or rest.startswith("rel_tables."):
            out[key] = value                                            # already in this plugin's layout
        elif rest != "kv.weight":
            raise KeyError(f"unexpected timm halo-attention entry {key!r} (qkv_bias is not converted)")
    return out
