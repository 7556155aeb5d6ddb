"""The rules (card "Tests"): the loss terms vanish at their optimum, the pseudo-classifier rows are class means,
the embedding cache returns what a direct forward gives and survives a state round trip, and a multi-stage run
leaves the frozen old model as it was."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from forwardkit_bt2.rules import BCT_CONFORMANCE_MODEL, BT2_CONFORMANCE_MODEL, bt2_terms
from forwardkit_bt2.teachers import EmbeddingCache, PseudoClassifier, pseudo_classifier

import forwardkit
from forwardkit.errors import ForwardkitError


def test_loss_terms_vanish_at_their_optimum():
    gen = torch.Generator().manual_seed(0)
    y = torch.tensor([0, 1, 2, 1])
    pseudo = F.normalize(torch.randn(3, 5, generator=gen), dim=1)
    bct = 3.0 * pseudo[y]  # un-normalised head output pointing at its class row
    f = torch.randn(4, 6, generator=gen)
    terms = bt2_terms(bct, f, F.normalize(bct, dim=1), F.normalize(f, dim=1), pseudo * 50.0, y)
    assert terms["align_old"].abs() < 1e-6 and terms["keep_new"].abs() < 1e-6
    assert terms["influence"] < 1e-3  # the CE floor of logits 50 x cos: each row's own class wins by far
    logits = 100.0 * F.one_hot(y, 3).float()
    assert F.cross_entropy(logits, y) < 1e-6  # the task's CE(W f, y) at one-hot-perfect logits
    wrong = bt2_terms(-bct, f, F.normalize(bct, dim=1), -F.normalize(f, dim=1), pseudo * 50.0, y)
    assert wrong["align_old"] == pytest.approx(2.0) and wrong["keep_new"] == pytest.approx(2.0)


def test_pseudo_classifier_rows_are_class_means():
    emb = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0], [4.0, 0.0]])
    labels = torch.tensor([0, 0, 2, 2])
    p = pseudo_classifier(emb, labels, 4)
    assert torch.equal(p, torch.tensor([[0.5, 0.5], [0.0, 0.0], [3.0, 1.0], [0.0, 0.0]]))
    running = PseudoClassifier(4, 2)
    running.update(emb[:2], labels[:2])
    running.update(emb[2:], labels[2:])
    assert torch.equal(running.weight, p) and not running.fixed
    again = PseudoClassifier(4, 2)
    again.load_state_dict(running.state_dict())
    assert torch.equal(again.weight, p)


def test_embedding_cache_matches_a_direct_forward_and_round_trips():
    model = forwardkit.build_model({"name": "bt2_cnn", "widths": [4], "embed_dim": 6, "image_size": 8})
    x = torch.rand(10, 8, 8, 1)
    cache = EmbeddingCache(model)
    first = cache.get(x[:6])
    both = cache.get(x)  # 6 hits, 4 misses
    model.eval()
    with torch.no_grad():
        direct = F.normalize(model.embedding(x), dim=1)
    assert len(cache) == 10 and torch.allclose(both, direct, atol=1e-6) and torch.equal(both[:6], first)
    restored = EmbeddingCache(model)
    restored.load_state_dict(cache.state_dict())
    assert torch.equal(restored.get(x.flip(0)), both.flip(0)) and len(restored) == 10
    assert model.training is False  # left in eval above; the cache restored that mode
    off = EmbeddingCache(model, enabled=False)
    assert torch.allclose(off.get(x), direct, atol=1e-6) and len(off) == 0


def _stages(rule: dict, model: dict) -> dict:
    data = {"name": "blobs", "image_size": 8, "image_channels": 1, "n_samples": 120, "num_classes": 3}
    trainer = {"epochs": 1, "max_steps": 3, "batch_size": 16, "eval_every": 0, "checkpoint_every": 0,
               "progress": "none", "plots": False}
    return {"name": "t", "seed": 0, "base": {"data": data, "model": {**model, "train": "old"}, "trainer": trainer},
            "stages": [{"name": "old"}, {"name": "new", "model": {"train": "new"},
                                         "learning_rule": {**rule, "pseudo_data": data},
                                         "analyzers": [{"name": "compat_retrieval"}]}]}


@pytest.mark.parametrize(("rule", "model"), [({"name": "bt2_rule"}, BT2_CONFORMANCE_MODEL),
                                             ({"name": "bct_rule"}, BCT_CONFORMANCE_MODEL)])
def test_a_compatible_stage_trains_only_the_new_member(rule, model):
    exp = _stages(rule, model)
    old_only = forwardkit.run_stages({**exp, "stages": exp["stages"][:1]}, write=False, verbose=False)
    both = forwardkit.run_stages(exp, write=False, verbose=False)
    before, after = old_only.model.state_dict(), both.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith(("members.old.", "members.indep.")))
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("members.new."))
    assert "new/analysis/compat_retrieval/top1/new-old" in both.final


def test_rules_refuse_a_model_that_is_not_a_system_or_has_the_wrong_head():
    from forwardkit.interfaces import RunContext

    plain = forwardkit.build_model({"name": "bt2_cnn", "widths": [4]})
    with pytest.raises(ForwardkitError, match="compat_system"):
        forwardkit.create("learning_rule", "bt2_rule").setup(plain, RunContext(model=plain))
    bct_system = forwardkit.build_model(BCT_CONFORMANCE_MODEL)
    with pytest.raises(ForwardkitError, match="basis_transform_head"):
        forwardkit.create("learning_rule", "bt2_rule").setup(bct_system, RunContext(model=bct_system))
    bt2_system = forwardkit.build_model(BT2_CONFORMANCE_MODEL)
    with pytest.raises(ForwardkitError, match="use bt2_rule"):
        forwardkit.create("learning_rule", "bct_rule").setup(bt2_system, RunContext(model=bt2_system))


def test_bad_configs_name_the_field():
    from forwardkit.errors import ConfigError

    with pytest.raises(ConfigError, match="lr"):
        forwardkit.create("learning_rule", "bt2_rule", optim={"lr": -1.0})
    with pytest.raises(ConfigError, match="train"):
        forwardkit.build_model({**BT2_CONFORMANCE_MODEL, "train": "nobody"})
    with pytest.raises(ConfigError, match="classes"):
        forwardkit.create("dataset", "class_subset", classes=[1, 1])
