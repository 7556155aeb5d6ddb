"""The natural expansion score (paper Sec. 3.1, after SENN, Mitchell et al. 2023) and its analyzer.

``eta = g^T F^-1 g``: how fast the loss could fall under natural-gradient descent, with ``g`` the mean
gradient of the loss over a data subset and ``F`` the empirical Fisher, approximated by its diagonal::

    diag_per_sample:  g = (1/N) sum_i grad L_i,   F_jj = (1/N) sum_i (grad L_i)_j^2,   eta = sum_j g_j^2 / (F_jj + eps)
    diag_per_batch:   F_jj = sum_b (g_b)_j^2 over mini-batch gradients g_b,   eta = sum_b sum_j (g_b)_j^2 / (F_jj + eps)

(the second is the third-party DynamicCNN code's reading), optionally divided by the parameter count, and
regularised by the parameters ``dp`` a candidate adds: ``eta_reg = eta * exp(-lambda_n * dp^2)``.

The model is scored in eval mode (BatchNorm with its running statistics, no dropout), so the score is a
property of the network function and draws no random numbers. Per-sample gradients come from
``torch.func`` (``vmap`` of ``grad`` through ``functional_call``), in chunks;
:func:`per_sample_gradients_loop` is the paper-literal reference (one backward per sample) that the tests
compare it with.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Mapping
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit.interfaces import Analyzer
from forwardkit.interfaces.analyzer import Analysis
from forwardkit_self_expanding_cnn.config import NaturalExpansionScoreConfig

LossFn = Callable[[Any, Mapping[str, Tensor]], Tensor]

#: a small expandable model for the conformance kit's runs of the analyzer and the callback
SMALL_MODEL = {"name": "expandable_cnn", "channels": [1, 2, 2], "input_size": [8, 8], "num_classes": 4,
               "head_channels": 2, "fc_hidden": 6}


def default_loss(output: Tensor, batch: Mapping[str, Tensor]) -> Tensor:
    """Cross-entropy for integer targets ``y`` (the paper's), mean squared error for float ones."""
    y = batch["y"]
    if y.is_floating_point():
        return F.mse_loss(output.reshape(y.shape), y)
    return F.cross_entropy(output, y)


@contextmanager
def eval_mode(model: nn.Module) -> Any:
    """``model`` in eval mode inside the block, its modes restored after."""
    modes = {name: m.training for name, m in model.named_modules()}
    model.eval()
    try:
        yield model
    finally:
        for name, m in model.named_modules():
            m.training = modes[name]


def concat_batches(batches: Iterable[Mapping[str, Tensor]], limit: int | None = None) -> dict[str, Tensor]:
    """The batch-major tensors of ``batches`` concatenated (keys every batch has), cut at ``limit`` samples."""
    batches = [dict(b) for b in batches]
    if not batches:
        raise ValueError("no data to compute the expansion score on")
    sizes = [len(next(iter(b.values()))) for b in batches]
    keys = [k for k in batches[0] if all(k in b and b[k].dim() > 0 and len(b[k]) == n
                                         for b, n in zip(batches, sizes, strict=True))]
    out = {k: torch.cat([b[k] for b in batches]) for k in keys}
    return {k: v[:limit] for k, v in out.items()} if limit is not None else out


def _chunks(batch: Mapping[str, Tensor], size: int) -> list[dict[str, Tensor]]:
    n = len(next(iter(batch.values())))
    return [{k: v[i:i + size] for k, v in batch.items()} for i in range(0, n, size)]


def _trainable(model: nn.Module) -> dict[str, Tensor]:
    return {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}


def per_sample_gradients(model: nn.Module, batch: Mapping[str, Tensor], loss_fn: LossFn = default_loss
                         ) -> dict[str, Tensor]:
    """``{name: (N, *param.shape)}``: the gradient of ``loss_fn`` on each sample of ``batch`` (``N`` samples),
    for every trainable parameter, with ``torch.func.vmap`` (the model as it is: call it in eval mode)."""
    from torch.func import functional_call, grad, vmap

    params = _trainable(model)
    buffers = {n: b.detach() for n, b in model.named_buffers()}
    key = getattr(model, "input_key", "x")

    def one(p: dict[str, Tensor], sample: dict[str, Tensor]) -> Tensor:
        single = {k: v.unsqueeze(0) for k, v in sample.items()}
        return loss_fn(functional_call(model, (p, buffers), (single[key],)), single)

    return dict(vmap(grad(one), in_dims=(None, 0))(params, dict(batch)))


def per_sample_gradients_loop(model: nn.Module, batch: Mapping[str, Tensor], loss_fn: LossFn = default_loss
                              ) -> dict[str, Tensor]:
    """The reference of :func:`per_sample_gradients`: one forward and backward per sample."""
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    key = getattr(model, "input_key", "x")
    n = len(next(iter(batch.values())))
    rows: dict[str, list[Tensor]] = {k: [] for k in params}
    for i in range(n):
        single = {k: v[i:i + 1] for k, v in batch.items()}
        grads = torch.autograd.grad(loss_fn(model(single[key]), single), list(params.values()), allow_unused=True)
        for (name, p), g in zip(params.items(), grads, strict=True):
            rows[name].append(torch.zeros_like(p) if g is None else g.detach())
    return {k: torch.stack(v) for k, v in rows.items()}


def _flat(grads: Mapping[str, Tensor], n: int) -> Tensor:
    return torch.cat([g.reshape(n, -1) for g in grads.values()], dim=1)


def fisher_terms(model: nn.Module, batch: Mapping[str, Tensor], *, loss_fn: LossFn = default_loss, chunk: int = 128,
                 per_sample: str = "vmap") -> tuple[Tensor, Tensor]:
    """``(g, F)``, flat over the trainable parameters: the mean per-sample gradient and the diagonal empirical
    Fisher ``(1/N) sum_i (grad L_i)^2`` of ``batch`` (``per_sample``: ``"vmap"`` or the ``"loop"`` reference)."""
    fn = per_sample_gradients if per_sample == "vmap" else per_sample_gradients_loop
    total, squares, n = None, None, 0
    for part in _chunks(batch, chunk):
        m = len(next(iter(part.values())))
        rows = _flat(fn(model, part, loss_fn), m)
        s1, s2 = rows.sum(0), rows.pow(2).sum(0)
        total, squares = (s1, s2) if total is None else (total + s1, squares + s2)  # type: ignore[operator]
        n += m
    assert total is not None and squares is not None
    return total / n, squares / n


def batch_gradients(model: nn.Module, batch: Mapping[str, Tensor], *, loss_fn: LossFn = default_loss,
                    chunk: int = 128) -> Tensor:
    """``(n_batches, P)``: the mean-loss gradient of each mini-batch of ``chunk`` samples, flat."""
    params = [p for p in model.parameters() if p.requires_grad]
    key = getattr(model, "input_key", "x")
    rows = []
    for part in _chunks(batch, chunk):
        grads = torch.autograd.grad(loss_fn(model(part[key]), part), params, allow_unused=True)
        rows.append(torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1)
                               for p, g in zip(params, grads, strict=True)]))
    return torch.stack(rows)


