"""Stage 2 of the two-stage recipe: progressive unfreezing (paper sec. "transfer learning with progressive
unfreezing"; the schedule popularised by ULMFiT, Howard & Ruder 2018), the ``progressive_unfreezing`` callback.

The unified model's layers are split into the new head and ``L`` layer groups counted from the top of each trunk
(group 1: the last conv layer of trunk A and of trunk B, ...). In phase ``s`` exactly the head and groups
``1..s`` are trainable:

    phase(e) = 0                                    if e < epochs_head_only
             = min(L, 1 + (e - epochs_head_only) // epochs_per_phase)   otherwise      (e: epochs completed)

A phase change happens at an epoch end; the callback returns True there, so the learning rule rebuilds its
optimizer over the trainable parameters (the builtin ``backprop``: a new optimizer, Adam moments from zero), and
frozen tensors are not in any optimizer: they stay bit-identical, weight decay cannot touch them. Parameters that
were already frozen when the run started (a stage's ``freeze``) stay frozen. With ``frozen_bn_mode='eval'`` the
BatchNorm layers of frozen groups run in inference mode and keep their running statistics (what Keras'
``trainable=False`` does; PyTorch needs ``eval()`` explicitly). With ``lr_decay_per_phase = d`` phase ``s`` trains at
``d ** s`` times the rule's scheduled rate (``ctx.lr_scale``, which the builtin ``backprop`` applies and checkpoints
keep).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from forwardkit.interfaces import Callback
from forwardkit.interfaces.context import RunContext
from forwardkit_lightweight_cnn.config import ProgressiveUnfreezingConfig

SMALL_UNIFIED = {"name": "unified_model", "widths": [4, 6, 8], "pool_after": [False, True, True], "head_hidden": 8,
                 "input_size": [8, 8], "num_classes": 4, "in_channels": 1, "batchnorm": True}


def phase_of(epochs_done: int, *, epochs_head_only: int, epochs_per_phase: int, groups: int) -> int:
    """The phase after ``epochs_done`` completed epochs (0: head only; ``groups``: everything trainable)."""
    if epochs_done < epochs_head_only:
        return 0
    return min(groups, 1 + (epochs_done - epochs_head_only) // epochs_per_phase)


def _unwrap(model: nn.Module) -> nn.Module:
    return getattr(model, "module", model) if isinstance(model, nn.parallel.DistributedDataParallel) else model


def layer_groups(model: nn.Module, mode: str = "per_layer") -> tuple[list[str], list[list[str]]]:
    """``(head module names, groups top-first)``, each group a list of module names.

    A model of this plugin says it itself (``unfreeze_plan(mode)``: the head, then layer ``L - s + 1`` of every
    trunk for group ``s``; ``per_block`` groups the layers up to a max-pool). Any other model: its modules that
    hold parameters directly, in registration order; the last is the head and the others are groups from the top
    (``mode`` is not used).
    """
    plan = getattr(model, "unfreeze_plan", None)
    if callable(plan):
        head, groups = plan(mode)
        return list(head), [list(g) for g in groups]
    owners = [name for name, m in model.named_modules()
              if name and any(True for _ in m.parameters(recurse=False))]  # the root's own ones: the last phase
    if not owners:
        return [], []
    return [owners[-1]], [[name] for name in reversed(owners[:-1])]


def _under(name: str, modules: list[str]) -> bool:
    return any(m == "" or name == m or name.startswith(m + ".") for m in modules)


def trainable_modules(head: list[str], groups: list[list[str]], phase: int) -> list[str]:
    """The head and the top ``phase`` groups; at the last phase also whatever lies outside every group (``""``)."""
    out = [*head, *(m for g in groups[:phase] for m in g)]
    return [*out, ""] if phase >= len(groups) else out


def apply_phase(model: nn.Module, phase: int, *, mode: str = "per_layer", pinned: frozenset[str] = frozenset(),
                frozen_bn_mode: str = "eval") -> list[str]:
    """Set ``requires_grad`` for ``phase`` (functional form of the callback); returns the trainable names.

    ``pinned``: parameter names kept frozen whatever the phase. BatchNorm layers outside the trainable modules are
    put in eval mode when ``frozen_bn_mode='eval'``.
    """
    head, groups = layer_groups(model, mode)
    live = trainable_modules(head, groups, phase)
    trainable = []
    for name, p in model.named_parameters():
        on = _under(name, live) and name not in pinned
        p.requires_grad_(on)
        if on:
            trainable.append(name)
    set_frozen_bn_modes(model, live, frozen_bn_mode)
    return trainable


def set_frozen_bn_modes(model: nn.Module, live: list[str], frozen_bn_mode: str) -> None:
    """BatchNorm layers that are not under a trainable module: eval mode (``'eval'``) or left as they are."""
    if frozen_bn_mode != "eval":
        return
    for name, m in model.named_modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and not _under(name, live):
            m.eval()


class ProgressiveUnfreezing(Callback):
    """Head-only training, then one layer group per phase unfrozen from the top down (see the module docstring).

    State: the phase and the epochs completed in this run, so a resumed run (even in the middle of a phase, or
    inside the second stage of a multi-stage run) freezes exactly what the uninterrupted one did.
    """

    Config = ProgressiveUnfreezingConfig
    config: ProgressiveUnfreezingConfig
    conformance_configs = ({"epochs_head_only": 1, "epochs_per_phase": 1},)
    conformance_models = ("toy", SMALL_UNIFIED)
    conformance_experiment = {"data": {"name": "blobs", "image_size": 8, "n_samples": 200, "clusters_per_class": 2},
                              "model": {k: v for k, v in SMALL_UNIFIED.items() if k not in ("num_classes",
                                                                                      "in_channels", "input_size")}}

    def __init__(self, config: ProgressiveUnfreezingConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.phase = 0
        self.epochs = 0
        self.pinned: frozenset[str] = frozenset()
        self._live: list[str] = []

    def _groups(self, model: nn.Module) -> int:
        return len(layer_groups(model, self.config.groups)[1])

    def _apply(self, model: nn.Module, ctx: RunContext) -> None:
        # the phase's rate: every rule that schedules a learning rate multiplies it by ctx.lr_scale
        ctx.lr_scale = self.config.lr_decay_per_phase ** self.phase
        apply_phase(model, self.phase, mode=self.config.groups, pinned=self.pinned,
                    frozen_bn_mode=self.config.frozen_bn_mode)
        head, groups = layer_groups(model, self.config.groups)
        self._live = trainable_modules(head, groups, self.phase)

    def target_phase(self, model: nn.Module) -> int:
        cfg = self.config
        return phase_of(self.epochs, epochs_head_only=cfg.epochs_head_only, epochs_per_phase=cfg.epochs_per_phase,
                        groups=self._groups(model))

    def on_fit_start(self, ctx: RunContext) -> None:
        model = _unwrap(ctx.model)
        # what the run froze before this callback (a stage's `freeze`) stays frozen; on resume the trainer has
        # rebuilt the model with the same freeze, so this set is the same
        self.pinned = frozenset(n for n, p in model.named_parameters() if not p.requires_grad)
        self.phase = self.target_phase(model)
        self._apply(model, ctx)

    def on_epoch_start(self, ctx: RunContext) -> None:
        set_frozen_bn_modes(_unwrap(ctx.model), self._live, self.config.frozen_bn_mode)

    def on_batch_start(self, batch: dict[str, Tensor], ctx: RunContext) -> dict[str, Tensor]:
        # the trainer puts the model back into train mode after every evaluation
        set_frozen_bn_modes(_unwrap(ctx.model), self._live, self.config.frozen_bn_mode)
        return batch

    def on_epoch_end(self, ctx: RunContext) -> bool:
        model = _unwrap(ctx.model)
        self.epochs += 1
        phase = self.target_phase(model)
        if phase == self.phase:
            return False
        self.phase = phase
        self._apply(model, ctx)
        return True

    def state_dict(self) -> dict[str, Any]:
        return {"phase": self.phase, "epochs": self.epochs}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.phase = int(state["phase"])
        self.epochs = int(state["epochs"])
