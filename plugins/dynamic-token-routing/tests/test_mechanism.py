"""The card's tests of the routing mechanism: the gate, the static path, skipping by gather/scatter, the
down-path bookkeeping, the FLOPs counter and early stopping."""

from __future__ import annotations

import pytest
import torch
from forwardkit_dynamic_token_routing.gate import RoutingGate, gate_weights
from forwardkit_dynamic_token_routing.model import DynamicRoutingViT
from forwardkit_dynamic_token_routing.nodes import coarse_any
from forwardkit_dynamic_token_routing.paths import path_weights, pvt_path, reached

from forwardkit.measure import count_macs

torch.set_num_threads(1)

SMALL = {"img_size": 16, "stem_stride": 2, "num_scales": 3, "num_layers": 4, "widths": [8, 16, 16],
         "heads": [1, 2, 2], "num_classes": 5}


def _model(**overrides: object) -> DynamicRoutingViT:
    torch.manual_seed(0)
    return DynamicRoutingViT(**{**SMALL, **overrides}).eval()


def _shift(model: DynamicRoutingViT, t: float, i: float, d: float, spread: float = 3.0) -> None:
    """Gate biases (t, i, d) and larger gate weights, so that decisions differ from token to token."""
    for node in model.all_nodes():
        with torch.no_grad():
            node.gate.proj.bias.copy_(torch.tensor([t, i, d]))
            node.gate.proj.weight.mul_(spread / 0.02 * 0.05)


def _images(n: int, side: int = 16, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, side, side, 1, generator=torch.Generator().manual_seed(seed))


# ---- gate ----------------------------------------------------------------------------------------------
def test_relu_tanh_gate_is_in_0_1_exactly_zero_for_nonpositive_logits_and_differentiable_where_positive():
    logits = torch.tensor([-3.0, -1e-4, 0.0, 1e-4, 0.5, 2.0, 4.0], requires_grad=True)  # tanh rounds to 1 beyond ~9
    w = gate_weights(logits, activation="relu_tanh", training=True)
    assert bool((w >= 0).all()) and bool((w < 1).all())
    assert torch.equal(w[:3], torch.zeros(3))
    assert bool((w[3:] > 0).all())
    w.sum().backward()
    expected = torch.where(logits > 0, 1 - torch.tanh(logits) ** 2, torch.zeros(()))
    assert torch.allclose(logits.grad, expected, atol=1e-6)
    assert bool((logits.grad[3:6] > 0).all()) and torch.equal(logits.grad[:3], torch.zeros(3))


def test_sigmoid_gates_are_hard_at_eval_and_straight_through_in_training():
    logits = torch.tensor([-1.0, 0.5], requires_grad=True)
    assert torch.equal(gate_weights(logits, activation="sigmoid", training=False), torch.tensor([0.0, 1.0]))
    st = gate_weights(logits, activation="sigmoid", training=True, straight_through=True)
    assert torch.equal(st.detach(), torch.tensor([0.0, 1.0]))
    st.sum().backward()
    s = torch.sigmoid(logits.detach())
    assert torch.allclose(logits.grad, s * (1 - s))
    gate = RoutingGate(dim=4)
    assert gate(torch.zeros(2, 3, 3, 4)).shape == (2, 3, 3, 3)
    torch.testing.assert_close(gate.proj.bias, torch.tensor(gate.config.init_bias))


# ---- static path ---------------------------------------------------------------------------------------
def test_the_card_static_path_is_two_transform_layers_per_scale_with_down_moves_after_layers_2_and_4():
    assert pvt_path(6, 3) == [["T", "", ""], ["T", "", ""], ["D", "T", ""], ["", "T", ""], ["", "D", "T"],
                              ["", "", "T"]]
    assert reached(pvt_path(6, 3))[3] == [False, True, False]


@pytest.mark.parametrize("pooling", ["mean", "max"])
def test_gates_forced_to_the_static_path_give_the_static_network_bit_for_bit(pooling: str) -> None:
    """A dynamic model whose gates are overridden with the path's 0/1 weights (w_I = 1 - w_T) computes, in the
    dense and the gather form, exactly the plain static network with the same parameters."""
    dynamic = _model(exit_pooling=pooling)
    static = _model(static_path="pvt", exit_pooling=pooling)
    static.load_state_dict(dynamic.state_dict())
    table = path_weights(pvt_path(4, 3))

    def forced(layer: int, scale: int, w: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
        return w.new_tensor(table[layer][scale]).expand_as(w).clone()

    x = _images(3)
    with torch.no_grad():
        plain = static(x)
        assert static.last_routing is None
        for mode in ("dense", "gather"):
            routed = dynamic.forward_routing(x, mode=mode, override=forced).logits
            assert torch.equal(routed, plain), mode
        assert torch.equal(static.forward_routing(x, mode="dense").logits, plain)
    unforced = dynamic.forward_routing(x).logits
    assert not torch.allclose(unforced, plain)


# ---- skipping ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("overrides", [{}, {"attention_keys": "transformed"}, {"exit_pooling": "max"},
                                       {"token_mixer": {"name": "pooling"}}],
                         ids=["keys-active", "keys-T", "max-pool", "pooling-mixer"])
def test_skipped_tokens_give_the_same_logits_dense_or_gathered(overrides: dict) -> None:
    model = _model(**overrides)
    _shift(model, 0.0, 0.3, -0.3)
    x = _images(4)
    with torch.no_grad():
        dense = model.forward_routing(x, mode="dense")
        gathered = model.forward_routing(x, mode="gather")
    skipped = sum(int((n.active & ~n.transform).sum()) for n in dense.trace.nodes)
    total = sum(int(n.active.sum()) for n in dense.trace.nodes)
    assert 0.2 * total < skipped < 0.8 * total  # a real mix of computed and skipped tokens
    assert sum(int(n.exits.sum()) for n in dense.trace.nodes) > 0
    torch.testing.assert_close(gathered.logits, dense.logits, rtol=1e-5, atol=1e-5)
    for a, b in zip(dense.trace.nodes, gathered.trace.nodes, strict=True):
        assert torch.equal(a.transform, b.transform) and torch.equal(a.down, b.down)
    assert torch.equal(dense.trace.grid_flops(), gathered.trace.grid_flops())


