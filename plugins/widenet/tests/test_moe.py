"""The card's tests of the MoE FFN: reduction to a dense FFN, top-k combine weights, capacity and dropped tokens,
the load-balance loss, router noise; and the fast sorted dispatch against the one-hot einsum and the paper-literal
dense reference."""

from __future__ import annotations

import pytest
import torch
from forwardkit_widenet.dispatch import ExpertWeights, dense_moe_reference, einsum_moe, sorted_moe
from forwardkit_widenet.moe import MoEFFN
from forwardkit_widenet.routing import (
    expert_capacity,
    load_balance_loss,
    positions_in_experts,
    positions_reference,
    route,
)

from forwardkit.nn import FeedForward


def assert_close(a: torch.Tensor, b: torch.Tensor, rtol: float = 1.3e-6, atol: float = 1e-5) -> None:
    """``torch.allclose`` with the largest difference in the message (torch.testing.assert_close imports
    torch.distributed on first use, seconds of the test budget)."""
    assert a.shape == b.shape, f"shapes {tuple(a.shape)} != {tuple(b.shape)}"
    assert torch.allclose(a, b, rtol=rtol, atol=atol), f"max abs diff {float((a - b).abs().max()):.3g}"



def _tokens(n: int = 40, c: int = 8, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, c, generator=torch.Generator().manual_seed(seed))


def _experts(e: int = 4, c: int = 8, h: int = 16, seed: int = 0) -> ExpertWeights:
    g = torch.Generator().manual_seed(seed)
    return ExpertWeights(torch.randn(e, c, h, generator=g) / 3, torch.randn(e, h, generator=g),
                         torch.randn(e, h, c, generator=g) / 4, torch.randn(e, c, generator=g), act=torch.nn.GELU())


