"""``physical_layer``: wrap any callable or frozen module as a non-differentiable physical black box.

A physical layer of a deep physical neural network is a measurement: the digital side sends an input,
the hardware returns what the detectors read, and nothing about the transformation is known. A
:class:`BlackBox` makes a torch module or any callable behave exactly like that:

* it is called under ``torch.no_grad()`` and its output is detached: ``requires_grad=False`` and no
  ``grad_fn``, so autograd cannot differentiate through it and no gradient ever reaches its inputs or the
  parameters of the wrapped module (which are frozen besides);
* ``queries`` counts the samples (rows) it has measured: ``B`` per call of a ``(B, D)`` batch;
* ``perturb(fn)`` changes the hardware (drift experiments): ``fn(box)`` may change the wrapped module in
  place or return a replacement;
* ``interface: numpy`` queries a plain numpy function (float arrays in and out).

Baselines that *do* assume knowledge of the physics say so explicitly with :meth:`BlackBox.surrogate`:
``"exact"`` differentiates the wrapped torch module itself (in-silico backprop with a perfect model), a
module (a digital twin) gives the straight-through form ``measure(h) + twin(h) - twin(h).detach()``
(physics-aware training: forward values measured, gradients from the twin). Without a surrogate there
is no gradient path at all.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from forwardkit.interfaces import Adapter
from forwardkit_model_free_ff.config import PhysicalLayerConfig

Surrogate = nn.Module | str | None


def encode(h: Tensor, normalize_input: str) -> Tensor:
    """The digital encoding of a block input ``h`` ``(B, D)`` before the physics: ``|h| / ||h||_2`` for
    ``l2_abs`` (acoustic code), else ``h`` itself; ``(B, D)``."""
    if normalize_input == "l2_abs":
        return h.abs() / (h.norm(dim=-1, keepdim=True) + 1e-6)
    return h


class BlackBox(nn.Module):
    """A physical layer: ``(B, D) -> (B, M)`` (``(B, M + D)`` with ``skip_concat``), measured without autograd.

    ``fn`` is the hardware: an ``nn.Module`` (registered as ``box``, frozen, always in eval mode, its
    buffers part of the model's state) or a plain callable (not part of the state).
    """

    queries: Tensor
    config: PhysicalLayerConfig

    def __init__(self, fn: Callable[..., Any], config: PhysicalLayerConfig | None = None) -> None:
        super().__init__()
        self.config = config or PhysicalLayerConfig()
        self._fn: Callable[..., Any] | None = None
        self.box: nn.Module | None = None
        self._set(fn)
        self.register_buffer("queries", torch.zeros((), dtype=torch.int64))
        self._surrogate: list[Surrogate] = [None]  # a list: a twin module must not become a child module

    def _set(self, fn: Callable[..., Any]) -> None:
        if isinstance(fn, nn.Module):
            fn.requires_grad_(False)
            fn.eval()
            self.box, self._fn = fn, None
        elif callable(fn):
            self.box, self._fn = None, fn
        else:
            raise TypeError(f"a physical layer wraps a callable or an nn.Module, got {type(fn).__name__}")

    @property
    def hardware(self) -> Callable[..., Any]:
        """The wrapped callable or module."""
        return self.box if self.box is not None else self._fn  # type: ignore[return-value]

    def train(self, mode: bool = True) -> BlackBox:
        super().train(mode)
        if self.box is not None:
            self.box.eval()  # a physical system does not change between training and evaluation
        return self

    def _call(self, x: Tensor) -> Tensor:
        fn = self.hardware
        if self.config.interface == "numpy":
            out = np.asarray(fn(x.detach().cpu().numpy()))
            return torch.as_tensor(out, dtype=x.dtype).to(x.device)
        out = fn(x)
        if not isinstance(out, Tensor):
            raise TypeError(f"the black box returned a {type(out).__name__}, not a tensor (interface: torch)")
        return out

    def measure(self, h: Tensor) -> Tensor:
        """What the detectors read for inputs ``h`` ``(B, D)``: ``(B, M)``, detached, no autograd (counts
        ``B`` queries). The skip connection is not part of it."""
        with torch.no_grad():
            self.queries += h.shape[0]
            return self._call(encode(h.detach(), self.config.normalize_input)).detach()

    def _simulate(self, h: Tensor) -> Tensor:
        """The wrapped torch module differentiated end to end (in-silico, a perfect model of the physics)."""
        if self.box is None or self.config.interface != "torch":
            raise RuntimeError("backprop through the physics needs a differentiable torch simulator; this "
                               "physical layer wraps a non-differentiable callable")
        with torch.no_grad():
            self.queries += h.shape[0]
        return self.box(encode(h, self.config.normalize_input))

    def forward(self, h: Tensor) -> Tensor:
        """The layer's output for ``h`` ``(B, D)``: the measurement ``(B, M)`` (with the surrogate's gradient
        when one is set), concatenated with ``h`` under ``skip_concat``."""
        surrogate = self._surrogate[0]
        if surrogate is None:
            z = self.measure(h)
        elif isinstance(surrogate, str):
            z = self._simulate(h)
        else:
            z = self.measure(h)
            if h.requires_grad:
                s = surrogate(encode(h, self.config.normalize_input))
                z = z + (s - s.detach())  # the value measured, the gradient of the twin
        return torch.cat([z, h], dim=-1) if self.config.skip_concat else z

    @contextlib.contextmanager
    def surrogate(self, model: Surrogate) -> Iterator[None]:
        """Within the block, gradients cross this layer through ``model``: ``"exact"`` (the wrapped module
        itself) or a twin ``nn.Module`` on the encoded input; ``None`` restores the black box."""
        if isinstance(model, str) and model != "exact":
            raise ValueError(f"surrogate must be 'exact', a module or None, got {model!r}")
        before = self._surrogate[0]
        self._surrogate[0] = model
        try:
            yield
        finally:
            self._surrogate[0] = before

    def perturb(self, fn: Callable[[Any], Any]) -> None:
        """Change the hardware: ``fn(hardware)`` changes it in place (returns None) or returns its replacement."""
        new = fn(self.hardware)
        if new is not None:
            self._set(new)

    def extra_repr(self) -> str:
        kind = type(self.hardware).__name__
        return f"hardware={kind}, normalize_input={self.config.normalize_input}, skip_concat={self.config.skip_concat}"


def black_box(fn: Callable[..., Any], **config: Any) -> BlackBox:
    """Functional form: ``fn`` (a callable or module, not copied) as a :class:`BlackBox` with ``config``
    fields of :class:`PhysicalLayerConfig`."""
    return BlackBox(fn, PhysicalLayerConfig(**config))


def _replace(root: nn.Module, dotted: str, new: nn.Module) -> None:
    parent_name, _, child = dotted.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    if isinstance(parent, nn.ModuleList | nn.Sequential) and child.isdigit():
        parent[int(child)] = new
    else:
        setattr(parent, child, new)


class PhysicalLayer(Adapter):
    """Adapter: a copy of the given model (or of its submodule ``target``) turned into a :class:`BlackBox`.

    ``apply(model)`` returns a module called like ``model`` whose (targeted) part is measured without
    autograd: frozen, detached, counted. A plain callable is wrapped as it is (nothing to copy).
    """

    Config = PhysicalLayerConfig
    inplace = False

    def apply(self, model: Any) -> nn.Module:
        if not isinstance(model, nn.Module):
            return BlackBox(model, self.config)
        new = copy.deepcopy(model)
        target = self.config.target
        if target is None:
            return BlackBox(new, self.config)
        try:
            part = new.get_submodule(target)
        except AttributeError as exc:
            raise ValueError(f"physical_layer target {target!r} is not a submodule of {type(model).__name__}") \
                from exc
        _replace(new, target, BlackBox(part, self.config))
        return new


def boxes(model: nn.Module) -> list[BlackBox]:
    """Every :class:`BlackBox` inside ``model``, in module order."""
    return [m for m in model.modules() if isinstance(m, BlackBox)]
