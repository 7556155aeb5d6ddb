"""The callback inside the trainer: when it counts, where it acts (after clipping), exact resume."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch
from forwardkit_gradient_noise.callback import AnnealedGradientNoise
from forwardkit_gradient_noise.model import DeepReLUMLP
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from forwardkit.config import ComponentConfig
from forwardkit.engine.state import flatten, unflatten
from forwardkit.engine.trainer import Trainer
from forwardkit.errors import ForwardkitError
from forwardkit.interfaces.callback import Callback
from forwardkit.registry import Registry

RECORDS: list[dict[str, Any]] = []


class ProbeConfig(ComponentConfig):
    pass


class Probe(Callback):
    """Records, after every other callback (priority 1000), the global gradient norm and the gradients."""

    Config = ProbeConfig
    priority: ClassVar[int] = 1000

    def on_after_backward(self, ctx: Any) -> None:
        grads = [p.grad.detach().clone() for p in ctx.model.parameters() if p.grad is not None]
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])).item()
        RECORDS.append({"step": ctx.step, "norm": norm, "grads": grads})


@pytest.fixture
def registry() -> Registry:
    reg = Registry.discover()
    reg.register_class("callback", "gn_probe", Probe)
    RECORDS.clear()
    return reg


def _noise(trainer: Trainer) -> AnnealedGradientNoise:
    return next(cb for cb in trainer.callbacks if isinstance(cb, AnnealedGradientNoise))


def test_counter_counts_optimizer_steps_with_accumulation(experiment) -> None:
    exp = experiment(learning_rule={"accumulate": 4}, trainer={"epochs": 1})
    trainer = Trainer(exp, write=False, verbose=False)
    trainer.fit()
    cb = _noise(trainer)
    assert trainer.ctx.step == 4  # 128 training samples / 32
    assert cb.updates == trainer.rule.updates == 4  # one per optimizer step, not per micro-batch (16)
    trainer.evaluate("val")
    trainer.evaluate("test")
    assert cb.updates == 4  # evaluation (no_grad, no backward) does not count


def test_counter_is_global_not_per_epoch(experiment) -> None:
    trainer = Trainer(experiment(trainer={"epochs": 3}), write=False, verbose=False)
    trainer.fit()
    cb = _noise(trainer)
    assert cb.updates == trainer.ctx.step == 12
    assert cb.last_std == pytest.approx((0.01 / (1 + 11) ** 0.55) ** 0.5)  # t = 11 at the last step


def test_count_by_batch_uses_the_trainer_step(experiment) -> None:
    exp = experiment(callbacks=[{"name": "annealed_gradient_noise", "count_by": "batch", "t0": 5}])
    trainer = Trainer(exp, write=False, verbose=False)
    trainer.fit()
    cb = _noise(trainer)
    assert cb.step_index(trainer.ctx) == 5 + trainer.ctx.step


def test_noise_is_added_after_the_rules_clipping(experiment, registry) -> None:
    """backprop clips to c = 0.01 before the callbacks; the noised gradient is then (much) larger than c."""
    exp = experiment(learning_rule={"grad_clip_norm": 0.01},
                     callbacks=[{"name": "annealed_gradient_noise", "eta": 0.01}, "gn_probe"])
    Trainer(exp, write=False, verbose=False, registry=registry).fit()
    assert RECORDS and all(r["norm"] > 0.05 for r in RECORDS)


def test_without_noise_the_clip_holds(experiment, registry) -> None:
    exp = experiment(learning_rule={"grad_clip_norm": 0.01}, callbacks=["gn_probe"])
    Trainer(exp, write=False, verbose=False, registry=registry).fit()
    assert RECORDS and all(r["norm"] <= 0.01 * (1 + 1e-5) for r in RECORDS)


def test_before_clip_order_clips_the_noisy_gradient(experiment, registry) -> None:
    exp = experiment(callbacks=[{"name": "annealed_gradient_noise", "eta": 1.0, "order": "before_clip",
                                 "clip_norm": 0.01}, "gn_probe"])
    Trainer(exp, write=False, verbose=False, registry=registry).fit()
    assert RECORDS and all(r["norm"] <= 0.01 * (1 + 1e-5) for r in RECORDS)


def test_own_clip_then_noise_in_after_clip_order(experiment, registry) -> None:
    exp = experiment(callbacks=[{"name": "annealed_gradient_noise", "eta": 0.01, "clip_norm": 0.01}, "gn_probe"])
    Trainer(exp, write=False, verbose=False, registry=registry).fit()
    assert RECORDS and all(r["norm"] > 0.05 for r in RECORDS)


def test_before_clip_refuses_the_rules_clipping(experiment) -> None:
    exp = experiment(learning_rule={"grad_clip_norm": 1.0},
                     callbacks=[{"name": "annealed_gradient_noise", "order": "before_clip", "clip_norm": 1.0}])
    with pytest.raises(ForwardkitError, match="before_clip"):
        Trainer(exp, write=False, verbose=False).fit()


def test_a_stopped_step_gets_no_noise() -> None:
    model = torch.nn.Linear(3, 2)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    cb = AnnealedGradientNoise(eta=1.0, seed=0)

    class Ctx:
        should_stop = True
        step = 0
        extra: dict[str, Any] = {}

    Ctx.model = model  # type: ignore[attr-defined]
    cb.on_after_backward(Ctx())  # type: ignore[arg-type]
    assert cb.updates == 0 and all(torch.equal(p.grad, torch.zeros_like(p)) for p in model.parameters())


def test_noise_does_not_touch_the_global_rng() -> None:
    model = torch.nn.Linear(30, 20)
    torch.manual_seed(5)
    cb = AnnealedGradientNoise(eta=1.0)
    state = torch.get_rng_state()
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    cb.apply(model, 0)
    assert torch.equal(torch.get_rng_state(), state)


def _round_trip(state: dict[str, Any]) -> dict[str, Any]:
    """Through a checkpoint's own formats: JSON plus safetensors (no pickle)."""
    tensors: dict[str, torch.Tensor] = {}
    data = json.loads(json.dumps(flatten(state, tensors)))
    return unflatten(data, st_load(st_save(tensors)))