def natural_expansion_score(model: nn.Module, data: Mapping[str, Tensor] | Iterable[Mapping[str, Tensor]], *,
                            loss_fn: LossFn | None = None, fisher: str = "diag_per_sample", eps: float = 1e-5,
                            normalize_by_params: bool = False, chunk: int = 128, per_sample: str = "vmap",
                            limit: int | None = None) -> float:
    """``eta = g^T diag(F)^-1 g`` of ``model`` on ``data`` (a batch dict or batches; see the module doc), in
    eval mode; divided by the trainable parameter count with ``normalize_by_params``. Always >= 0."""
    batch = dict(data) if isinstance(data, Mapping) else concat_batches(data, limit)
    if limit is not None and isinstance(data, Mapping):
        batch = {k: v[:limit] for k, v in batch.items()}
    loss_fn = loss_fn or default_loss
    with eval_mode(model):
        if fisher == "diag_per_sample":
            g, fdiag = fisher_terms(model, batch, loss_fn=loss_fn, chunk=chunk, per_sample=per_sample)
            eta = float((g.pow(2) / (fdiag + eps)).sum())
        elif fisher == "diag_per_batch":
            rows = batch_gradients(model, batch, loss_fn=loss_fn, chunk=chunk)
            fdiag = rows.pow(2).sum(0)
            eta = float((rows.pow(2) / (fdiag + eps)).sum())
        else:
            raise ValueError(f"fisher must be 'diag_per_sample' or 'diag_per_batch', got {fisher!r}")
    if normalize_by_params:
        eta /= max(1, sum(p.numel() for p in model.parameters() if p.requires_grad))
    return eta