def test_gathered_eval_of_one_image_does_not_depend_on_the_rest_of_the_batch():
    model = _model()
    _shift(model, 0.0, 0.3, -0.2)
    x = _images(5)
    with torch.no_grad():
        together = model.forward_routing(x, mode="gather").logits
        alone = torch.cat([model.forward_routing(x[i:i + 1], mode="gather").logits for i in range(5)])
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-5)


# ---- down path -----------------------------------------------------------------------------------------
def test_a_coarse_token_is_active_iff_one_of_its_2x2_children_moves_down():
    down = torch.zeros(1, 5, 5, dtype=torch.bool)
    down[0, 0, 1] = True  # child of coarse (0, 0)
    down[0, 3, 3] = True  # child of coarse (1, 1)
    down[0, 4, 4] = True  # the odd border: coarse (2, 2) has one child
    coarse = coarse_any(down)
    expected = torch.zeros(1, 3, 3, dtype=torch.bool)
    expected[0, 0, 0] = expected[0, 1, 1] = expected[0, 2, 2] = True
    assert torch.equal(coarse, expected)


def test_the_trace_follows_the_down_moves_and_the_grid_halves_per_scale():
    model = _model()
    _shift(model, 0.0, 0.3, 0.0)
    with torch.no_grad():
        trace = model.forward_routing(_images(3)).trace
    assert model.sides == [8, 4, 2]
    by_node = {(n.layer, n.scale): n for n in trace.nodes}
    for (layer, s), node in by_node.items():
        assert node.active.shape == (3, 8 // 2 ** s, 8 // 2 ** s)
        if node.coarse is not None:
            assert torch.equal(node.coarse, coarse_any(node.down))
            nxt = by_node.get((layer, s + 1))
            if bool(node.coarse.any()):
                assert nxt is not None and bool((nxt.active | ~node.coarse).all())
        else:
            assert s == model.num_scales - 1 and not bool(node.down.any())
    assert any(bool(n.down.any()) for n in trace.nodes)


# ---- FLOPs ---------------------------------------------------------------------------------------------
def _all_on(layer: int, scale: int, w: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
    return torch.ones_like(w)


def test_all_ones_gates_realise_the_analytic_full_grid_and_torchs_counter_agrees():
    model = _model()
    x = _images(2)
    with torch.no_grad():
        trace = model.forward_routing(x, mode="dense", override=_all_on).trace
    assert trace.grid_flops("hard").tolist() == [model.max_grid_flops] * 2
    macs = count_macs(lambda: model.forward_routing(x, mode="dense", override=_all_on))
    assert 2 * macs == pytest.approx(2 * (model.max_grid_flops + model.fixed_flops), rel=1e-9)


def test_realised_flops_are_the_executed_token_edge_pairs_counted_by_torch():
    """At batch 1 the gathered execution does no padding: torch's FLOP counter on it equals the count of the
    executed token-edge pairs."""
    model = _model()
    _shift(model, 0.0, 0.3, -0.2)
    x = _images(1)
    with torch.no_grad():
        trace = model.forward_routing(x, mode="gather").trace
    executed = float(trace.flops()[0])
    assert executed < 0.9 * (model.max_grid_flops + model.fixed_flops)
    assert 2 * count_macs(lambda: model.forward_routing(x, mode="gather")) == pytest.approx(executed, rel=1e-9)


def test_the_static_path_costs_its_analytic_flops():
    static = _model(static_path="pvt")
    with torch.no_grad():
        trace = static.forward_routing(_images(2), mode="gather").trace
    assert trace.flops().tolist() == [static.static_flops()] * 2
    assert static.static_flops() < static.max_grid_flops


# ---- early stopping ------------------------------------------------------------------------------------
def test_an_early_stopped_token_still_reaches_the_head():
    """Token (2, 3) of scale 0 exits at layer 1 (all gates 0); every other token takes only the identity at
    layer 1 and nothing moves down: after layer 1 no token sees it, so the logits depend on its value only
    through the exit pool."""
    model = _model()

    def forced(layer: int, scale: int, w: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
        if layer == 0 and scale == 0:
            w = w.new_tensor([0.0, 1.0, 0.0]).expand_as(w).clone()
            w[:, 2, 3] = 0.0
        return w

    x = _images(1)
    bump = torch.zeros(1, 8, 8, 8)
    bump[0, 2, 3] = 1.0
    seen: list[list[torch.Tensor]] = []
    head = model.head.register_forward_pre_hook(lambda m, args: seen.append([p.clone() for p in args[0]]))
    try:
        with torch.no_grad():
            base = model.forward_routing(x, override=forced)
            assert int(base.trace.nodes[0].exits.sum()) == 1
            stem = model.stem.register_forward_hook(lambda m, i, out: out + bump)
            try:
                moved = model.forward_routing(x, override=forced).logits
            finally:
                stem.remove()
    finally:
        head.remove()
    before, after = seen
    n_pooled = int(base.trace.nodes[0].exits.sum()) + 63  # the exit and the 63 tokens still at scale 0
    torch.testing.assert_close(after[0] - before[0], bump[0, 2, 3][None] / n_pooled)  # scale 0's pool moved
    for s in (1, 2):
        assert torch.equal(after[s], before[s])
    assert not torch.equal(moved, base.logits)