def test_state_resumes_the_identical_noise_sequence() -> None:
    """Steps 0..9 uninterrupted == steps 0..4, state saved/loaded into a new instance, steps 5..9."""
    model = torch.nn.Sequential(torch.nn.Linear(20, 30), torch.nn.Linear(30, 5))

    def run(cb: AnnealedGradientNoise, steps: range) -> list[list[torch.Tensor]]:
        out = []
        for _ in steps:
            for p in model.parameters():
                p.grad = torch.zeros_like(p)
            cb.apply(model, cb.config.t0 + cb.updates)
            cb.updates += 1
            out.append([p.grad.clone() for p in model.parameters()])  # type: ignore[union-attr]
        return out

    torch.manual_seed(7)
    full = run(AnnealedGradientNoise(eta=0.3), range(10))
    torch.manual_seed(7)
    first = AnnealedGradientNoise(eta=0.3)
    head = run(first, range(5))
    torch.manual_seed(123)  # a different run seed: everything must come from the state
    second = AnnealedGradientNoise(eta=0.3)
    second.load_state_dict(_round_trip(first.state_dict()))
    tail = run(second, range(5, 10))
    for a, b in zip(full, head + tail, strict=True):
        assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


class _Stop(Exception):
    pass


def test_trainer_resume_is_bit_identical_with_zero_init(experiment, registry, tmp_path: Path) -> None:
    """Zero init: the hidden weights move only through the noise, so equal weights after a resume mean
    an identical noise sequence. Interrupted right after the checkpoint at step 3, resumed by a new trainer."""
    exp = experiment(model={"init": "zero"}, learning_rule={"grad_clip_norm": 10.0},
                     callbacks=[{"name": "annealed_gradient_noise", "eta": 0.3}, "gn_probe"],
                     trainer={"checkpoint_every_steps": 1, "epochs": 2})
    full = Trainer(exp, run_dir=tmp_path / "full", verbose=False, registry=registry)
    full.fit()
    full_records = list(RECORDS)

    class Interrupted(Trainer):
        def save_checkpoint(self, epoch: int, batch_in_epoch: int) -> Path | None:
            path = super().save_checkpoint(epoch, batch_in_epoch)
            if self.ctx.step == 3:
                raise _Stop
            return path

    RECORDS.clear()
    with pytest.raises(_Stop):
        Interrupted(exp, run_dir=tmp_path / "cut", verbose=False, registry=registry).fit()
    RECORDS.clear()
    resumed = Trainer(exp, run_dir=tmp_path / "cut", resume=True, verbose=False, registry=registry)
    resumed.fit()
    assert [r["step"] for r in RECORDS] == list(range(3, full.ctx.step))
    for a, b in zip(full_records[3:], RECORDS, strict=True):  # the noised gradients, step by step
        assert all(torch.equal(x, y) for x, y in zip(a["grads"], b["grads"], strict=True))
    sa, sb = full.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert any(bool((layer.weight != 0).any()) for layer in resumed.model.hidden)  # noise did move them
    ga, gb = _noise(full).state_dict(), _noise(resumed).state_dict()
    assert ga["updates"] == gb["updates"] and torch.equal(ga["generator"], gb["generator"])


def test_zero_init_without_noise_has_exactly_zero_hidden_gradients() -> None:
    torch.manual_seed(0)
    model = DeepReLUMLP(depth=5, width=16, in_features=12, num_classes=4, init="zero")
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(2):  # one step, then the gradients of the next
        opt.zero_grad()
        batch = model.example_batch(32)
        torch.nn.functional.cross_entropy(model(batch["x"]), batch["y"]).backward()
        for layer in model.hidden:
            assert torch.equal(layer.weight.grad, torch.zeros_like(layer.weight))  # type: ignore[arg-type]
            assert torch.equal(layer.bias.grad, torch.zeros_like(layer.bias))  # type: ignore[arg-type]
        assert torch.equal(model.out.weight.grad, torch.zeros_like(model.out.weight))  # type: ignore[arg-type]
        assert model.out.bias.grad is not None and bool((model.out.bias.grad != 0).any())  # only this learns
        opt.step()
