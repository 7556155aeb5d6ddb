"""The domain classifier G_d attached through the GRL at a backbone's feature tap (Ganin et al. 2016, sec. 4.2,
Fig. 1; the MNIST head of Fig. 4a is FC100-ReLU-FC1 at the 768-d output of the second pooling).

:func:`attach_domain_head` wraps any backbone ``G_y(G_f(x))`` into a :class:`DomainAdversarialNet`: its
``forward(x)`` is the backbone's (the same outputs, the same call signature), and a batch that also carries the
unlabelled target rows (``target_x``, drawn by ``trainer.paired``) gives a :class:`DomainAdversarialOutput`:
one forward pass of ``concat(x_S, x_T)`` through the backbone (so batch-dependent layers see both domains
together, as the card asks), the tap's output ``f`` captured by a forward hook and flattened to ``(B, D)``,
and ``G_d(R_lambda(f))`` -> one logit per row (source = 0, target = 1).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, NamedTuple

import torch
from torch import Tensor, nn

from forwardkit.data import forward_batch
from forwardkit.errors import ForwardkitError
from forwardkit.interfaces import Adapter
from forwardkit_dann.config import DomainAdversarialHeadConfig
from forwardkit_dann.grl import GradientReversal

__all__ = [
    "DomainAdversarialHead",
    "DomainAdversarialNet",
    "DomainAdversarialOutput",
    "DomainClassifier",
    "attach_domain_head",
    "resolve_tap",
    "small_dann_net",
    "tap_features",
]

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh,
                                                   "sigmoid": nn.Sigmoid}
#: the small backbone the conformance kit applies the adapter to (and trains the rule with)
SMALL_CNN: dict[str, Any] = {"name": "dann_mnist_cnn", "conv_channels": [4, 8], "hidden": [16], "image_size": 16,
                             "num_classes": 4}


class DomainAdversarialOutput(NamedTuple):
    """What a :class:`DomainAdversarialNet` returns for a batch with target rows.

    ``logits`` ``(B_S, K)``: the label predictor on the source rows; ``domain_logits`` ``(B_S + B_T,)``: G_d on
    every row, source rows first; ``target_logits`` ``(B_T, K)``: the label predictor on the target rows (for
    monitoring only: their labels are unknown); ``features`` ``(B_S + B_T, D)``: the tap, flattened.
    """

    logits: Tensor
    domain_logits: Tensor
    target_logits: Tensor
    features: Tensor


#: a feature tap: a module name (or a unique suffix of one), or a callable that picks the module from the model
Tap = str | Callable[[nn.Module], nn.Module]


def resolve_tap(model: nn.Module, tap: Tap) -> tuple[str, nn.Module]:
    """The module called ``tap`` in ``model.named_modules()``, or the one whose name ends with ``.tap``
    (``features`` finds ``backbone.features``), or ``tap(model)`` when ``tap`` is a callable (it must return a
    submodule of ``model``); an unknown or ambiguous name raises a ForwardkitError."""
    modules = dict(model.named_modules())
    if callable(tap):
        picked = tap(model)
        found = [name for name, m in modules.items() if m is picked]
        if not found:
            raise ForwardkitError(f"feature tap: the callable returned {type(picked).__name__}, which is not a "
                                  f"module of {type(model).__name__}")
        return found[0], picked
    if tap in modules:
        return tap, modules[tap]
    found = [name for name in modules if name.endswith("." + tap)]
    if len(found) == 1:
        return found[0], modules[found[0]]
    names = [n for n in modules if n][:25]
    what = f"several modules end with {tap!r}: {found}" if found else f"no module {tap!r}"
    raise ForwardkitError(f"feature tap: {type(model).__name__} has {what}; its modules include {names}")


def tap_features(model: nn.Module, tap: Tap, batch: Mapping[str, Tensor] | Tensor) -> tuple[Any, Tensor]:
    """Run ``model`` on ``batch`` (a batch dict, through ``forward_batch``, or an input tensor) with a forward hook
    on the tap; returns ``(output, f)`` with ``f`` the tap's output flattened to ``(B, D)``."""
    _, module = resolve_tap(model, tap)
    store: list[Tensor] = []

    def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
        out = output[0] if isinstance(output, tuple | list) else output
        store.append(out)

    handle = module.register_forward_hook(hook)
    try:
        output = model(batch) if isinstance(batch, Tensor) else forward_batch(model, batch)
    finally:
        handle.remove()
    if not store:
        raise ForwardkitError(f"feature tap {tap!r} was not called in the forward pass of {type(model).__name__}")
    return output, store[-1].flatten(1)


class DomainClassifier(nn.Module):
    """G_d(R_lambda(f)): the GRL, then ``[Linear, activation, dropout] x len(hidden)``, then ``Linear(., 1)``.

    ``f`` ``(B, D)`` -> domain logits ``(B,)`` (sigmoid: probability of "target")."""

    def __init__(self, in_features: int, hidden: list[int], *, activation: str = "relu", dropout: float = 0.0,
                 lambda_: float = 1.0) -> None:
        super().__init__()
        self.grl = GradientReversal(dim=in_features, lambda_=lambda_)
        layers: list[nn.Module] = []
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), ACTIVATIONS[activation]()]
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = h
        layers.append(nn.Linear(width, 1))
        self.mlp = nn.Sequential(*layers)

    def forward(self, f: Tensor) -> Tensor:
        return self.mlp(self.grl(f)).squeeze(-1)


