"""Pruning-at-initialisation scorers (functional): SynFlow, SNIP, GraSP, magnitude, random.

Only the ``weight`` of conv and Linear modules is scored and masked; biases and normalisation
parameters are never pruned. Every scorer works on a deep copy of the model, so the caller's weights
(their values and signs) and its BN statistics are untouched. A mask is a bool tensor of the weight's
shape; ``masks[name]`` belongs to ``model.get_submodule(name).weight``.

* SynFlow (Tanaka et al. 2020): weights replaced by ``|theta|``, BN in eval mode, float64, an all-ones
  input of one sample's shape, ``R = sum(f(1))``; score ``|theta * dR/dtheta|``; global top fraction
  ``d^(k/n)`` kept at round ``k = 1..n`` (exponential schedule), masking after each round.
* SNIP (Lee et al. 2019): one labelled batch, score ``|theta * dL/dtheta|``, one global top-d cut.
* GraSP (Wang et al. 2020): Hessian-gradient product ``Hg`` on one batch (logits / 200), keep the weights
  with the largest ``theta * Hg`` (GraSP removes those whose removal would most reduce gradient flow).
* magnitude ``|theta|``; random: i.i.d. uniform scores from a seeded generator.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit.data import example_batch, forward_batch

PRUNABLE = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
METHODS = ("synflow", "snip", "grasp", "magnitude", "random")


def prunable_layers(model: nn.Module, names: Sequence[str] | None = None) -> dict[str, nn.Module]:
    """The modules whose ``weight`` is scored: ``names`` if given, else every conv / Linear, by path."""
    if names is not None:
        return {n: model.get_submodule(n) for n in names}
    return {n: m for n, m in model.named_modules() if isinstance(m, PRUNABLE)}


def _weight(module: nn.Module) -> Tensor:
    """The (unparametrized) weight tensor of ``module``."""
    p = getattr(module, "parametrizations", None)
    if p is not None and "weight" in p:
        return p["weight"].original
    return module.weight


def _input_key(model: nn.Module) -> str:
    return getattr(model, "input_key", "x")


def _forward(model: nn.Module, batch: Mapping[str, Tensor]) -> Tensor:
    """The model's output for ``batch`` (its first element when the model returns several)."""
    out = forward_batch(model, batch)
    return out[0] if isinstance(out, tuple | list) else out


def _loss(out: Tensor, batch: Mapping[str, Tensor]) -> Tensor:
    """Cross-entropy for integer class targets, mean squared error otherwise."""
    y = batch.get("y")
    if y is None:
        return out.float().pow(2).mean()
    if not y.is_floating_point() and out.dim() == y.dim() + 1:
        return F.cross_entropy(out, y)
    return F.mse_loss(out, y.to(out.dtype).reshape(out.shape))


def one_batch(model: nn.Module, data: Iterable[Mapping[str, Tensor]] | None, size: int) -> dict[str, Tensor]:
    """Up to ``size`` samples concatenated from ``data``; without data, ``model.example_batch(size)``."""
    return example_batch(data, model, batch_size=size)


def _top_k_masks(scores: Mapping[str, Tensor], keep: int) -> dict[str, Tensor]:
    """Global cut: the ``keep`` highest scores over all layers become True (exactly ``keep`` of them)."""
    flat = torch.cat([s.reshape(-1) for s in scores.values()])
    keep = max(0, min(keep, flat.numel()))
    chosen = torch.zeros(flat.numel(), dtype=torch.bool)
    if keep:
        chosen[torch.topk(flat, keep, sorted=False).indices] = True
    out, start = {}, 0
    for name, s in scores.items():
        out[name] = chosen[start:start + s.numel()].reshape(s.shape)
        start += s.numel()
    return out


def synflow_scores(model: nn.Module, masks: Mapping[str, Tensor] | None = None, *,
                   input_shape: Sequence[int], names: Sequence[str] | None = None) -> dict[str, Tensor]:
    """SynFlow saliency ``|theta * dR/dtheta|`` of the (masked) weights, ``R = sum f_{|theta|}(1)`` in float64.

    ``input_shape`` is one sample's shape (e.g. ``(H, W, C)``). Data-independent by construction.
    """
    net = copy.deepcopy(model).double().eval()
    layers = prunable_layers(net, names)
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
        for n, m in layers.items():
            if masks is not None:
                _weight(m).mul_(masks[n].to(torch.float64))
    for p in net.parameters():
        p.requires_grad_(True)
    x = torch.ones(1, *input_shape, dtype=torch.float64)
    net.zero_grad()
    _forward(net, {_input_key(net): x}).sum().backward()
    return {n: (_weight(m).grad * _weight(m)).abs().detach().float() for n, m in layers.items()}


