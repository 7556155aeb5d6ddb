"""What a WideNet costs (card "Performance notes"): parameters (one attention + E experts + router + 2T LayerNorms,
independent of the depth otherwise) and per-token compute (K experts' FFNs + the router, independent of E).

:func:`model_sizes` is the reproduction's program arm: parameters and per-token MACs of each arm's model, and the
paper's WideNet-B/L/H against ViT-B/L/H (built on the ``meta`` device: no memory, no time).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from forwardkit.measure import count_macs, count_parameters
from forwardkit_widenet.config import WideNetViTConfig
from forwardkit_widenet.vit import WideNetViT

#: the paper's models and the baselines their parameter ratios are quoted against (abstract: 0.72x, 0.46x ViT-B)
PAPER_PAIRS: dict[str, str] = {"widenet_b": "vit_b", "widenet_l": "vit_b", "widenet_h": "vit_b"}


def parameter_breakdown(model: WideNetViT) -> dict[str, int]:
    """Parameters in all, in the blocks (attention, FFN/MoE, per-block norms; shared tensors once) and in the
    embedding and head."""
    total = count_parameters(model)
    blocks = count_parameters(model.blocks)
    return {"parameters": total, "block_parameters": blocks, "embedding_and_head_parameters": total - blocks}


def tokens_per_image(cfg: WideNetViTConfig) -> int:
    return (cfg.image_size[0] // cfg.patch) * (cfg.image_size[1] // cfg.patch) + int(cfg.cls_token)


def macs_per_token(cfg: WideNetViTConfig) -> dict[str, float]:
    """Analytic multiply-accumulates per token of one forward pass.

    Per block: attention ``4 C^2`` (q, k, v, out) ``+ 2 N C`` (scores and weighted sum over N tokens); FFN
    ``2 C H`` dense, or ``K * 2 C H + C E`` for a top-K MoE (K experts' FFNs and the router; capacity padding
    and dropped tokens left out). Plus the patch embedding, and the pre-logits and head amortised over N."""
    c, n = cfg.dim, tokens_per_image(cfg)
    h = cfg.hidden_dim or max(round(cfg.d_ff_ratio * c), 1)
    attention = 4 * c * c + 2 * n * c
    ffn = (cfg.top_k * 2 * c * h + c * cfg.num_experts) if cfg.ffn == "moe" else 2 * c * h
    embed = cfg.patch * cfg.patch * cfg.in_channels * c
    head = ((c * c if cfg.representation else 0) + c * cfg.num_classes) / n
    total = cfg.depth * (attention + ffn) + embed + head
    return {"macs_per_token": float(total), "flops_per_token": 2.0 * total,
            "ffn_macs_per_token": float(cfg.depth * ffn), "attention_macs_per_token": float(cfg.depth * attention)}


def measured_macs_per_token(model: WideNetViT, batch_size: int = 2) -> float:
    """Multiply-accumulates per token counted by torch's FLOP counter on one eval forward (a MoE's sorted
    dispatch counts its padded capacity buffers, so this is at least the analytic figure)."""
    model.eval()
    x = model.example_batch(batch_size, generator=torch.Generator().manual_seed(0))["x"]
    with torch.no_grad():
        model(x)  # a dense FFN's Pointwise layers time their kernels on the first call: keep that out of the count
    return count_macs(lambda: model(x)) / (batch_size * tokens_per_image(model.config))


def _meta_model(config: dict[str, Any]) -> WideNetViT:
    with torch.device("meta"):
        return WideNetViT(**config)


def preset_sizes(names: list[str]) -> dict[str, float]:
    """``<preset>/parameters`` (and block parameters, per-token MACs) of the paper's presets, and
    ``<widenet>/parameter_ratio`` against the ViT the abstract compares it with."""
    out: dict[str, float] = {}
    for name in names:
        model = _meta_model({"preset": name})
        out.update({f"{name}/{k}": float(v) for k, v in parameter_breakdown(model).items()})
        out[f"{name}/macs_per_token"] = macs_per_token(model.config)["macs_per_token"]
    for widenet, vit in PAPER_PAIRS.items():
        if f"{widenet}/parameters" in out and f"{vit}/parameters" in out:
            out[f"{widenet}/parameter_ratio_to_{vit}"] = out[f"{widenet}/parameters"] / out[f"{vit}/parameters"]
    return out


def arm_sizes(models: dict[str, dict[str, Any]], *, measure: bool = True) -> dict[str, float]:
    """``<arm>/parameters``, ``<arm>/block_parameters``, ``<arm>/macs_per_token`` (analytic) and, with
    ``measure``, ``<arm>/measured_macs_per_token`` for each arm's model config."""
    out: dict[str, float] = {}
    for arm, config in models.items():
        torch.manual_seed(0)
        model = WideNetViT(**config)
        out.update({f"{arm}/{k}": float(v) for k, v in parameter_breakdown(model).items()})
        out.update({f"{arm}/{k}": v for k, v in macs_per_token(model.config).items()})
        if measure:
            out[f"{arm}/measured_macs_per_token"] = measured_macs_per_token(model)
    return out


def model_sizes(config: dict[str, Any], *, seed: int, smoke: bool) -> dict[str, float]:
    """The reproduction's program arm: ``config = {"models": {arm: model config}, "presets": [names]}``.

    Deterministic (the seed does not matter); the presets are built on the meta device."""
    out = arm_sizes(config.get("models", {}), measure=not smoke)
    out.update(preset_sizes(list(config.get("presets", []))))
    return out


def shared_tensor_names(model: nn.Module) -> dict[str, list[str]]:
    """For every parameter reachable from several blocks, the names under which ``named_parameters`` would list
    it without de-duplication (empty for a WideNet: shared modules are registered once)."""
    seen: dict[int, list[str]] = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        seen.setdefault(id(p), []).append(name)
    return {names[0]: names for names in seen.values() if len(names) > 1}