class DomainAdversarialNet(nn.Module):
    """A backbone with a domain classifier at its tap. ``forward(x)`` is ``backbone(x)``; ``forward_batch``
    returns a :class:`DomainAdversarialOutput` when the batch has ``target_key``, else the backbone's output."""

    def __init__(self, backbone: nn.Module, head: DomainClassifier, *, tap: str, target_key: str = "target_x") -> None:
        super().__init__()
        self.backbone = backbone
        self.domain_head = head
        self.tap = tap
        self.target_key = target_key
        self.input_key = getattr(backbone, "input_key", "x")
        resolve_tap(backbone, tap)  # fail now, not at the first step

    def forward(self, x: Tensor) -> Any:
        return self.backbone(x)

    def set_lambda(self, lambda_: float) -> None:
        """Set lambda of the GRL (the dann rule's lambda_p)."""
        self.domain_head.grl.lambda_ = float(lambda_)

    def forward_domains(self, x_source: Tensor, x_target: Tensor) -> DomainAdversarialOutput:
        """One pass of ``concat(x_source, x_target)`` (``(B_S, ...)`` and ``(B_T, ...)``) through the backbone,
        the tap through R_lambda and G_d."""
        n = x_source.shape[0]
        logits, f = tap_features(self.backbone, self.tap, torch.cat([x_source, x_target]))
        return DomainAdversarialOutput(logits[:n], self.domain_head(f), logits[n:], f)

    def forward_batch(self, batch: Mapping[str, Tensor]) -> Any:
        if self.target_key in batch:
            return self.forward_domains(batch[self.input_key], batch[self.target_key])
        return forward_batch(self.backbone, batch)

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """The backbone's example batch plus as many target rows (``target_key``) drawn the same way."""
        maker = getattr(self.backbone, "example_batch", None)
        if maker is None:
            raise ForwardkitError(f"{type(self.backbone).__name__} has no example_batch()")
        batch = dict(maker(batch_size, generator=generator))
        batch[self.target_key] = maker(batch_size, generator=generator)[self.input_key]
        return batch


def _measure_in_features(backbone: nn.Module, tap: Tap) -> int:
    maker = getattr(backbone, "example_batch", None)
    if maker is None:
        raise ForwardkitError(f"cannot measure the tap of {type(backbone).__name__} (it has no example_batch()); "
                              "set in_features")
    was_training = backbone.training
    backbone.eval()
    try:
        with torch.no_grad():
            _, f = tap_features(backbone, tap, maker(2, generator=torch.Generator().manual_seed(0)))
    finally:
        backbone.train(was_training)
    return int(f.shape[1])


def attach_domain_head(model: nn.Module, *, tap: Tap = "features", hidden: list[int] | None = None,
                       activation: str = "relu", dropout: float = 0.0, lambda_: float = 1.0,
                       target_key: str = "target_x", in_features: int | None = None) -> DomainAdversarialNet:
    """``model`` (not copied) wrapped with ``G_d(R_lambda(f))`` at ``tap`` (a module name, or a callable picking
    the module: ``tap=lambda m: m.features``); ``hidden`` defaults to ``[100]`` (Fig. 4a: FC100-ReLU-FC1).
    ``in_features`` (D) is measured on ``model.example_batch()`` when not given."""
    hidden = [100] if hidden is None else list(hidden)
    tap = resolve_tap(model, tap)[0]  # from here on, the tap is the module's name
    width = in_features if in_features is not None else _measure_in_features(model, tap)
    ref = next(iter(model.parameters()), None)
    head = DomainClassifier(width, hidden, activation=activation, dropout=dropout, lambda_=lambda_)
    if ref is not None:
        head.to(device=ref.device, dtype=ref.dtype)
    return DomainAdversarialNet(model, head, tap=tap, target_key=target_key)


def small_dann_net() -> DomainAdversarialNet:
    """The small CNN (:data:`SMALL_CNN`) with a domain head: the conformance kit's model for the rule and the
    analyzer (its example batches carry target rows)."""
    from forwardkit import build_model

    return attach_domain_head(build_model(SMALL_CNN), tap="features", hidden=[8])


class DomainAdversarialHead(Adapter):
    """``domain_adversarial_head``: a copy of the model with G_d attached through the GRL at ``tap``.

    The returned model is called like the original (``forward(x)`` unchanged); the domain loss is the dann
    learning rule's (it needs the target rows and the lambda_p schedule), so ``loss()`` adds nothing."""

    Config = DomainAdversarialHeadConfig
    config: DomainAdversarialHeadConfig
    inplace: ClassVar[bool] = False
    conformance_models: ClassVar[tuple[Any, ...]] = (SMALL_CNN,)
    conformance_configs: ClassVar[tuple[dict[str, Any], ...]] = (
        {}, {"hidden": [], "tap": "features.3"}, {"hidden": [8, 8], "activation": "tanh", "dropout": 0.2},
    )

    def apply(self, model: nn.Module) -> nn.Module:
        c = self.config
        return attach_domain_head(copy.deepcopy(model), tap=c.tap, hidden=c.hidden, activation=c.activation,
                                  dropout=c.dropout, lambda_=c.lambda_, target_key=c.target_key,
                                  in_features=c.in_features)

    def loss(self, model: nn.Module, batch: Mapping[str, Tensor], output: Any) -> Tensor | None:
        return None