def snip_scores(model: nn.Module, batch: Mapping[str, Tensor], *, names: Sequence[str] | None = None
                ) -> dict[str, Tensor]:
    """SNIP connection sensitivity ``|theta * dL/dtheta|`` on one labelled batch (train mode, a copy)."""
    net = copy.deepcopy(model).train()
    layers = prunable_layers(net, names)
    net.zero_grad()
    _loss(_forward(net, batch), batch).backward()
    return {n: (_weight(m).grad * _weight(m)).abs().detach() for n, m in layers.items()}


def grasp_scores(model: nn.Module, batch: Mapping[str, Tensor], *, names: Sequence[str] | None = None,
                 temperature: float = 200.0) -> dict[str, Tensor]:
    """GraSP keep-scores ``theta * (H g)`` (the weights GraSP keeps have the largest values)."""
    net = copy.deepcopy(model).train()
    layers = prunable_layers(net, names)
    weights = [_weight(m) for m in layers.values()]
    out = _forward(net, batch)
    loss = _loss(out / temperature, batch)
    grads = torch.autograd.grad(loss, weights)
    out = _forward(net, batch)
    loss = _loss(out / temperature, batch)
    grads2 = torch.autograd.grad(loss, weights, create_graph=True)
    z = sum((g2 * g.detach()).sum() for g, g2 in zip(grads, grads2, strict=True))
    hg = torch.autograd.grad(z, weights)
    return {n: (w * h).detach() for n, w, h in zip(layers, weights, hg, strict=True)}


def scores(model: nn.Module, method: str, *, data: Iterable[Mapping[str, Tensor]] | None = None,
           names: Sequence[str] | None = None, batch_size: int = 256, seed: int = 0) -> dict[str, Tensor]:
    """One-shot scores of ``method`` (SynFlow: one round, unmasked)."""
    layers = prunable_layers(model, names)
    if method == "magnitude":
        return {n: _weight(m).detach().abs().clone() for n, m in layers.items()}
    if method == "random":
        gen = torch.Generator().manual_seed(seed)
        return {n: torch.rand(_weight(m).shape, generator=gen) for n, m in layers.items()}
    if method == "synflow":
        return synflow_scores(model, input_shape=sample_shape(model, data), names=list(layers))
    batch = one_batch(model, data, batch_size)
    if method == "snip":
        return snip_scores(model, batch, names=list(layers))
    if method == "grasp":
        return grasp_scores(model, batch, names=list(layers))
    raise ValueError(f"unknown PAI method {method!r}; choose one of {METHODS}")


def sample_shape(model: nn.Module, data: Iterable[Mapping[str, Tensor]] | None) -> tuple[int, ...]:
    """One sample's input shape, from the data or else from ``model.example_batch(1)``."""
    return tuple(example_batch(data, model, batch_size=1)[_input_key(model)].shape[1:])


def pai_masks(model: nn.Module, method: str = "synflow", density: float = 0.1, *,
              data: Iterable[Mapping[str, Tensor]] | None = None, names: Sequence[str] | None = None,
              iterations: int = 100, batch_size: int = 256, seed: int = 0) -> dict[str, Tensor]:
    """Global masks keeping ``round(density * total)`` prunable weights (bool, one per layer).

    SynFlow prunes iteratively: at round ``k = 1..n`` it rescores the masked network and keeps the top
    ``d^(k/n)`` fraction; the others cut once.
    """
    if not 0.0 < density <= 1.0:
        raise ValueError(f"density must be in (0, 1], got {density}")
    data = list(data) if data is not None else None
    layers = prunable_layers(model, names)
    total = sum(_weight(m).numel() for m in layers.values())
    if method != "synflow":
        return _top_k_masks(scores(model, method, data=data, names=list(layers), batch_size=batch_size,
                                   seed=seed), round(density * total))
    shape = sample_shape(model, data)
    masks = {n: torch.ones(_weight(m).shape, dtype=torch.bool) for n, m in layers.items()}
    for k in range(1, iterations + 1):
        s = synflow_scores(model, masks, input_shape=shape, names=list(layers))
        masks = _top_k_masks(s, round(density ** (k / iterations) * total))
    return masks


def layer_densities(masks: Mapping[str, Tensor]) -> dict[str, float]:
    """``p_l = nnz(M_l) / numel(M_l)`` for every layer."""
    return {n: float(m.sum()) / m.numel() for n, m in masks.items()}


def global_density(masks: Mapping[str, Tensor]) -> float:
    return sum(float(m.sum()) for m in masks.values()) / max(sum(m.numel() for m in masks.values()), 1)


def layer_shuffle(masks: Mapping[str, Tensor], *, seed: int = 0) -> dict[str, Tensor]:
    """Each layer's mask randomly permuted inside the layer (same nnz per layer, new positions)."""
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for n, m in masks.items():
        flat = m.reshape(-1)
        out[n] = flat[torch.randperm(flat.numel(), generator=gen)].reshape(m.shape)
    return out


def uniform_densities(names: Iterable[str], density: float) -> dict[str, float]:
    """``p_l = d`` in every layer (what uniform width scaling follows)."""
    return dict.fromkeys(names, float(density))
