"""The card's tests of the look_loss rule: the bank changes only at the batch's rows, by the momentum rule; the bank
and the head survive a state_dict round trip bit-exactly; a missing index is a clear error; and the synthetic
two-blob check (LOOK keeps a class's two modes apart, CE collapses them more)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from forwardkit_look_pretraining.knn import look_loss
from forwardkit_look_pretraining.rule import CEBaseline, LookRule
from torch import nn

import forwardkit
from forwardkit.errors import ForwardkitError
from forwardkit.interfaces import RunContext


def _model() -> nn.Module:
    torch.manual_seed(0)
    return forwardkit.create("model", "look_cnn", widths=[4, 8], pool_blocks=1, num_classes=2, image_size=8)


def _batch(rows: list[int], seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"x": torch.rand(len(rows), 8, 8, 1, generator=g), "y": torch.tensor([r % 2 for r in rows]),
            "idx": torch.tensor(rows)}


def _rule(**cfg) -> tuple[LookRule, RunContext, nn.Module]:
    model = _model()
    rule = LookRule(k=3, tau=0.1, momentum=0.5, embed_dim=6, proj_hidden=10, **cfg)
    ctx = RunContext(model=model)
    rule.setup(model, ctx)
    return rule, ctx, model


def test_the_bank_changes_only_at_the_batch_rows_by_the_momentum_rule():
    rule, ctx, model = _rule()
    rule.step(_batch(list(range(12))), ctx)  # the first epoch fills slots 0..11
    assert rule.bank is not None and bool(rule.bank.filled.all())
    before = rule.bank.vectors.clone()
    rows = [1, 4, 9]
    batch = _batch(rows, seed=1)
    # the embedding this step computes (before its update): replay the forward with the same weights
    feature = model.features(batch["x"])
    z = F.normalize(rule.head(feature), dim=1).detach()
    rule.step(batch, ctx)
    after = rule.bank.vectors
    expected = F.normalize(0.5 * before[rows] + 0.5 * z, dim=1)
    torch.testing.assert_close(after[rows], expected)
    others = [i for i in range(12) if i not in rows]
    assert torch.equal(after[others], before[others])


def test_bank_state_and_head_round_trip_bit_exactly():
    rule, ctx, _ = _rule()
    for s in range(3):
        rule.step(_batch([(3 * s + i) % 10 for i in range(6)], seed=s), ctx)
    state = rule.state_dict()
    other, _ctx2, _ = _rule()
    other.load_state_dict(state)
    assert other.bank is not None and rule.bank is not None
    assert torch.equal(other.bank.vectors, rule.bank.vectors) and torch.equal(other.bank.labels, rule.bank.labels)
    assert torch.equal(other.bank.filled, rule.bank.filled)
    for a, b in zip(rule.head.parameters(), other.head.parameters(), strict=True):
        assert torch.equal(a, b)
    assert other.updates == rule.updates == 3


def test_a_batch_without_indices_is_a_clear_error():
    rule, ctx, _ = _rule()
    batch = _batch([0, 1, 2])
    del batch["idx"]
    with pytest.raises(ForwardkitError, match="idx"):
        rule.step(batch, ctx)


def test_random_unit_init_keeps_unknown_labels_as_negatives_until_seen():
    rule, ctx, _ = _rule(bank_init="random_unit", bank_size=20)
    assert rule.bank is not None and len(rule.bank) == 20 and bool((rule.bank.labels == -1).all())
    torch.testing.assert_close(rule.bank.vectors.norm(dim=1), torch.ones(20))
    rule.step(_batch([0, 1, 2, 3]), ctx)
    assert rule.bank.labels[:4].tolist() == [0, 1, 0, 1] and bool((rule.bank.labels[4:] == -1).all())


def test_predict_uses_the_knn_over_the_bank():
    rule, ctx, model = _rule()
    rule.step(_batch(list(range(10))), ctx)
    model.eval()
    out = rule.predict(model, _batch([0, 1, 2]))
    assert out.shape == (3, 2) and torch.allclose(out.exp().sum(1), torch.ones(3))


def _blobs(n: int = 60, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Class 0: two blobs far apart (modes A and B); class 1: one blob between them. 2-D inputs."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.tensor([[-4.0, 0.0], [4.0, 0.0], [0.0, 3.0]])
    mode = torch.arange(3).repeat_interleave(n)
    x = centres[mode] + 0.5 * torch.randn(3 * n, 2, generator=g)
    y = (mode == 2).long()
    return x, y, mode


def _separation(f: torch.Tensor, mode: torch.Tensor) -> float:
    """Bimodality of class 0: the cosine distance between the centres of its two modes over the mean cosine
    distance between class-0 and class-1 samples (1: the modes as far apart as the classes; 0: one point)."""
    u = F.normalize(f, dim=1)
    a, b, other = u[mode == 0], u[mode == 1], u[mode == 2]
    gap = 1.0 - F.normalize(a.mean(0), dim=0) @ F.normalize(b.mean(0), dim=0)
    between_classes = (1.0 - torch.cat([a, b]) @ other.T).mean()
    return float(gap / between_classes.clamp_min(1e-9))


def _encoder() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 8))


def test_look_keeps_a_two_mode_class_apart_and_ce_collapses_it_more():
    x, y, mode = _blobs()
    idx = torch.arange(len(y))
    look_enc, ce_enc = _encoder(), _encoder()
    head = nn.Linear(8, 2)
    opt_look = torch.optim.Adam(look_enc.parameters(), lr=1e-2)
    opt_ce = torch.optim.Adam([*ce_enc.parameters(), *head.parameters()], lr=1e-2)
    with torch.no_grad():
        bank = F.normalize(look_enc(x), dim=1)
    for _ in range(150):  # full-batch steps
        z = F.normalize(look_enc(x), dim=1)
        loss = look_loss(z, bank, y, y, k=5, tau=0.1, idx=idx)
        opt_look.zero_grad()
        loss.backward()
        opt_look.step()
        bank = F.normalize(0.5 * bank + 0.5 * z.detach(), dim=1)
        ce = F.cross_entropy(head(ce_enc(x)), y)
        opt_ce.zero_grad()
        ce.backward()
        opt_ce.step()
    with torch.no_grad():
        sep_look, sep_ce = _separation(look_enc(x), mode), _separation(ce_enc(x), mode)
        assert (head(ce_enc(x)).argmax(1) == y).float().mean() > 0.95  # CE did learn the task
    assert sep_look > 3.0 * sep_ce, (sep_look, sep_ce)


def test_ce_baseline_trains_the_head_with_the_task_loss():
    model = _model()
    rule = CEBaseline(lr=1e-2)
    ctx = RunContext(model=model, loss_fn=lambda out, b: F.cross_entropy(out, b["y"]))
    rule.setup(model, ctx)
    before = model.head.weight.clone()
    rule.step(_batch([0, 1, 2, 3]), ctx)
    assert not torch.equal(before, model.head.weight)
