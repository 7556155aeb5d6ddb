"""Soft competitive Hebbian learning of the early layer (paper Sec. 3.1, Fig. 2 step 1; SoftHebb form, card guess).

The rule is local and unsupervised: it reads only the layer's input patches and the layer's own weights
(its pre-activations ``u = W x``), never a gradient and never a label. For a layer with ``K`` output
neurons and patches of ``D`` values (``D = C_in k_h k_w`` for a convolution, ``in_features`` for a Linear),
on every patch ``x`` of every image of the batch:

.. code-block:: text

    u   = W x                                  (K,)   pre-activations           (eq. 1)
    y   = softmax(u / tau)                     (K,)   soft lateral inhibition   (eq. 2)
    dW_k = eta * y_k * (x - u_k W_k)           (D,)   Oja-normalised step       (eq. 3)
    W  <- W + mean over patches of dW

``tau -> 0`` is hard winner-take-all (only the neuron with the largest ``u`` moves); ``tau -> inf`` gives
every neuron the responsibility ``1 / K``. The Oja term ``- u_k W_k`` keeps ``||W_k||`` near 1.

:func:`soft_hebbian_delta` is the vectorised form (two matrix products), :func:`soft_hebbian_delta_reference`
the paper-literal loop over patches and neurons; the tests check that they agree.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit_neuro_hebbian.config import SoftHebbianConfig

__all__ = [
    "SoftHebbianConv",
    "hebbian_patches",
    "layer_weight",
    "layer_weight_matrix",
    "plastic",
    "soft_hebbian_delta",
    "soft_hebbian_delta_reference",
    "soft_hebbian_update_",
]

EPS = 1e-12


def soft_hebbian_delta(weight: Tensor, patches: Tensor, *, tau: float, norm_mode: str = "oja") -> Tensor:
    """The mean soft Hebbian step (eqs. 1-3 without ``eta``): ``weight`` ``(K, D)``, ``patches`` ``(N, D)``;
    returns ``(K, D)``, ``mean_n y_nk (x_n - u_nk W_k)`` (``norm_mode='oja'``) or ``mean_n y_nk x_n`` (``'none'``)."""
    n = max(patches.shape[0], 1)
    u = patches @ weight.T                                 # (N, K), eq. 1
    y = torch.softmax(u / tau, dim=1)                      # (N, K), eq. 2
    step = y.T @ patches                                   # (K, D): sum_n y_nk x_n
    if norm_mode == "oja":
        step = step - (y * u).sum(0)[:, None] * weight     # - sum_n y_nk u_nk W_k, eq. 3
    elif norm_mode != "none":
        raise ValueError(f"unknown norm_mode {norm_mode!r}; choose 'oja' or 'none'")
    return step / n


def soft_hebbian_delta_reference(weight: Tensor, patches: Tensor, *, tau: float, norm_mode: str = "oja") -> Tensor:
    """Paper-literal eqs. 1-3: a Python loop over patches ``n`` and neurons ``k`` (slow; for the tests)."""
    k_count = weight.shape[0]
    total = torch.zeros_like(weight)
    for x in patches:
        u = torch.stack([weight[k] @ x for k in range(k_count)])
        y = torch.softmax(u / tau, dim=0)
        for k in range(k_count):
            total[k] += y[k] * (x - u[k] * weight[k]) if norm_mode == "oja" else y[k] * x
    return total / max(patches.shape[0], 1)


def _conv_padding(conv: nn.Conv2d) -> tuple[int, int]:
    pad = conv.padding
    if isinstance(pad, str):
        if pad == "valid":
            return (0, 0)
        if any(s != 1 for s in conv.stride) or any(k % 2 == 0 for k in conv.kernel_size):
            raise ValueError("padding='same' is supported for stride 1 and odd kernels only")
        return tuple(d * (k // 2) for d, k in zip(conv.dilation, conv.kernel_size, strict=True))  # type: ignore[return-value]
    return (int(pad[0]), int(pad[1]))


def hebbian_patches(layer: nn.Module, x: Tensor, *, subsample: int = 0,
                    generator: torch.Generator | None = None) -> Tensor:
    """The patches the layer sees in ``x``, ``(N, D)``: for a ``Conv2d`` (input ``(B, C, H, W)``) the im2col
    columns at every output location (``N = B * L``, ``D = C k_h k_w``, the order of ``weight.reshape(K, -1)``),
    for a ``Linear`` (input ``(..., D)``) every input vector. ``subsample > 0`` keeps that many patches per
    image (per leading index), drawn without replacement from ``generator``."""
    if isinstance(layer, nn.Conv2d):
        if layer.groups != 1 or layer.padding_mode != "zeros":
            raise ValueError("the soft Hebbian rule supports ungrouped convolutions with zero padding")
        cols = F.unfold(x, layer.kernel_size, dilation=layer.dilation, padding=_conv_padding(layer),
                        stride=layer.stride)                       # (B, D, L)
        cols = cols.transpose(1, 2)                                # (B, L, D)
    elif isinstance(layer, nn.Linear):
        cols = x.reshape(x.shape[0], -1, x.shape[-1]) if x.dim() > 1 else x.reshape(1, 1, -1)
    else:
        raise TypeError(f"the soft Hebbian rule applies to Conv2d and Linear layers, not {type(layer).__name__}")
    if subsample and subsample < cols.shape[1]:
        keys = torch.rand(cols.shape[0], cols.shape[1], generator=generator, device="cpu").to(cols.device)
        keep = keys.argsort(dim=1)[:, :subsample]                 # (B, subsample)
        cols = cols.gather(1, keep[..., None].expand(-1, -1, cols.shape[2]))
    return cols.reshape(-1, cols.shape[-1])


def layer_weight(layer: nn.Module) -> Tensor:
    """``layer.weight`` (a ``Conv2d``'s ``(K, C, k_h, k_w)``, a ``Linear``'s ``(K, D)``)."""
    return cast(Tensor, layer.weight)


def layer_weight_matrix(layer: nn.Module) -> Tensor:
    """The layer's weights as the ``(K, D)`` matrix of eq. 1 (a view of ``layer.weight``)."""
    weight = layer_weight(layer)
    return weight.reshape(weight.shape[0], -1)


