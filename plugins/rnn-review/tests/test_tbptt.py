"""Truncated BPTT: full BPTT when k >= L; no gradient across a window boundary, the state carried (card tests)."""

from __future__ import annotations

import pytest
import torch
from forwardkit_rnn_review.model import STATE_KEY
from forwardkit_rnn_review.tbptt import truncated_bptt_backward, windows

import forwardkit
from forwardkit.errors import ForwardkitError
from forwardkit.interfaces import RunContext
from forwardkit.tasks import Regression

L = 12


def _model(task: str = "last_step_regression", mixer: str = "lstm_mixer", **kw: object) -> torch.nn.Module:
    torch.manual_seed(0)
    classes = 3 if task == "tagging" else 1
    return forwardkit.create("model", "rnn_sequence_model", dim=6, in_channels=2, num_classes=classes, task=task,
                             example_length=L, token_mixer={"name": mixer, **kw}, depth=2).double()


def _batch(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    batch = model.example_batch(4, generator=torch.Generator().manual_seed(1))
    batch["x"] = batch["x"].double()
    if batch["y"].is_floating_point():
        batch["y"] = batch["y"].double()
    return batch


def _loss(model: torch.nn.Module):
    if model.per_position:
        task = forwardkit.create("task", "sequence_tagging")
    else:
        task = Regression()
    return task.loss


def _tbptt(model, batch, k, *, leaf: bool = False):
    model.zero_grad(set_to_none=True)
    if leaf:
        batch = {**batch, "x": batch["x"].clone().requires_grad_(True)}
    loss = truncated_bptt_backward(model.forward_batch, _loss(model), batch, k=k,
                                   init_state=model.init_state(4, like=batch["x"]), per_position=model.per_position)
    return loss, {n: p.grad.clone() for n, p in model.named_parameters()}, batch["x"].grad


def _full(model, batch, *, leaf: bool = False):
    model.zero_grad(set_to_none=True)
    x = batch["x"].clone().requires_grad_(leaf)
    loss = _loss(model)(model(x), batch)
    loss.backward()
    return float(loss.detach()), {n: p.grad.clone() for n, p in model.named_parameters()}, x.grad


@pytest.mark.parametrize("task", ["last_step_regression", "tagging"])
@pytest.mark.parametrize("mixer", ["lstm_mixer", "gru_mixer", "elman_rnn_mixer"])
def test_a_window_as_long_as_the_sequence_is_full_bptt(task, mixer):
    model = _model(task, mixer)
    batch = _batch(model)
    loss_full, grads_full, _ = _full(model, batch)
    for k in (L, 50):
        loss, grads, _ = _tbptt(model, batch, k)
        assert loss == pytest.approx(loss_full, rel=1e-12)
        for name in grads_full:
            torch.testing.assert_close(grads[name], grads_full[name], rtol=0, atol=1e-12, msg=name)


def test_no_gradient_crosses_a_window_boundary_but_the_state_is_carried():
    """k = 5 on L = 12 (windows [0,5), [5,10), [10,12)): the loss (a function of the carried state) equals the
    full forward's, but only the last window's inputs get a gradient, and the parameter gradients differ."""
    model = _model("last_step_regression")
    batch = _batch(model)
    loss_full, grads_full, gx_full = _full(model, batch, leaf=True)
    loss, grads, gx = _tbptt(model, batch, 5, leaf=True)
    assert windows(L, 5) == [(0, 5), (5, 10), (10, 12)]
    assert loss == pytest.approx(loss_full, rel=1e-12)  # forward state carried across the windows
    assert torch.count_nonzero(gx[:, :10]) == 0  # truncated: nothing reaches the earlier windows
    assert gx[:, 10:].abs().amin(dim=(0, 2)).gt(0).all()
    torch.testing.assert_close(gx[:, 10:], gx_full[:, 10:], rtol=0, atol=1e-12)  # x(t) acts only forward of t
    assert gx_full[:, :10].abs().sum() > 0
    assert any(not torch.allclose(grads[n], grads_full[n]) for n in grads)


def test_tagging_windows_stream_the_same_outputs_and_gradients_stay_inside_each_window():
    model = _model("tagging")
    batch = _batch(model)
    with torch.no_grad():
        full = model(batch["x"])
        state, parts = model.init_state(4, like=batch["x"]), []
        for s, e in windows(L, 5):
            out, state = model.forward_batch({"x": batch["x"][:, s:e], STATE_KEY: state})
            parts.append(out)
    torch.testing.assert_close(torch.cat(parts, dim=1), full, rtol=0, atol=1e-12)
    # the loss of the middle window alone reaches only the middle window's inputs
    x = batch["x"].clone().requires_grad_(True)
    state = model.init_state(4, like=x)
    _, state = model.forward_batch({"x": x[:, :5], STATE_KEY: state})
    out, _ = model.forward_batch({"x": x[:, 5:10], STATE_KEY: state.detach()})
    out.sum().backward()
    assert torch.count_nonzero(x.grad[:, :5]) == 0 and torch.count_nonzero(x.grad[:, 10:]) == 0
    assert torch.count_nonzero(x.grad[:, 5:10]) > 0


def test_the_rule_trains_a_streaming_model_and_refuses_others():
    model = _model("last_step_regression").float()
    rule = forwardkit.create("learning_rule", "truncated_bptt", k=5)
    ctx = RunContext(model=model, loss_fn=Regression().loss)
    rule.setup(model, ctx)
    batch = {k: v.float() for k, v in _batch(model).items()}
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    metrics = rule.step(batch, ctx)
    assert metrics["windows"] == 3.0 and metrics["loss"] > 0 and "grad_norm" in metrics
    assert any(not torch.equal(before[n], p) for n, p in model.named_parameters())
    sgd = forwardkit.create("learning_rule", "truncated_bptt", k=50, clip_norm=None, optimizer="sgd")
    sgd.setup(model, ctx)
    assert "grad_norm" not in sgd.step(batch, ctx) and isinstance(sgd.optimizer, torch.optim.SGD)
    state = sgd.state_dict()
    again = forwardkit.create("learning_rule", "truncated_bptt", k=50, clip_norm=None, optimizer="sgd")
    again.setup(model, ctx)
    again.load_state_dict(state)
    assert again.updates == 1
    attention = forwardkit.create("model", "rnn_sequence_model", dim=8,
                                  token_mixer={"name": "attention", "head_dim": 4, "causal": True})
    with pytest.raises(ForwardkitError, match="streams"):
        rule.setup(attention, RunContext(model=attention))
