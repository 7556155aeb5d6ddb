"""``hybrid_pnn``: a deep physical neural network, and ``physical_readout``, its random-feature baseline.

``hybrid_pnn`` alternates fixed black boxes and trainable digital layers (card "Mechanism"). Block ``k``
takes ``h_{k-1}`` ``(B, D_{k-1})``:

    z_k = Phys_k(h_{k-1})          measured, detached (concat([Phys_k(h), h]) with skip_concat)
    a_k = act(W_k z_k)             W_k: nn.Linear with bias
    g_k = goodness(a_k)            cos(a_k, p_k) with a fixed random unit p_k (or sum of squares)
    h_k = W_k z_k                  (act(W_k z_k) with pass_activation)

``forward(x)`` returns the candidate scores ``(B, C)``: for every label ``c`` the input with ``c`` overlaid
runs through all blocks and ``score_c = sum_k g_k``; the prediction is ``argmax_c`` (C x K physical
evaluations per sample, stacked into K calls of ``C * B`` rows). The physics of block ``k`` is any
registered model named by ``physics``, built with ``in_features`` and seed ``physics_seed + k``, then
wrapped as a :class:`~forwardkit_model_free_ff.physical.BlackBox`; :meth:`HybridPNN.replace_physics` puts
any other callable in its place.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from forwardkit.config import ModelSpec
from forwardkit.interfaces import Model
from forwardkit_model_free_ff.config import HybridPNNConfig, PhysicalLayerConfig, PhysicalReadoutConfig
from forwardkit_model_free_ff.goodness import activate, goodness, random_patterns
from forwardkit_model_free_ff.overlay import overlay_labels, overlay_value
from forwardkit_model_free_ff.physical import BlackBox, Surrogate


def _seed(physics_seed: int | None) -> int:
    """The physics seed: the given one, else one draw from torch's global generator (the experiment seed)."""
    if physics_seed is not None:
        return physics_seed
    return int(torch.randint(0, 2**31 - 1, (1,)))


def build_physics(physics: Mapping[str, Any], in_features: int, seed: int) -> nn.Module:
    """The registered physics ``{name: ..., **config}`` for inputs of width ``in_features``; ``seed`` fills its
    ``seed`` field when it has one left at None."""
    spec = ModelSpec.parse(dict(physics))
    fields = type(spec.config).model_fields
    if "in_features" not in fields:
        raise ValueError(f"physics {spec.name!r} must have an in_features field (the width of what it measures)")
    context: dict[str, Any] = {"in_features": in_features}
    if "seed" in fields and getattr(spec.config, "seed", None) is None:
        context["seed"] = seed
    return spec.build(**context)


def output_width(fn: Callable[..., Any], in_features: int) -> int:
    """The width ``M`` of what ``fn`` returns for ``(1, in_features)`` inputs (``out_features`` when it says,
    else one probe on zeros that no query counter sees)."""
    width = getattr(fn, "out_features", None)
    if isinstance(width, int):
        return width
    with torch.no_grad():
        return int(fn(torch.zeros(1, in_features)).shape[-1])


