"""Tests of the forwardgnn plugin: the conformance kit, then the mechanism (the card's list)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from forwardkit_forwardgnn.forward_forward import ff_logits, ff_loss, sample_negatives
from forwardkit_forwardgnn.graph import augment_with_virtual_nodes, flatten, link_logits, prototype_logits
from forwardkit_forwardgnn.single_forward import sf_logits

import forwardkit
from forwardkit.engine import Trainer
from forwardkit.interfaces import RunContext
from forwardkit.testing import make_conformance_test

test_conformance = make_conformance_test(plugin="forwardgnn")


def model(**kw: Any) -> Any:
    torch.manual_seed(0)
    cfg = {"hidden": 8, "in_features": 6, "num_classes": 3, "num_layers": 3, **kw}
    return forwardkit.create("model", "local_gnn", **cfg)


def batch(m: Any, size: int = 1, seed: int = 0) -> dict[str, torch.Tensor]:
    return m.example_batch(size, generator=torch.Generator().manual_seed(seed))


def rule(name: str, **kw: Any) -> Any:
    return forwardkit.create("learning_rule", name, **kw)


def ctx_for(m: Any) -> RunContext:
    return RunContext(model=m, steps_per_epoch=1, total_steps=100, epochs=100)


def test_components_are_registered_with_the_paper() -> None:
    reg = forwardkit.get_registry()
    for kind, name in [("learning_rule", "single_forward_gnn"), ("learning_rule", "forward_forward_gnn"),
                       ("learning_rule", "top_down_single_forward_gnn"), ("model", "local_gnn"),
                       ("dataset", "sbm_graph"), ("task", "node_classification")]:
        info = reg.get(kind, name)
        assert info.plugin == "forwardgnn" and info.paper is not None and info.paper.arxiv == "2403.11004"


# ---- locality ---------------------------------------------------------------------------------
class _GradSpy:
    """Records, at ``after_backward``, which layers have a non-zero gradient."""

    def __init__(self, m: Any) -> None:
        self.m = m
        self.seen: list[list[bool]] = []

    def __call__(self) -> None:
        self.seen.append([any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in layer.parameters())
                          for layer in self.m.layers])


# (rule, rule options, model options) of every forward rule's forms
FORMS = [("single_forward_gnn", {}, {}),
         ("forward_forward_gnn", {"label_injection": "append"}, {"label_input": True}),
         ("forward_forward_gnn", {"label_injection": "virtual_node"}, {}),
         ("top_down_single_forward_gnn", {"mode": "to_loss"}, {}),
         ("top_down_single_forward_gnn", {"mode": "to_input", "test_time_steps": 3, "accumulate_from_step": 1},
          {"top_down": True})]


@pytest.mark.parametrize("name,options,model_options", FORMS)
def test_layer_inputs_are_detached_and_no_gradient_crosses_layers(name: str, options: dict[str, Any],
                                                                  model_options: dict[str, Any]) -> None:
    m = model(**model_options)
    r = rule(name, **options)
    ctx = ctx_for(m)
    r.setup(m, ctx)
    inputs: list[bool] = []
    hooks = [layer.register_forward_pre_hook(lambda _mod, args: inputs.append(args[0].requires_grad))
             for layer in m.layers]
    # a hook on every layer's output: the gradient arriving there must come from that layer's own loss only
    spy = _GradSpy(m)
    ctx.after_backward = spy
    r.step(batch(m), ctx)
    for h in hooks:
        h.remove()
    assert inputs and not any(inputs), "a layer's input requires grad: an error signal could cross layers"
    if name == "single_forward_gnn":
        assert spy.seen == [[True, False, False]]  # only the layer in training
    else:
        assert spy.seen == [[True, True, True]]


def test_each_layer_loss_only_reaches_its_own_parameters() -> None:
    m = model()
    g = flatten(batch(m))
    x, ei = m.augment(g)
    h1 = m.block(0, x, ei)
    h2 = m.block(1, h1.detach(), ei)
    prototype_logits(h2, g, 3, 1.0).sum().backward()
    assert all(p.grad is None for p in m.layers[0].parameters())
    assert all(p.grad is not None for p in m.layers[1].parameters())


# ---- virtual nodes ----------------------------------------------------------------------------
@pytest.mark.parametrize("direction,factor", [("bidirection", 2), ("unidirection", 1)])
def test_virtual_node_augmentation(direction: str, factor: int) -> None:
    m = model()
    b = batch(m, size=2)
    g = flatten(b)
    x, ei = m.augment(g, bidirectional=direction == "bidirection")
    n_train = int(g.train_mask.sum())
    assert x.shape[0] == g.num_nodes + 2 * 3  # C virtual nodes per graph
    assert ei.shape[1] == g.edge_index.shape[1] + factor * n_train
    extra = ei[:, g.edge_index.shape[1]:]
    real_end = extra.min(0).values  # the real endpoint of each virtual edge
    assert g.train_mask[real_end].all(), "a virtual edge touches a validation/test node"
    vn = extra.max(0).values
    expected = g.num_nodes + (real_end // g.nodes_per_graph) * 3 + g.y[real_end]
    assert torch.equal(vn, expected)
    x2, _ = m.augment(g)
    assert torch.equal(x[g.num_nodes:], x2[g.num_nodes:])  # identical across calls
    assert "virtual_features" in m.state_dict()


def test_virtual_features_survive_a_reload() -> None:
    a = model()
    b = model()
    torch.manual_seed(123)
    c = forwardkit.create("model", "local_gnn", hidden=8, in_features=6, num_classes=3, num_layers=3)
    assert not torch.equal(a.virtual_features, c.virtual_features)
    c.load_state_dict(a.state_dict())
    r = rule("single_forward_gnn")
    bb = batch(a)
    with torch.no_grad():
        assert torch.equal(r.predict(a, bb), r.predict(c, bb)) and torch.equal(r.predict(a, bb), r.predict(b, bb))


def test_augment_functional_form() -> None:
    m = model()
    g = flatten(batch(m))
    x, ei = augment_with_virtual_nodes(g, torch.zeros(3, 6), bidirectional=False)
    assert torch.equal(x[g.num_nodes:], torch.zeros(3, 6))
    assert ei.shape[1] == g.edge_index.shape[1] + int(g.train_mask.sum())


# ---- SF ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("temperature", [1.0, 0.25])
def test_sf_logits_are_dot_products_over_temperature(temperature: float) -> None:
    m = model()
    g = flatten(batch(m))
    h = torch.randn(g.num_nodes + 3, 8)
    logits = sf_logits(h, g, 3, temperature)
    assert logits.shape == (int(g.train_mask.sum()), 3)
    expected = h[: g.num_nodes][g.train_mask] @ h[g.num_nodes:].T / temperature
    torch.testing.assert_close(logits, expected)


def test_sf_greedy_schedule_freezes_finished_layers() -> None:
    m = model()
    r = rule("single_forward_gnn", epochs_per_layer=3, patience=-1)
    ctx = ctx_for(m)
    r.setup(m, ctx)
    b = batch(m)
    snapshots = []
    for _ in range(9):
        r.step(b, ctx)
        snapshots.append([layer.conv.lin.weight.detach().clone() for layer in m.layers])
    # layer 1 finishes after step 3, layer 2 after step 6: never modified afterwards
    for s in snapshots[3:]:
        assert torch.equal(s[0], snapshots[2][0])
    for s in snapshots[6:]:
        assert torch.equal(s[1], snapshots[5][1])
    assert not torch.equal(snapshots[8][2], snapshots[5][2])
    assert r.trained_layers(m) == 3 and r.layer == 3
    r.step(b, ctx)
    assert ctx.should_stop


def test_sf_restores_best_validation_weights() -> None:
    m = model()
    r = rule("single_forward_gnn", epochs_per_layer=6, patience=-1, val_every=1)
    ctx = ctx_for(m)
    r.setup(m, ctx)
    captured: dict[str, torch.Tensor] = {}
    finish = r._next_layer

    def spy(mdl: Any) -> None:
        captured.update({k: v.clone() for k, v in r.best_weights.items()})
        finish(mdl)

    r._next_layer = spy
    b = batch(m)
    for _ in range(6):
        r.step(b, ctx)
    assert r.layer == 1 and captured
    for k, v in m.layers[0].state_dict().items():
        assert torch.equal(v, captured[k])


# ---- FF ---------------------------------------------------------------------------------------
def test_ff_goodness_of_zero_states() -> None:
    theta = 2.0
    h = torch.zeros(5, 8)
    assert torch.equal(ff_logits(h, theta), torch.full((5,), -theta))
    pos = F.binary_cross_entropy_with_logits(ff_logits(h, theta), torch.ones(5))
    assert math.isclose(float(pos), float(F.softplus(torch.tensor(theta))), rel_tol=1e-6)
    loss = ff_loss(h, torch.zeros(2, 5, 8), theta)
    assert math.isclose(float(loss), float(F.softplus(torch.tensor(theta)) + F.softplus(torch.tensor(-theta))),
                        rel_tol=1e-6)


def test_ff_negatives_never_contain_the_true_class() -> None:
    gen = torch.Generator().manual_seed(0)
    y = torch.randint(0, 5, (200,), generator=gen)
    negs = sample_negatives(y, 5, 4, gen)
    assert negs.shape == (200, 4)
    assert not (negs == y[:, None]).any()
    assert all(len(set(row.tolist())) == 4 for row in negs)  # without replacement
    r = rule("forward_forward_gnn")
    assert r.negatives(y, 5).shape[1] == 4  # num_negatives=-1: exactly C-1 negative sets
    assert rule("forward_forward_gnn", num_negatives=2).negatives(y, 5).shape[1] == 2


def test_ff_append_prediction_uses_c_passes_with_candidate_labels() -> None:
    m = model(label_input=True)
    calls = []
    m.layers[0].register_forward_pre_hook(lambda _mod, args: calls.append(args[0][:, -3:].clone()))
    b = batch(m)
    rule("forward_forward_gnn", label_injection="append").predict(m, b)
    assert len(calls) == 3
    g = flatten(b)
    for c, inp in enumerate(calls):
        test_rows = inp[g.mask]
        assert (test_rows.argmax(-1) == c).all()  # eval nodes carry the candidate


# ---- Top-down ---------------------------------------------------------------------------------
def test_top_to_input_widths() -> None:
    m = model(top_down=True, num_layers=3, in_features=6, hidden=8, num_classes=3)
    widths = [layer.conv.lin.in_features for layer in m.layers]
    assert widths == [6 + 8, 8 + 8, 8 + 3]


def test_top_to_input_alternating_update_feeds_new_even_states_to_odd_layers() -> None:
    m = model(top_down=True, num_layers=3)
    r = rule("top_down_single_forward_gnn", mode="to_input")
    ctx = ctx_for(m)
    r.setup(m, ctx)
    b = batch(m)
    r.step(b, ctx)  # initialise and train once
    seen: dict[int, torch.Tensor] = {}

    def grab(_mod: Any, args: tuple[Any, ...]) -> None:
        seen.setdefault(1, args[0].detach().clone())

    m.layers[1].register_forward_pre_hook(grab)
    before = [s.clone() for s in r.states]
    r.step(b, ctx)
    from forwardkit_forwardgnn.graph import l2_normalize
    # layer 2 (index 1) sees concat(norm(new s_1), norm(new s_3)): block 0 and block 2 updated first
    assert torch.allclose(seen[1][:, :8], l2_normalize(r.states[0]))
    assert not torch.allclose(seen[1][:, :8], l2_normalize(before[0]))


@pytest.mark.parametrize("mode", ["to_loss", "to_input"])
def test_top_down_updates_every_layer_each_step(mode: str) -> None:
    m = model(top_down=mode == "to_input")
    r = rule("top_down_single_forward_gnn", mode=mode)
    ctx = ctx_for(m)
    r.setup(m, ctx)
    b = batch(m)
    before = [layer.conv.lin.weight.detach().clone() for layer in m.layers]
    r.step(b, ctx)
    after = [layer.conv.lin.weight.detach() for layer in m.layers]
    assert all(not torch.equal(a, c) for a, c in zip(before, after, strict=True))


def test_top_state_hides_non_training_labels() -> None:
    m = model(top_down=True)
    g = flatten(batch(m))
    top = rule("top_down_single_forward_gnn", mode="to_input").top_state(m, g)
    others = ~g.train_mask
    assert torch.allclose(top[: g.num_nodes][others], torch.full((int(others.sum()), 3), 1 / 3))
    assert torch.equal(top[g.num_nodes:], torch.eye(3))


# ---- data, task, trainer ----------------------------------------------------------------------
def test_sbm_graph_is_a_transductive_split() -> None:
    ds = forwardkit.create("dataset", "sbm_graph", num_blocks=3, block_size=20)
    items = {s: ds.split(s)[0] for s in ("train", "val", "test")}
    assert torch.equal(items["train"]["x"], items["test"]["x"])
    masks = [items[s]["mask"] for s in ("train", "val", "test")]
    assert torch.equal(sum(m.long() for m in masks), torch.ones(60, dtype=torch.long))  # a partition
    assert torch.equal(items["test"]["train_mask"], masks[0])
    ei = items["train"]["edge_index"]
    assert (ei[0] != ei[1]).all()
    same = (items["train"]["y"][ei[0]] == items["train"]["y"][ei[1]]).float().mean()
    assert same > 0.5  # assortative blocks


def test_karate_club_ships_offline() -> None:
    ds = forwardkit.create("dataset", "sbm_graph", graph="karate")
    md = ds.metadata
    assert md.num_classes == 2 and md.extra["num_nodes"] == 34 and md.extra["num_edges"] == 156


def _graph_experiment(rule_spec: dict[str, Any], model_options: dict[str, Any], epochs: int = 6,
                      **trainer: Any) -> dict[str, Any]:
    return {"name": "t", "data": {"name": "sbm_graph", "num_blocks": 3, "block_size": 12, "feat_dim": 6},
            "model": {"name": "local_gnn", "hidden": 8, **model_options},
            "learning_rule": rule_spec,
            "trainer": {"epochs": epochs, "batch_size": 1, "progress": "none", "plots": False, **trainer}}


@pytest.mark.parametrize("name,options,model_options", FORMS)
def test_test_accuracy_is_the_rules_prediction(name: str, options: dict[str, Any],
                                               model_options: dict[str, Any]) -> None:
    t = Trainer(_graph_experiment({"name": name, **options}, model_options, epochs=3), write=False, verbose=False)
    res = t.fit()
    test = t.dataset.split("test")[0]
    b = {k: v[None] for k, v in test.items()}
    with torch.no_grad():
        scores = t.rule.predict(t.model, b)[0]
    acc = float((scores[test["mask"]].argmax(-1) == test["y"][test["mask"]]).float().mean())
    assert math.isclose(res.final["test/accuracy"], acc, abs_tol=1e-6)


def _by_hand_layers(m: Any, x: torch.Tensor, ei: torch.Tensor) -> list[torch.Tensor]:
    out = []
    for layer in m.layers:
        x = layer(x / (x.norm(dim=-1, keepdim=True) + 1e-8), ei)
        out.append(x)
    return out


@pytest.mark.parametrize("trained", [0, 3])
def test_sf_prediction_is_the_mean_softmax_over_virtual_nodes(trained: int) -> None:
    m = model()
    r = rule("single_forward_gnn", temperature=0.5, edge_direction="unidirection")
    r.layer = trained  # 0: layer 1 in training, the ensemble is layer 1 alone; 3: all layers trained
    b = batch(m, size=2)
    g = flatten(b)
    nodes = g.train_mask.nonzero().flatten()
    vn = 20 + (nodes // 10) * 3 + g.y[nodes]
    ei = torch.cat([g.edge_index, torch.stack([nodes, vn])], dim=1)
    with torch.no_grad():
        hs = _by_hand_layers(m, torch.cat([g.x, m.virtual_features.repeat(2, 1)]), ei)[: max(trained, 1)]
        probs = torch.stack([torch.cat([F.softmax(h[i * 10:(i + 1) * 10] @ h[20 + 3 * i: 23 + 3 * i].T / 0.5, -1)
                                        for i in range(2)]) for h in hs]).mean(0)
        out = r.predict(m, b)
    assert out.shape == (2, 10, 3)
    torch.testing.assert_close(out.reshape(20, 3).exp(), probs)


def test_ff_prediction_is_the_goodness_of_each_candidate_label() -> None:
    m = model(label_input=True)
    r = rule("forward_forward_gnn", label_injection="append", theta=1.5, goodness_eval="mean")
    b = batch(m)
    g = flatten(b)
    with torch.no_grad():
        out = r.predict(m, b)[0]
        for c in range(3):
            lab = F.one_hot(torch.where(g.train_mask, g.y, torch.full_like(g.y, c)), 3).float()
            hs = _by_hand_layers(m, torch.cat([g.x, lab], dim=-1), g.edge_index)
            expected = sum(h.pow(2).mean(-1) - 1.5 for h in hs)
            torch.testing.assert_close(out[:, c], expected)


def test_rules_refuse_a_model_of_the_wrong_architecture() -> None:
    from forwardkit.errors import ForwardkitError

    for name, options, model_options in FORMS:
        wrong = {} if model_options else {"top_down": True}
        with pytest.raises(ForwardkitError):
            rule(name, **options).setup(model(**wrong), ctx_for(model(**wrong)))


@pytest.mark.parametrize("spec,model_options,cut", [
    ({"name": "single_forward_gnn", "epochs_per_layer": 3, "patience": -1}, {}, 4),  # in the middle of layer 2
    ({"name": "top_down_single_forward_gnn", "mode": "to_loss"}, {}, 3),
    ({"name": "forward_forward_gnn", "label_injection": "append"}, {"label_input": True}, 3)])
def test_checkpoint_resume_matches_uninterrupted(tmp_path: Path, spec: dict[str, Any],
                                                 model_options: dict[str, Any], cut: int) -> None:
    exp = _graph_experiment(spec, model_options, epochs=7, checkpoint_every_steps=1)
    full = Trainer(exp, run_dir=tmp_path / "full", verbose=False)
    full.fit()
    short = _graph_experiment(spec, model_options, epochs=7, checkpoint_every_steps=1, max_steps=cut)
    Trainer(short, run_dir=tmp_path / "cut", verbose=False).fit()
    resumed = Trainer(exp, run_dir=tmp_path / "cut", resume=True, verbose=False)
    resumed.fit()
    for k, v in full.model.state_dict().items():
        assert torch.equal(v, resumed.model.state_dict()[k]), k


# ---- link prediction --------------------------------------------------------------------------
def test_link_split_holds_out_edges_and_samples_non_edges() -> None:
    ds = forwardkit.create("dataset", "sbm_graph", num_blocks=3, block_size=20, p_in=0.3, task="link")
    assert ds.metadata.task == "link_prediction"
    full = forwardkit.create("dataset", "sbm_graph", num_blocks=3, block_size=20, p_in=0.3)
    all_edges = set(map(tuple, full.split("train")[0]["edge_index"].t().tolist()))
    message = set(map(tuple, ds.split("train")[0]["edge_index"].t().tolist()))
    for split in ("val", "test"):
        item = ds.split(split)[0]
        pairs, label = item["edge_label_index"], item["edge_label"]
        pos = set(map(tuple, pairs[:, label == 1].t().tolist()))
        assert pos and pos <= all_edges and not (pos & message)  # held out from message passing
        neg = pairs[:, label == 0]
        assert neg.shape[1] == len(pos)  # 1:1 negatives
        assert not set(map(tuple, neg.t().tolist())) & all_edges and (neg[0] != neg[1]).all()


def test_link_scores_and_forward_rule() -> None:
    z = torch.randn(5, 4)
    pairs = torch.tensor([[0, 1], [2, 3]])
    torch.testing.assert_close(link_logits(z, pairs), (z[[0, 1]] * z[[2, 3]]).sum(-1))
    torch.testing.assert_close(link_logits(z, pairs, "ff_goodness", 2.0), (z[[0, 1]] * z[[2, 3]]).pow(2).sum(-1) - 2)
    from forwardkit_forwardgnn.linkpred import link_test_model

    m = link_test_model()
    r = rule("forward_link_pred_gnn")
    ctx = ctx_for(m)
    r.setup(m, ctx)
    spy = _GradSpy(m)
    ctx.after_backward = spy
    r.step(batch(m), ctx)
    assert spy.seen == [[True, True]]
    b = batch(m, size=2)
    with torch.no_grad():
        out = r.predict(m, b)
        g = flatten(b)
        hs = m.bottom_up(g.x, g.edge_index)
        p = torch.stack([torch.sigmoid(link_logits(h, g.edge_label_index)) for h in hs]).mean(0)
    assert out.shape == (2, 6)
    torch.testing.assert_close(torch.sigmoid(out).reshape(-1), p)  # mean of the per-layer edge probabilities