def soft_hebbian_update_(layer: nn.Module, x: Tensor, config: SoftHebbianConfig | None = None,
                         generator: torch.Generator | None = None) -> dict[str, float]:
    """One soft Hebbian step on ``layer`` (a ``Conv2d`` or ``Linear``) from its input ``x``, in place and
    without autograd (eqs. 1-3). Returns ``{"hebbian_step": ||dW|| / ||W||}``.

    With ``keep_scale`` the rule runs on the unit directions ``V_k = W_k / ||W_k||`` and the new directions
    are rescaled to the old norms; with ``update_bias`` the bias is the weight of an extra constant input 1.
    """
    cfg = config or SoftHebbianConfig()
    with torch.no_grad():
        patches = hebbian_patches(layer, x.detach(), subsample=cfg.patch_subsample, generator=generator)
        weight = layer_weight_matrix(layer)
        param = layer_weight(layer)
        bias = cast(Tensor | None, getattr(layer, "bias", None))
        use_bias = cfg.update_bias and bias is not None
        if use_bias:
            assert bias is not None
            patches = torch.cat([patches, patches.new_ones(patches.shape[0], 1)], dim=1)
            weight = torch.cat([weight, bias[:, None]], dim=1)
        w = weight.to(patches.dtype)
        norms = w.norm(dim=1, keepdim=True).clamp_min(EPS)
        direction = w / norms if cfg.keep_scale else w
        new = direction + cfg.eta * soft_hebbian_delta(direction, patches, tau=cfg.tau, norm_mode=cfg.norm_mode)
        if cfg.keep_scale:
            new = new / new.norm(dim=1, keepdim=True).clamp_min(EPS) * norms
        change = float((new - w).norm() / w.norm().clamp_min(EPS))
        new = new.to(param.dtype)
        if use_bias:
            assert bias is not None
            bias.copy_(new[:, -1])
            new = new[:, :-1]
        param.copy_(new.reshape(param.shape))
    return {"hebbian_step": change}


@contextmanager
def plastic(layer: nn.Module, config: SoftHebbianConfig | None = None, *,
            generator: torch.Generator | None = None, log: list[dict[str, float]] | None = None) -> Iterator[None]:
    """While open, every call of ``layer`` first updates it by :func:`soft_hebbian_update_` from the input
    it receives, then computes its output with the updated weights (Hebbian step, then forward); the hook
    is removed on exit. ``log`` collects what each update returns."""

    def hook(module: nn.Module, args: tuple[Any, ...]) -> None:
        out = soft_hebbian_update_(module, args[0], config, generator)
        if log is not None:
            log.append(out)

    handle = layer.register_forward_pre_hook(hook)
    try:
        yield
    finally:
        handle.remove()


class SoftHebbianConv(nn.Module):
    """A ``Conv2d`` (or ``Linear``) with an in-place ``hebbian_update(x)``; ``forward`` is the wrapped layer's.

    For use outside the test-time rule (which applies :func:`soft_hebbian_update_` to the model's own
    early layer): ``layer`` ``(B, C, H, W) -> (B, K, H', W')`` (or ``(..., D) -> (..., K)``).
    """

    def __init__(self, layer: nn.Module, config: SoftHebbianConfig | None = None, **overrides: Any) -> None:
        super().__init__()
        if not isinstance(layer, nn.Conv2d | nn.Linear):
            raise TypeError(f"SoftHebbianConv wraps a Conv2d or Linear, not {type(layer).__name__}")
        self.layer = layer
        base = config or SoftHebbianConfig()
        self.config = SoftHebbianConfig.model_validate({**base.model_dump(), **overrides}) if overrides else base

    def forward(self, x: Tensor) -> Tensor:
        return self.layer(x)

    def hebbian_update(self, x: Tensor, generator: torch.Generator | None = None) -> dict[str, float]:
        """One soft Hebbian step from the layer's input ``x`` (eqs. 1-3), in place; no gradient, no label."""
        return soft_hebbian_update_(self.layer, x, self.config, generator)
