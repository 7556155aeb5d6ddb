"""Multi-architectural sampling (paper): train many sub-networks with one forward-backward pass.

A callback, not a learning rule: the method changes *which sub-network each sample passes through*, not how
gradients become updates, and the core's callback events are exactly its hooks: ``on_epoch_start`` for the
width warm-up and the importance re-sorting (a learning rule has no epoch-start event), ``on_batch_start`` to
draw the batch's architectures before the forward, ``on_step_end`` to clear them. So it composes with any
learning rule (``backprop`` with its optimizers, schedules, clipping and accumulation) and with the other
callbacks (EMA, early stopping).

Per step, for a batch of B samples, ``n = B / examples_per_arch`` architectures are drawn with the official
balanced scheme (:meth:`~forwardkit_vit_resnas.arch.SearchSpace.sample_balanced`) and sample ``b`` passes
through architecture ``b mod n`` (the official ``mask.repeat(example_per_arch, 1, 1)``); the summed loss
trains all of them at the cost of one pass of the largest network. ``single_arch`` draws one architecture per
step (the single-path baseline). During the warm-up only the largest options are drawn
(:func:`~forwardkit_vit_resnas.arch.allowed_options`), and at each epoch start ``t <= W`` every block's heads and
MLP units are sorted by importance (``ViTResSuperNet.rewire``); the rule's optimizer state (Adam moments) is
permuted alike, so the optimiser is unchanged by the re-labelling (the official code leaves it unpermuted).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from forwardkit.interfaces import Callback, RunContext
from forwardkit_vit_resnas.arch import Gene, allowed_options
from forwardkit_vit_resnas.config import MultiArchSamplingConfig
from forwardkit_vit_resnas.supernet import TINY_FIELDS, ViTResSuperNet

#: a small super-network the conformance kit trains with the callback (8x8 images, 2 stages of 2 blocks)
TINY_SUPERNET: dict[str, Any] = {"name": "vit_res_supernet", **TINY_FIELDS}


def supernet_of(model: nn.Module) -> ViTResSuperNet:
    """``model`` as a super-network, or a TypeError naming what it is."""
    if not isinstance(model, ViTResSuperNet):
        raise TypeError(f"this needs a 'vit_res_supernet' model (a weight-sharing super-network), got "
                        f"{type(model).__name__}")
    return model


def permute_optimizer_state(optimizer: Any, model: nn.Module, perms: Mapping[str, tuple[int, Tensor]]) -> int:
    """Index the per-parameter state tensors of a torch ``optimizer`` (moments of the parameter's shape) like
    the parameters ``perms`` re-ordered; returns how many tensors were permuted (0 for no torch optimizer)."""
    if not isinstance(optimizer, torch.optim.Optimizer):
        return 0
    params, count = dict(model.named_parameters()), 0
    for name, (dim, index) in perms.items():
        p = params[name]
        state = optimizer.state.get(p, {})
        for key, value in list(state.items()):
            if isinstance(value, Tensor) and value.shape == p.shape:
                state[key] = value.index_select(dim, index.to(value.device))
                count += 1
    return count


class MultiArchSampling(Callback):
    """Multi-architectural sampling of a ``vit_res_supernet`` (module docstring)."""

    Config = MultiArchSamplingConfig
    config: MultiArchSamplingConfig
    conformance_models: ClassVar[tuple[Any, ...]] = (TINY_SUPERNET,)
    conformance_configs: ClassVar[tuple[dict[str, Any], ...]] = ({"examples_per_arch": 8, "warmup_epochs": 1},)
    conformance_experiment: ClassVar[dict[str, Any]] = {
        "data": {"name": "blobs", "n_samples": 200, "image_size": 8, "clusters_per_class": 2},
        "model": TINY_SUPERNET,
    }

    def __init__(self, config: MultiArchSamplingConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.generator = torch.Generator()
        self.seeded = False
        self.epoch = 0
        self.rewires = 0
        self.archs_trained = 0
        self.last_n = 0

    # ---- events -------------------------------------------------------------------------------------------
    def on_fit_start(self, ctx: RunContext) -> None:
        supernet_of(ctx.model)
        if not self.seeded:  # a resumed run loaded its generator state before this event
            seed = self.config.seed if self.config.seed is not None else torch.initial_seed()
            self.generator.manual_seed(int(seed) % (2 ** 63))
            self.seeded = True

    def on_epoch_start(self, ctx: RunContext) -> None:
        self.epoch = int(ctx.epoch)
        if self.config.rewire and self.epoch <= self.config.warmup_epochs:
            model = supernet_of(ctx.model)
            perms = model.rewire()
            permute_optimizer_state(getattr(ctx.extra.get("learning_rule"), "optimizer", None), model, perms)
            self.rewires += 1

    def on_batch_start(self, batch: dict[str, Tensor], ctx: RunContext) -> dict[str, Tensor]:
        model = supernet_of(ctx.model)
        size = len(next(iter(batch.values())))
        n = 1 if self.config.single_arch else max(1, size // self.config.examples_per_arch)
        model.set_sample_archs(self.sample(model, n))
        self.archs_trained += n
        self.last_n = n
        return batch

    def on_step_end(self, metrics: Mapping[str, float], ctx: RunContext) -> None:
        supernet_of(ctx.model).set_sample_archs(None)
        ctx.extra.setdefault("step_metrics", {})["vit_resnas/archs_per_step"] = float(self.last_n)

    def on_evaluate_start(self, split: str, ctx: RunContext) -> nn.Module | None:
        if isinstance(ctx.model, ViTResSuperNet):
            ctx.model.set_sample_archs(None)  # evaluation scores the largest (or the fixed) sub-network
        return None

    # ---- sampling ------------------------------------------------------------------------------------------
    def allowed(self, gene: Gene) -> int:
        """Options of ``gene`` allowed at the current epoch (width warm-up)."""
        return allowed_options(self.epoch, len(gene.options), self.config.warmup_epochs)

    def sample(self, model: ViTResSuperNet, n: int) -> list[Any]:
        """``n`` architectures for one batch (balanced over the allowed options, official ``ChannelDrop``)."""
        return model.space.sample_balanced(
            n, self.allowed, lambda k: torch.randperm(k, generator=self.generator).tolist())

    # ---- state ---------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state(), "seeded": self.seeded, "epoch": self.epoch,
                "rewires": self.rewires, "archs_trained": self.archs_trained}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        self.seeded = bool(state["seeded"])
        self.epoch = int(state["epoch"])
        self.rewires = int(state["rewires"])
        self.archs_trained = int(state["archs_trained"])
