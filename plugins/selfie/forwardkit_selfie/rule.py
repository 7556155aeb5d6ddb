"""``selfie_rule``: Selfie's pretext task as a learning rule (paper's method; the card's Mechanism steps 1 and 6).

Per step, for every image, a uniform random set ``T`` of ``num_masked`` locations is hidden (drawn from the
rule's own generator, saved in ``state_dict`` so resumed runs are exact); the model returns the candidate logits
``(B, m, m)`` through ``ctx.run_forward`` (the batch gets the key ``masked``); the loss is the softmax
cross-entropy of :func:`~forwardkit_selfie.loss.selfie_loss` at ``temperature``; one optimizer step over the
trainable parameters. The labels ``y`` are never read: pre-training is unsupervised.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.errors import ConfigError, ConfigIssue, ForwardkitError
from forwardkit.interfaces import LearningRule, finish_step
from forwardkit.interfaces.context import RunContext
from forwardkit_selfie.config import SelfieRuleConfig
from forwardkit_selfie.loss import selfie_loss

SMALL_PRETRAINER = {"name": "selfie_pretrainer", "embed_dim": 8, "pool_layers": 1, "pool_heads": 2,
                    "patch_size": 4, "grid": 2}


def sample_masked(batch: int, num_patches: int, num_masked: int, generator: torch.Generator) -> Tensor:
    """``(batch, num_masked)`` distinct locations per row, uniform over the subsets of ``range(num_patches)``."""
    return torch.rand(batch, num_patches, generator=generator).argsort(dim=1)[:, :num_masked]


class SelfieRule(LearningRule):
    """Trains a ``selfie_pretrainer`` (any model with ``num_patches`` and the ``masked`` batch key) on the pretext."""

    Config = SelfieRuleConfig
    config: SelfieRuleConfig
    conformance_models = ({**SMALL_PRETRAINER, "in_channels": 1},)
    conformance_configs = ({"num_masked": 2},)
    conformance_experiment = {
        "data": {"name": "blobs", "image_size": 8, "n_samples": 200, "clusters_per_class": 2, "val_fraction": 0.0},
        "model": SMALL_PRETRAINER,
        "trainer": {"eval_every": 0},
    }

    def __init__(self, config: SelfieRuleConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.optimizer: torch.optim.Optimizer | None = None
        self.generator = torch.Generator()
        self.num_patches = 0

    def setup(self, model: nn.Module, ctx: RunContext) -> None:
        n = getattr(model, "num_patches", None)
        if not isinstance(n, int):
            raise ForwardkitError(f"selfie_rule pre-trains a selfie_pretrainer (a model with num_patches and the "
                                  f"'masked' batch key); got {type(model).__name__}")
        if not 1 < self.config.num_masked < n:
            raise ConfigError([ConfigIssue("learning_rule.num_masked", f"must be between 1 and the model's "
                                           f"{n} patches (exclusive), got {self.config.num_masked}")])
        self.num_patches = n
        cfg = self.config
        seed = cfg.mask_seed if cfg.mask_seed is not None else int(torch.randint(0, 2**62, (1,)).item())
        self.generator.manual_seed(seed)
        params = [p for p in model.parameters() if p.requires_grad]
        if cfg.optimizer == "sgd":
            self.optimizer = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
        elif cfg.optimizer == "adamw":
            self.optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        else:
            self.optimizer = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)

    def step(self, batch: Mapping[str, Tensor], ctx: RunContext) -> dict[str, float]:
        assert self.optimizer is not None, "setup() must run first"
        x = batch["x"]
        masked = sample_masked(x.shape[0], self.num_patches, self.config.num_masked, self.generator).to(x.device)
        self.optimizer.zero_grad(set_to_none=True)
        logits = ctx.run_forward({"x": x, "masked": masked})
        loss, top1 = selfie_loss(logits, self.config.temperature)
        loss.backward()
        metrics = {"loss": float(loss.detach()), "pretext_top1": float(top1)}
        finish_step(self.optimizer, ctx, metrics)
        return metrics

    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict() if self.optimizer is not None else None,
                "generator": self.generator.get_state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state.get("optimizer") is not None:
            assert self.optimizer is not None, "setup() must run before load_state_dict()"
            self.optimizer.load_state_dict(state["optimizer"])
        if state.get("generator") is not None:
            self.generator.set_state(state["generator"])
