"""forwardkit.interfaces.finish_step: the end of a one-optimizer rule's step, in the order the docs state."""

from __future__ import annotations

import torch
from torch import nn

from forwardkit.interfaces import RunContext, finish_step


def _setup(seen: list[str]) -> tuple[nn.Linear, torch.optim.SGD, RunContext]:
    torch.manual_seed(0)
    net = nn.Linear(3, 2)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    ctx = RunContext(model=net, after_backward=lambda: seen.append("after_backward"))
    net(torch.randn(4, 3)).pow(2).sum().mul(100).backward()
    return net, opt, ctx


def test_it_clips_before_the_callbacks_and_records_the_unclipped_norm():
    seen: list[str] = []
    net, opt, ctx = _setup(seen)
    norm = float(torch.cat([p.grad.flatten() for p in net.parameters()]).norm())
    metrics: dict[str, float] = {"loss": 1.0}
    grads_at_callback: list[float] = []
    ctx.after_backward = lambda: grads_at_callback.append(
        float(torch.cat([p.grad.flatten() for p in net.parameters()]).norm()))
    assert finish_step(opt, ctx, metrics, clip_norm=0.5, lr=0.01)
    assert abs(metrics["grad_norm"] - norm) < 1e-4 * norm and norm > 0.5
    assert abs(grads_at_callback[0] - 0.5) < 1e-5  # the callbacks see the clipped gradients
    assert ctx.last_metrics is metrics
    assert all(g["lr"] == 0.01 for g in opt.param_groups)


def test_a_stop_asked_in_the_callbacks_skips_the_update():
    seen: list[str] = []
    net, opt, ctx = _setup(seen)
    before = [p.detach().clone() for p in net.parameters()]
    ctx.after_backward = lambda: ctx.request_stop("test")
    assert finish_step(opt, ctx, {"loss": 1.0}, lr=5.0) is False
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))
    assert all(g["lr"] == 0.1 for g in opt.param_groups)  # the rate is not touched either


def test_without_clip_or_lr_it_steps_with_the_optimizers_own_rate():
    seen: list[str] = []
    net, opt, ctx = _setup(seen)
    w = net.weight.detach().clone()
    g = net.weight.grad.detach().clone()
    metrics: dict[str, float] = {"loss": 1.0}
    assert finish_step(opt, ctx, metrics)
    assert seen == ["after_backward"] and "grad_norm" not in metrics
    assert torch.allclose(net.weight.detach(), w - 0.1 * g)