def test_one_expert_top1_no_noise_no_capacity_is_the_dense_ffn() -> None:
    torch.manual_seed(0)
    moe = MoEFFN(dim=8, num_experts=1, top_k=1, router_noise="none", drop_tokens=False, hidden_dim=16)
    ffn = FeedForward(dim=8, hidden_dim=16)
    with torch.no_grad():
        ffn.fc1.weight.copy_(moe.w1[0].t())
        ffn.fc1.bias.copy_(moe.b1[0])
        ffn.fc2.weight.copy_(moe.w2[0].t())
        ffn.fc2.bias.copy_(moe.b2[0])
    x = torch.randn(3, 5, 7, 8)
    for training in (True, False):
        moe.train(training)
        assert_close(moe(x), ffn(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("normalize", [False, True])
def test_kept_tokens_have_k_experts_weighted_by_their_softmax_probabilities(normalize: bool) -> None:
    torch.manual_seed(1)
    moe = MoEFFN(dim=8, num_experts=4, top_k=2, normalize_topk=normalize, capacity_factor_eval=2.0).eval()
    x = torch.randn(2, 10, 8)
    moe(x)
    rec = moe.last_routing
    assert rec is not None and rec.kept.all()  # C_eval * K = 4 >= E: nothing drops in eval
    probs = torch.softmax(x.reshape(-1, 8) @ moe.router.weight.t(), dim=-1)
    top, index = probs.topk(2, dim=-1)
    assert torch.equal(rec.index, index)
    assert (rec.index[:, 0] != rec.index[:, 1]).all()  # K distinct experts per token
    expected = top / top.sum(-1, keepdim=True) if normalize else top
    assert_close(rec.gates, expected)
    assert not normalize or torch.allclose(rec.gates.sum(-1), torch.ones(20))


def test_capacity_bounds_every_expert_and_dropped_tokens_give_zero_output() -> None:
    torch.manual_seed(2)
    moe = MoEFFN(dim=8, num_experts=4, top_k=1, router_noise="none", capacity_factor_train=1.0, min_capacity=2)
    with torch.no_grad():  # every token prefers expert 0
        moe.router.weight.zero_()
        moe.router.weight[0].fill_(0.0)
        moe.router.weight[1:].fill_(-5.0)
    x = torch.randn(1, 16, 8).abs() + 0.5  # positive: the logits of experts 1..3 are all lower
    out = moe.train()(x)
    rec = moe.last_routing
    assert rec is not None and rec.capacity == expert_capacity(16, num_experts=4, top_k=1, factor=1.0, min_capacity=2)
    assert rec.capacity == 4 and int(rec.kept.sum()) == 4
    counts = torch.bincount(rec.index[rec.kept], minlength=4)
    assert (counts <= rec.capacity).all()
    dropped = ~rec.kept[:, 0]
    assert torch.equal(out[0, dropped], torch.zeros(int(dropped.sum()), 8))
    assert out[0, ~dropped].abs().sum() > 0
    assert rec.dropped_rate() == pytest.approx(12 / 16)
    assert torch.equal(rec.kept[:4, 0], torch.ones(4, dtype=torch.bool))  # the first tokens claim the slots


def test_random_routing_respects_capacity_in_training() -> None:
    torch.manual_seed(3)
    moe = MoEFFN(dim=8, num_experts=4, top_k=2, capacity_factor_train=0.5, min_capacity=0).train()
    moe(torch.randn(4, 25, 8))
    rec = moe.last_routing
    assert rec is not None and rec.capacity == 25
    for e in range(4):
        assert int((rec.index[rec.kept] == e).sum()) <= rec.capacity
    assert 0 < rec.dropped_rate() < 1
    per_token = rec.kept.sum(-1)
    assert ((per_token == 2) | ~rec.kept.all(-1)).all()  # fewer than K only when the capacity dropped one


@pytest.mark.parametrize("priority", ["choice", "token"])
def test_sorted_positions_equal_the_cumsum_reference(priority: str) -> None:
    index = torch.randint(0, 5, (37, 3), generator=torch.Generator().manual_seed(4))
    assert_close(positions_in_experts(index, 5, priority=priority),  # type: ignore[arg-type]
                               positions_reference(index, 5, priority=priority))  # type: ignore[arg-type]


def test_choice_priority_serves_first_choices_before_second_ones() -> None:
    index = torch.tensor([[0, 1], [1, 0], [0, 1]])
    pos = positions_in_experts(index, 2, priority="choice")
    assert pos.tolist() == [[0, 1], [0, 2], [1, 2]]  # expert 0: tokens 0, 2 first (1st choices), then token 1
    assert positions_in_experts(index, 2, priority="token").tolist() == [[0, 0], [1, 1], [2, 2]]


@pytest.mark.parametrize(("capacity", "priority"), [(6, "choice"), (6, "token"), (40, "choice")])
def test_sorted_dispatch_equals_the_one_hot_einsum_dispatch(capacity: int, priority: str) -> None:
    tokens, experts = _tokens(), _experts()
    routing = route(tokens, torch.randn(4, 8, generator=torch.Generator().manual_seed(5)), top_k=2)
    a, kept_a = sorted_moe(tokens, routing, experts, capacity=capacity, priority=priority)  # type: ignore[arg-type]
    b, kept_b = einsum_moe(tokens, routing, experts, capacity=capacity, priority=priority)  # type: ignore[arg-type]
    assert torch.equal(kept_a, kept_b) and (capacity == 40) == bool(kept_a.all())
    assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_sorted_dispatch_equals_the_dense_reference_when_nothing_drops() -> None:
    tokens, experts = _tokens(), _experts()
    routing = route(tokens, torch.randn(4, 8, generator=torch.Generator().manual_seed(6)), top_k=2)
    out, kept = sorted_moe(tokens, routing, experts, capacity=40)
    assert kept.all()
    assert_close(out, dense_moe_reference(tokens, routing, experts), rtol=1e-5, atol=1e-5)
    dropped, kept = sorted_moe(tokens, routing, experts, capacity=5)
    assert not kept.all() and not torch.allclose(dropped, dense_moe_reference(tokens, routing, experts))


def test_sorted_dispatch_gradients_equal_the_dense_reference() -> None:
    tokens = _tokens().requires_grad_()
    experts = _experts()
    for p in (experts.w1, experts.b1, experts.w2, experts.b2):
        assert p is not None
        p.requires_grad_()
    weight = torch.randn(4, 8, generator=torch.Generator().manual_seed(7), requires_grad=True)
    grads = []
    for kernel in ("sorted", "dense"):
        routing = route(tokens, weight, top_k=2)
        out = (sorted_moe(tokens, routing, experts, capacity=40)[0] if kernel == "sorted"
               else dense_moe_reference(tokens, routing, experts))
        params = [tokens, weight, experts.w1, experts.b1, experts.w2, experts.b2]
        grads.append(torch.autograd.grad((out * torch.linspace(-1, 1, 8)).sum(), params))  # type: ignore[arg-type]
    for ga, gb in zip(*grads, strict=True):
        assert_close(ga, gb, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dispatch", ["einsum", "dense"])
def test_the_module_gives_the_same_output_with_every_dispatch(dispatch: str) -> None:
    torch.manual_seed(8)
    fast = MoEFFN(dim=8, num_experts=4, top_k=2, drop_tokens=False).eval()
    other = MoEFFN(dim=8, num_experts=4, top_k=2, drop_tokens=False, dispatch=dispatch).eval()
    other.load_state_dict(fast.state_dict())
    x = torch.randn(2, 3, 4, 8)
    assert_close(fast(x), other(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["topk", "switch"])
def test_load_balance_loss_is_one_for_uniform_routing(kind: str) -> None:
    e = 4
    probs = torch.full((8, e), 1 / e)
    index = torch.tensor([[i % e, (i + 1) % e] for i in range(8)])
    assert float(load_balance_loss(probs, index, kind=kind)) == pytest.approx(1.0)  # type: ignore[arg-type]


def test_load_balance_loss_is_e_when_every_token_goes_to_one_expert() -> None:
    e = 4
    probs = torch.zeros(8, e)
    probs[:, 2] = 1.0
    first = torch.full((8, 1), 2)
    assert float(load_balance_loss(probs, first, kind="topk")) == pytest.approx(e)
    both = torch.cat([first, torch.zeros(8, 1, dtype=torch.long)], dim=1)
    assert float(load_balance_loss(probs, both, kind="switch")) == pytest.approx(e)
    assert float(load_balance_loss(probs, both, kind="topk")) == pytest.approx(e / 2)  # m over both choices / K


def test_load_balance_loss_gets_gradient_only_through_the_mean_probabilities() -> None:
    e = 4
    probs = torch.softmax(torch.randn(10, e, generator=torch.Generator().manual_seed(9)), -1).requires_grad_()
    index = probs.topk(2, dim=-1).indices
    (grad,) = torch.autograd.grad(load_balance_loss(probs, index, kind="topk"), probs)
    density = torch.nn.functional.one_hot(index, e).sum(1).float().mean(0) / 2
    assert_close(grad, (e * density / 10).expand(10, e))  # d/dp_ni of E sum_i m_i mean_n p_ni
    tokens = _tokens(10, 8).requires_grad_()
    weight = torch.randn(e, 8, generator=torch.Generator().manual_seed(10), requires_grad=True)
    routing = route(tokens, weight, top_k=2)
    (g_w,) = torch.autograd.grad(load_balance_loss(routing.probs, routing.index), weight)
    assert g_w.abs().sum() > 0  # the router learns from it


def test_the_module_records_one_aux_loss_per_call() -> None:
    torch.manual_seed(11)
    moe = MoEFFN(dim=8).train()
    x = torch.randn(2, 6, 8)
    for _ in range(3):
        moe(x)
    assert len(moe.records) == 3 and all(r.aux_loss is not None and r.aux_loss.requires_grad for r in moe.records)
    moe.reset_routing()
    assert moe.last_aux_loss is None and not moe.records
    assert MoEFFN(dim=8, aux_loss="none")(x) is not None


def test_router_noise_only_in_training_and_eval_is_deterministic() -> None:
    torch.manual_seed(12)
    moe = MoEFFN(dim=8, num_experts=4, top_k=2, drop_tokens=False)
    assert moe.noise_std() == pytest.approx(1 / 4)  # the authors' code: std 1/E
    x = torch.randn(4, 16, 8)
    moe.eval()
    assert_close(moe(x), moe(x), rtol=0, atol=0)
    moe.train()
    routes = [moe(x) is not None and moe.last_routing for _ in range(2)]
    assert routes[0] and routes[1]
    assert not torch.equal(routes[0].gates, routes[1].gates)  # type: ignore[union-attr]
    quiet = MoEFFN(dim=8, router_noise="none", drop_tokens=False).train()
    quiet.load_state_dict(moe.state_dict())
    assert_close(quiet(x), quiet(x), rtol=0, atol=0)


def test_pointwise_is_claimed_only_when_the_eval_capacity_cannot_overflow() -> None:
    assert MoEFFN(dim=8).pointwise  # C_eval 2.0 * K 2 >= E 4
    small = MoEFFN(dim=8, num_experts=8, top_k=1, capacity_factor_eval=1.0, min_capacity=0).eval()
    assert not small.pointwise
    with torch.no_grad():
        small.router.weight.zero_()
        small.router.weight[0].fill_(1.0)
    x = torch.rand(1, 16, 8) + 0.1
    base = small(x)
    x2 = x.clone()
    x2[0, 0] = -x2[0, 0]  # token 0 leaves expert 0 and frees a slot for another token
    assert not torch.allclose(small(x2)[0, 1:], base[0, 1:])
