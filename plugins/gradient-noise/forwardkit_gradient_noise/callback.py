"""The ``annealed_gradient_noise`` callback: annealed Gaussian gradient noise in the trainer's loop.

The builtin ``backprop`` rule clips the global gradient norm *before* ``ctx.after_backward()``, so noise
added in ``on_after_backward`` is added after clipping, as in the paper (Sec. 3-4). The callback runs
late among callbacks (``priority = 100``), after guards and other gradient modifiers, right before the
optimizer update.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import nn

from forwardkit.errors import ForwardkitError
from forwardkit.interfaces.callback import Callback
from forwardkit.interfaces.context import RunContext
from forwardkit_gradient_noise.config import AnnealedGradientNoiseConfig
from forwardkit_gradient_noise.noise import add_gradient_noise_, noise_std, noisy_parameters

#: added to the run's seed when the config gives no seed, so the noise stream differs from the global one
SEED_OFFSET = 0x6E6F697365  # "noise"


class AnnealedGradientNoise(Callback):
    """Adds ``N(0, sigma_t^2)`` to every trainable ``p.grad`` once per optimizer step, with
    ``sigma_t^2 = eta / (1 + t)^gamma`` (paper Sec. 3) or a constant ``std``.

    The noise comes from the callback's own ``torch.Generator`` (on the gradients' device), seeded by
    ``seed`` or, when it is None, by the run's seed (``torch.initial_seed()`` when the callback is built,
    identical on every process of a distributed run, so replicas stay in sync). ``state_dict`` holds the
    update counter and the generator state, so a resumed run draws the identical noise sequence. Nothing
    happens in evaluation (the trainer does not call ``on_after_backward`` there) nor on a step that an
    earlier callback stopped (NaN guard): that update does not take place.
    """

    Config = AnnealedGradientNoiseConfig
    config: AnnealedGradientNoiseConfig
    priority: ClassVar[int] = 100
    #: the kit (including check_resume) runs the paper's default and a config using every other option
    conformance_configs: ClassVar[list[dict[str, Any]]] = [
        {},
        {"eta": 0.3, "count_by": "batch", "t0": 3, "param_filter": "weights_only", "order": "before_clip",
         "clip_norm": 1.0, "seed": 5},
        {"schedule": "constant", "std": 0.01},
    ]

    def __init__(self, config: AnnealedGradientNoiseConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        self.seed = int(cfg.seed if cfg.seed is not None else (torch.initial_seed() + SEED_OFFSET) % 2**63)
        self.generator = torch.Generator()
        self.generator.manual_seed(self.seed)
        self._pending: tuple[str, torch.Tensor] | None = None  # a loaded state for a generator on another device
        self.updates = 0  # noised optimizer steps so far
        self.last_std = 0.0

    # ---- schedule ------------------------------------------------------------------------------
    def step_index(self, ctx: RunContext) -> int:
        """The ``t`` of the current update: ``t0`` + updates so far, or ``t0`` + the trainer's batch counter."""
        counted = self.updates if self.config.count_by == "optimizer_step" else ctx.step
        return self.config.t0 + counted

    def std_at(self, t: int) -> float:
        """Standard deviation of the noise at step ``t`` (``sqrt(eta / (1 + t)^gamma)``, or ``std``)."""
        cfg = self.config
        if cfg.schedule == "constant":
            return cfg.std
        return noise_std(t, eta=cfg.eta, gamma=cfg.gamma)

    # ---- generator -----------------------------------------------------------------------------
    def generator_on(self, device: torch.device) -> torch.Generator:
        """The callback's generator, (re)created on ``device``'s type if it lives elsewhere."""
        if self.generator.device.type != device.type:
            gen = torch.Generator(device=device)
            gen.manual_seed(self.seed)
            if self._pending is not None and self._pending[0] == device.type:
                gen.set_state(self._pending[1])
                self._pending = None
            self.generator = gen
        return self.generator

    # ---- events --------------------------------------------------------------------------------
    def on_fit_start(self, ctx: RunContext) -> None:
        rule_cfg = getattr(ctx.extra.get("learning_rule"), "config", None)
        if self.config.order == "before_clip" and getattr(rule_cfg, "grad_clip_norm", None) is not None:
            raise ForwardkitError(
                "annealed_gradient_noise with order='before_clip' needs the learning rule's grad_clip_norm off: "
                "the rule clips before any callback runs; set the callback's clip_norm instead"
            )

    def on_after_backward(self, ctx: RunContext) -> None:
        if ctx.should_stop:  # an earlier callback cancelled this update
            return
        self.apply(ctx.model, self.step_index(ctx))
        self.updates += 1
        ctx.extra.setdefault("step_metrics", {})["gradient_noise/std"] = self.last_std

    def apply(self, model: nn.Module, t: int) -> float:
        """Clip (own ``clip_norm``) and add the noise of step ``t`` to ``model``'s gradients, in ``order``."""
        cfg = self.config
        grads = noisy_parameters(model.parameters())
        targets = noisy_parameters(grads, weights_only=cfg.param_filter == "weights_only")
        std = self.std_at(t)
        if cfg.clip_norm is not None and cfg.order == "after_clip" and grads:
            torch.nn.utils.clip_grad_norm_(grads, cfg.clip_norm)
        if targets:
            add_gradient_noise_(targets, std, generator=self.generator_on(targets[0].device))
        if cfg.clip_norm is not None and cfg.order == "before_clip" and grads:
            torch.nn.utils.clip_grad_norm_(grads, cfg.clip_norm)
        self.last_std = std
        return std

    # ---- state ---------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        device, gen_state = (self._pending if self._pending is not None
                             else (self.generator.device.type, self.generator.get_state()))
        return {"updates": self.updates, "seed": self.seed, "device": device, "generator": gen_state.clone(),
                "last_std": self.last_std}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.updates = int(state["updates"])
        self.seed = int(state["seed"])
        self.last_std = float(state.get("last_std", 0.0))
        gen_state = torch.as_tensor(state["generator"], dtype=torch.uint8).clone().cpu()
        device = str(state.get("device", "cpu"))
        if device == self.generator.device.type:
            self.generator.set_state(gen_state)
            self._pending = None
        else:  # applied when the generator is created on that device (first noised step)
            self._pending = (device, gen_state)
