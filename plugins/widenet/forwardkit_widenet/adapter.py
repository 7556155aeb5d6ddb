"""``WideNetAdapter``: WideNet by model surgery on any MetaFormer-stack model (paper sec. "WideNet"): shared
attention and a shared MoE FFN per stack, per-block LayerNorms, and the load-balance loss as the adapter's loss."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from torch import Tensor, nn

from forwardkit.interfaces import Adapter
from forwardkit_widenet.config import WideNetAdapterConfig
from forwardkit_widenet.records import total_aux_loss
from forwardkit_widenet.sharing import widen

#: a small builtin metaformer with two 2-block stages, so that sharing (and its copy) is exercised
SMALL_METAFORMER: dict[str, Any] = {"name": "metaformer", "depths": [2, 2], "dims": [8, 16], "num_classes": 4,
                                    "token_mixers": "attention"}


class WideNetAdapter(Adapter):
    """Applies :func:`~forwardkit_widenet.sharing.widen` (a changed copy). ``loss(model, batch, output)`` is
    ``aux_weight * sum_t l_bal^t`` over the MoE calls of the last forward of ``model`` (paper: lambda = 0.01), so
    a trainer adds the load-balance term without any other component."""

    Config = WideNetAdapterConfig
    config: WideNetAdapterConfig
    inplace: ClassVar[bool] = False
    conformance_models: ClassVar[tuple[Any, ...]] = (SMALL_METAFORMER,)
    conformance_configs: ClassVar[tuple[dict[str, Any], ...]] = (
        {},
        {"share_norms": True, "ffn": "dense"},
        {"share_ffn": False, "share_attention": False, "experts": {"num_experts": 2, "top_k": 1}},
    )

    def apply(self, model: nn.Module) -> nn.Module:
        cfg = self.config
        return widen(model, share_attention=cfg.share_attention, share_ffn=cfg.share_ffn,
                     share_norms=cfg.share_norms, ffn=cfg.ffn, experts=cfg.experts.model_dump(),
                     moe=cfg.moe.model_dump(), init_noise=cfg.init_noise, inplace=False)

    def loss(self, model: nn.Module, batch: Mapping[str, Tensor], output: Any) -> Tensor | None:
        if self.config.aux_weight == 0:
            return None
        total = total_aux_loss(model)
        return None if total is None else self.config.aux_weight * total
