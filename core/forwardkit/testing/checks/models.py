"""Checks of models, run on each config's own ``example_batch()`` through ``forward_batch``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.interfaces.model import forward_batch
from forwardkit.testing.checks.common import SkipCheck, Subject, conformance_check, fail
from forwardkit.testing.checks.helpers import (
    UNCHANGED,
    close,
    describe_config,
    example_batch,
    max_diff,
    non_finite,
    seeded,
    tensors,
    weights_like,
)
from forwardkit.testing.checks.modules import (
    GradientLedger,
    Probe,
    enforce_nonzero_gradients,
    missing_gradients,
    prop_config_round_trip,
    prop_determinism,
    prop_state_dict,
)

__all__ = ["build_model", "check_forward_batch"]

#: the seeds of the example batches ``check_gradients`` backpropagates (per config)
GRADIENT_BATCH_SEEDS = (0, 1)


def _model_probe(subject: Subject, config: Mapping[str, Any], batch_size: int = 3) -> Probe:
    return Probe(
        subject=subject,
        config=config,
        make_input=lambda m, s: example_batch(m, batch_size, s),
        forward=forward_batch,
        where=describe_config(config),
    )


def build_model(subject: Subject, config: Mapping[str, Any], seed: int = 0) -> nn.Module:
    """The model from ``config`` under ``seed``; a model that does not build fails the check."""
    try:
        return seeded(seed, lambda: subject.build(config))
    except Exception as exc:
        raise AssertionError(
            f"cannot build {subject.label} from {describe_config(config)}: {type(exc).__name__}: {exc}"
        ) from exc


def _forward_batch_runs(model: nn.Module, batch: Mapping[str, Tensor], config: Mapping[str, Any]) -> Any:
    with torch.no_grad():
        try:
            return forward_batch(model, batch)
        except Exception as exc:
            shapes = {k: tuple(v.shape) for k, v in batch.items()}
            fail(
                f"forward_batch(example_batch()) raised {type(exc).__name__}: {exc} "
                f"(batch {shapes}, {describe_config(config)})"
            )


@conformance_check("model")
def check_forward_batch(subject: Subject, *, configs: Any = None) -> int:
    """``example_batch()`` returns a dict of tensors that ``forward_batch`` accepts in train and eval
    mode, giving at least one floating-point tensor."""
    checked = 0
    for config in subject.configs(configs):
        model = build_model(subject, config)
        batch = example_batch(model, 2, 0)
        for training in (True, False):
            model.train(training)
            out = _forward_batch_runs(model, batch, config)
            if not any(t.is_floating_point() for t in tensors(out)):
                fail(f"forward_batch returned no floating-point tensor (got {type(out).__name__})")
            checked += 1
    return checked


@conformance_check("model", name="check_finite")
def _finite_model(subject: Subject, *, configs: Any = None) -> int:
    """``forward_batch(example_batch())`` is finite in train and eval mode."""
    checked = 0
    for config in subject.configs(configs):
        model = build_model(subject, config)
        batch = example_batch(model, 3, 0)
        for training in (True, False):
            model.train(training)
            with torch.no_grad():
                out = forward_batch(model, batch)
            if non_finite(out):
                fail(f"non-finite output ({'train' if training else 'eval'} mode, {describe_config(config)})")
            checked += 1
    return checked


def _backward_projection(model: nn.Module, batch: Mapping[str, Tensor], seed: int) -> None:
    outs = [t for t in tensors(forward_batch(model, batch)) if t.is_floating_point() and t.requires_grad]
    if not outs:
        fail("no output tensor requires grad: gradients cannot reach the parameters")
    loss = torch.stack([(t * weights_like(t, seed + i)).sum() for i, t in enumerate(outs)]).sum()
    loss.backward()


@conformance_check("model", name="check_gradients")
def _gradients_model(subject: Subject, *, configs: Any = None) -> int:
    """In train mode, the gradient of a random projection of ``forward_batch(example_batch())``
    reaches every trainable parameter and is finite, and every trainable parameter gets a non-zero
    gradient on some batch (``gradient_exempt`` declares exceptions)."""
    ledger, exempt = GradientLedger(), subject.gradient_exempt
    for config in subject.configs(configs):
        model = build_model(subject, config)
        model.train()
        for batch_seed in GRADIENT_BATCH_SEEDS:
            model.zero_grad(set_to_none=True)
            _backward_projection(model, example_batch(model, 3, batch_seed), 11 + batch_seed)
            missing, nonfinite = missing_gradients(model, exempt)
            if missing:
                fail(f"no gradient reached trainable parameter(s) {missing} ({describe_config(config)})")
            if nonfinite:
                fail(f"non-finite gradients in parameter(s) {nonfinite} ({describe_config(config)})")
            ledger.record(model)
    enforce_nonzero_gradients(ledger, exempt, f"example batches of seeds {list(GRADIENT_BATCH_SEEDS)} per config")
    return ledger.cases


def _swap_sample(batch: Mapping[str, Tensor], other: Mapping[str, Tensor], j: int) -> dict[str, Tensor]:
    changed = {k: v.clone() for k, v in batch.items()}
    for k in changed:
        changed[k][j] = other[k][j]
    return changed


@conformance_check("model", name="check_batch_independence")
def _batch_independence_model(subject: Subject, *, configs: Any = None) -> int:
    """In eval mode, replacing sample j of ``example_batch(3)`` (in every batch tensor) does not change
    the output rows of the other samples."""
    size, j, compared = 3, 1, 0
    for config in subject.configs(configs):
        model = build_model(subject, config)
        model.eval()
        batch = example_batch(model, size, 0)
        not_major = [k for k, v in batch.items() if v.dim() == 0 or v.shape[0] != size]
        if not_major:
            raise SkipCheck(
                f"example_batch({size}) is not batch-major (entries {not_major}): samples cannot be swapped"
            )
        changed = _swap_sample(batch, example_batch(model, size, 1), j)
        with torch.no_grad():
            out, out2 = tensors(forward_batch(model, batch)), tensors(forward_batch(model, changed))
        rows = [(a, b) for a, b in zip(out, out2, strict=True) if a.dim() > 0 and a.shape[0] == size]
        if not rows:
            raise SkipCheck("no output tensor has the batch as its first dimension")
        for a, b in rows:
            for i in range(size):
                if i != j and not close(a[i], b[i], UNCHANGED):
                    fail(
                        f"eval output of sample {i} changed (max abs diff {max_diff(a[i], b[i]):.3g}) when only "
                        f"sample {j} of the batch changed ({describe_config(config)})"
                    )
            compared += 1
    return compared


@conformance_check("model", name="check_state_dict_round_trip")
def _state_dict_model(subject: Subject, *, configs: Any = None) -> int:
    """A new instance (other seed) that loads ``state_dict()`` of a trained-mode instance gives the
    identical eval output on ``example_batch()``."""
    chosen = subject.configs(configs)
    for config in chosen:
        prop_state_dict(_model_probe(subject, config), 0)
    return len(chosen)


@conformance_check("model", name="check_config_round_trip")
def _config_model(subject: Subject, *, configs: Any = None) -> int:
    """``Config.model_validate(config.model_dump(mode="json"))`` equals the config and builds (same
    seed) a model with identical state and output."""
    chosen = subject.configs(configs)
    for config in chosen:
        prop_config_round_trip(_model_probe(subject, config), 0)
    return len(chosen)


@conformance_check("model", name="check_determinism")
def _determinism_model(subject: Subject, *, configs: Any = None) -> int:
    """Two models built and run (train mode) under the same ``torch.manual_seed`` have identical state
    and outputs."""
    chosen = subject.configs(configs)
    for config in chosen:
        prop_determinism(_model_probe(subject, config), 0)
    return len(chosen)