def regularized_score(eta: float, added_params: int, lambda_n: float) -> float:
    """``eta_reg = eta * exp(-lambda_n * dp^2)`` for a candidate that adds ``dp`` parameters (Sec. 3.1)."""
    return eta * math.exp(-lambda_n * float(added_params) ** 2)


def is_expandable(model: nn.Module) -> bool:
    """True for a model with the growth interface of :class:`~forwardkit_self_expanding_cnn.model.ExpandableCNN`."""
    return all(callable(getattr(model, name, None)) for name in
               ("add_identity_layer", "widen_block", "can_add_layer", "can_widen", "num_params")) \
        and hasattr(model, "num_blocks")


def candidate_expansions(model: nn.Module, *, channel_step: int, allow: Iterable[str] = ("layer", "channels")
                         ) -> list[tuple[str, int, int]]:
    """``(kind, block, channels)`` of every expansion the model's capacity allows: an identity layer in block
    ``b`` (``("layer", b, 0)``), ``channel_step`` more channels in block ``b`` (``("channels", b, C)``)."""
    allow = set(allow)
    out: list[tuple[str, int, int]] = []
    for b in range(int(model.num_blocks)):  # type: ignore[arg-type]
        if "layer" in allow and model.can_add_layer(b):  # type: ignore[operator]
            out.append(("layer", b, 0))
    for b in range(int(model.num_blocks)):  # type: ignore[arg-type]
        if "channels" in allow and model.can_widen(b, channel_step):  # type: ignore[operator]
            out.append(("channels", b, channel_step))
    return out


def expanded_copy(model: nn.Module, candidate: tuple[str, int, int], generator: torch.Generator | None) -> nn.Module:
    """A deep copy of ``model`` with ``candidate`` applied (the live model is not touched)."""
    twin = copy.deepcopy(model)
    apply_expansion(twin, candidate, generator)
    return twin


def apply_expansion(model: nn.Module, candidate: tuple[str, int, int], generator: torch.Generator | None) -> None:
    kind, block, channels = candidate
    if kind == "layer":
        model.add_identity_layer(block, generator=generator)  # type: ignore[operator]
    else:
        model.widen_block(block, channels, generator=generator)  # type: ignore[operator]


class NaturalExpansionScore(Analyzer):
    """Scores a model (eta, Sec. 3.1) on up to ``subset_size`` samples of the data; for an expandable model
    also every candidate expansion (eta_reg and its ratio to the current eta: grow when above tau)."""

    Config = NaturalExpansionScoreConfig
    config: NaturalExpansionScoreConfig
    conformance_models = ("toy", SMALL_MODEL)

    def analyze(self, model: nn.Module, data: Iterable[Any] | None = None) -> Analysis:
        cfg = self.config
        batch = concat_batches([b for b in (data or []) if isinstance(b, Mapping) and "y" in b], cfg.subset_size)
        kw: dict[str, Any] = {"fisher": cfg.fisher, "eps": cfg.eps, "normalize_by_params": cfg.normalize_by_params,
                              "chunk": cfg.score_batch_size}
        eta = natural_expansion_score(model, batch, **kw)
        numbers = {"eta": eta, "samples": float(len(batch["y"])),
                   "parameters": float(sum(p.numel() for p in model.parameters()))}
        rows: list[dict[str, Any]] = []
        if cfg.candidates and is_expandable(model):
            before = int(model.num_params())  # type: ignore[operator]
            for cand in candidate_expansions(model, channel_step=cfg.channel_step):
                twin = expanded_copy(model, cand, torch.Generator().manual_seed(0))
                added = int(twin.num_params()) - before  # type: ignore[operator]
                score = regularized_score(natural_expansion_score(twin, batch, **kw), added, cfg.lambda_n)
                name = f"{cand[0]}_b{cand[1]}"
                numbers[f"eta_reg/{name}"] = score
                numbers[f"ratio/{name}"] = score / eta if eta > 0 else 0.0
                rows.append({"candidate": name, "added_params": added, "eta_reg": score,
                             "ratio": score / eta if eta > 0 else 0.0})
        return Analysis(numbers=numbers, tables={"candidates": rows} if rows else {})


__all__ = ["SMALL_MODEL", "NaturalExpansionScore", "apply_expansion", "batch_gradients", "candidate_expansions",
           "concat_batches", "default_loss", "eval_mode", "expanded_copy", "fisher_terms", "is_expandable",
           "natural_expansion_score", "per_sample_gradients", "per_sample_gradients_loop", "regularized_score"]