class HybridPNN(Model):
    """``(B, ...)`` inputs (flattened to ``(B, D)``) -> candidate scores ``(B, C)`` (see the module doc)."""

    Config = HybridPNNConfig
    config: HybridPNNConfig
    expected_failures: ClassVar[dict[str, str]] = {
        "check_batch_independence": "the label overlay's value is max |x| over the batch (the official code, "
        "overlay_value: batch_max_abs); a number as overlay_value makes the model batch independent (tested)",
    }

    def __init__(self, config: HybridPNNConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        seed = _seed(cfg.physics_seed)
        layer_cfg = PhysicalLayerConfig(normalize_input=cfg.normalize_input, skip_concat=cfg.skip_concat)
        width = self.input_width
        self.physics = nn.ModuleList()
        self.linears = nn.ModuleList()
        widths: list[int] = []
        for k in range(cfg.num_blocks):
            hardware = build_physics(cfg.physics, width, seed + k)
            measured = output_width(hardware, width)
            self.physics.append(BlackBox(hardware, layer_cfg))
            out = cfg.hidden or measured
            self.linears.append(nn.Linear(measured + (width if cfg.skip_concat else 0), out))
            widths.append(out)
            width = out
        for k, p in enumerate(random_patterns(widths, cfg.pattern_seed)):
            self.register_buffer(f"pattern{k}", p)

    # ---- pieces the learning rules use ----------------------------------------------------------
    @property
    def input_width(self) -> int:
        """Width of block 1's input: ``D`` (``C + D`` with ``append_onehot``)."""
        cfg = self.config
        return cfg.in_features + (cfg.num_classes if cfg.label_injection == "append_onehot" else 0)

    @property
    def num_classes(self) -> int:
        return self.config.num_classes

    @property
    def num_blocks(self) -> int:
        return self.config.num_blocks

    def box(self, k: int) -> BlackBox:
        """Block ``k``'s physical layer."""
        box = self.physics[k]
        assert isinstance(box, BlackBox)
        return box

    def pattern(self, k: int) -> Tensor:
        """The fixed goodness direction ``p_k`` ``(H_k,)`` of block ``k`` (0-based), a buffer saved with the weights."""
        return getattr(self, f"pattern{k}")

    def flatten(self, x: Tensor) -> Tensor:
        """``(B, ...)`` -> ``(B, D)``."""
        x = x.reshape(x.shape[0], -1)
        if x.shape[1] != self.config.in_features:
            raise ValueError(f"hybrid_pnn expects {self.config.in_features} input features, got {x.shape[1]}")
        return x

    def overlay_value(self, x: Tensor) -> Tensor:
        """The label-slot value for the flat batch ``x`` ``(B, D)`` (0-d)."""
        return overlay_value(x, self.config.overlay_value)

    def inject(self, x: Tensor, y: Tensor, value: Tensor) -> Tensor:
        """Labels ``y`` ``(B,)`` injected into the flat inputs ``x`` ``(B, D)``: ``(B, input_width)``."""
        return overlay_labels(x, y, self.config.num_classes, mode=self.config.label_injection, value=value)

    def digital(self, k: int, z: Tensor) -> tuple[Tensor, Tensor]:
        """Block ``k``'s trainable part on its measured input ``z`` ``(B, M)``: ``(W_k z, act(W_k z))``."""
        pre: Tensor = self.linears[k](z)
        return pre, activate(pre, self.config.activation)

    def block_goodness(self, k: int, a: Tensor) -> Tensor:
        """``g_k`` of activations ``a`` ``(B, H)``: ``(B,)``."""
        return goodness(a, self.pattern(k), self.config.goodness)

    def next_input(self, pre: Tensor, act: Tensor) -> Tensor:
        """What the next block receives: the pre-activation (the code) or, with ``pass_activation``, ``act``."""
        return act if self.config.pass_activation else pre

    def goodness_per_block(self, h: Tensor, first: Tensor | None = None) -> list[Tensor]:
        """``[g_1, ..., g_K]`` ``(N,)`` each for label-injected inputs ``h`` ``(N, input_width)``; ``first`` is
        block 1's physical output when it is already known (not measured again)."""
        out = []
        for k in range(self.num_blocks):
            z = first if k == 0 and first is not None else self.physics[k](h)
            pre, a = self.digital(k, z)
            out.append(self.block_goodness(k, a))
            h = self.next_input(pre, a)
        return out

    def candidate_inputs(self, x: Tensor) -> Tensor:
        """Every label overlaid on the flat batch ``x`` ``(B, D)``: ``(C * B, input_width)``, label ``c`` in rows
        ``c * B .. (c + 1) * B``."""
        b, c = x.shape[0], self.config.num_classes
        labels = torch.arange(c, device=x.device).repeat_interleave(b)
        return self.inject(x.repeat(c, 1), labels, self.overlay_value(x))

    def forward(self, x: Tensor) -> Tensor:
        """Candidate scores ``(B, C)``: ``sum_k g_k`` with each label overlaid (the prediction is the argmax)."""
        x = self.flatten(x)
        scores = torch.stack(self.goodness_per_block(self.candidate_inputs(x))).sum(0)
        return scores.view(self.config.num_classes, x.shape[0]).T

    @contextlib.contextmanager
    def backward_through(self, surrogates: str | Sequence[Surrogate]) -> Iterator[None]:
        """Let gradients cross the physical layers (the baselines' assumption of a model of the physics):
        ``"exact"`` for every block, or one surrogate (``"exact"``, a twin module or None) per block."""
        per = [surrogates] * self.num_blocks if isinstance(surrogates, str) else list(surrogates)
        if len(per) != self.num_blocks:
            raise ValueError(f"{len(per)} surrogates for {self.num_blocks} physical layers")
        with contextlib.ExitStack() as stack:
            for k, s in enumerate(per):
                stack.enter_context(self.box(k).surrogate(s))
            yield

    def replace_physics(self, k: int, fn: Callable[..., Any], **layer_config: Any) -> BlackBox:
        """Put ``fn`` (any callable or module; your own hardware) in place of block ``k``'s physics; it must
        return the same width. ``layer_config`` overrides the :class:`PhysicalLayerConfig` fields."""
        old = self.box(k)
        cfg = old.config.model_copy(update=layer_config)
        box = BlackBox(fn, cfg)
        self.physics[k] = box
        return box

    def queries(self) -> int:
        """Physical evaluations (samples measured) so far, over all blocks."""
        return sum(int(self.box(k).queries) for k in range(self.num_blocks))

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        x = torch.rand(batch_size, self.config.in_features, generator=generator)
        y = torch.randint(0, self.config.num_classes, (batch_size,), generator=generator)
        return {"x": x, "y": y}


class PhysicalReadout(Model):
    """The random-feature (extreme-learning-machine) baseline: ``logits = W Phys(x) + b``, ``(B, ...) -> (B, C)``.

    The physics is built as ``hybrid_pnn``'s first block (same spec, same ``physics_seed`` rule), so with the
    same experiment seed both models measure through the same transmission matrix.
    """

    Config = PhysicalReadoutConfig
    config: PhysicalReadoutConfig

    def __init__(self, config: PhysicalReadoutConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        hardware = build_physics(cfg.physics, cfg.in_features, _seed(cfg.physics_seed))
        self.physics = BlackBox(hardware, PhysicalLayerConfig(normalize_input=cfg.normalize_input))
        self.head = nn.Linear(output_width(hardware, cfg.in_features), cfg.num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.physics(x.reshape(x.shape[0], -1)))

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        x = torch.rand(batch_size, self.config.in_features, generator=generator)
        y = torch.randint(0, self.config.num_classes, (batch_size,), generator=generator)
        return {"x": x, "y": y}
