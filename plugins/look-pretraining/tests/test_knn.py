"""The card's tests of the LOOK loss itself (functional form, tiny tensors): leave-one-out, NCA at k = N - 1, the
0 / log 2 cases, a constant bank, top-k locality, the empty-neighbourhood fallback, and chunked == reference."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from forwardkit_look_pretraining.knn import (
    knn_class_log_probs,
    look_loss,
    look_loss_reference,
    momentum_update,
    nca_loss_reference,
    topk_neighbours,
)


def _unit(*shape: int, seed: int = 0, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return F.normalize(torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype), dim=-1)


def _problem(b: int = 6, n: int = 40, d: int = 5, classes: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed + 1)
    bank = _unit(n, d, seed=seed)
    bank_labels = torch.randint(0, classes, (n,), generator=g)
    idx = torch.randperm(n, generator=g)[:b]
    z = F.normalize(bank[idx] + 0.3 * _unit(b, d, seed=seed + 2), dim=1)  # near their own slots
    return z, bank, bank_labels, bank_labels[idx].clone(), idx


def test_the_own_slot_is_never_a_neighbour():
    z, bank, _bank_labels, _labels, idx = _problem()
    bank = bank.clone()
    bank[idx] = z  # the bank holds each sample's exact embedding: similarity 1, the nearest without LOO
    _, nb = topk_neighbours(z, bank, k=10, idx=idx)
    assert not (nb == idx.unsqueeze(1)).any()
    _, nb_no_loo = topk_neighbours(z, bank, k=10)
    assert (nb_no_loo[:, 0] == idx).all()  # the check can fail: without idx the own slot comes first


def test_a_bank_with_exact_copies_at_the_own_slots_gives_the_loss_of_the_bank_without_them():
    z, bank, bank_labels, labels, idx = _problem()
    keep = torch.ones(len(bank), dtype=torch.bool)
    keep[idx] = False
    base, base_labels = bank[keep], bank_labels[keep]
    for i in range(len(z)):  # sample i's exact copy in its own slot (appended at the end), the others absent
        without = look_loss(z[i:i + 1], base, base_labels, labels[i:i + 1], k=7, tau=0.1)
        copies = torch.cat([base, z[i:i + 1]])
        own = torch.tensor([len(base)])
        copy_labels = torch.cat([base_labels, labels[i:i + 1]])
        with_copy = look_loss(z[i:i + 1], copies, copy_labels, labels[i:i + 1], k=7, tau=0.1, idx=own)
        assert with_copy.item() == pytest.approx(without.item(), abs=1e-12)
        leaky = look_loss(z[i:i + 1], copies, copy_labels, labels[i:i + 1], k=7, tau=0.1)  # forgetting LOO
        assert leaky.item() < without.item() - 1e-3


def test_k_equal_n_minus_1_is_memory_bank_nca():
    z, bank, bank_labels, labels, idx = _problem(n=30)
    look = look_loss(z, bank, bank_labels, labels, k=len(bank) - 1, tau=0.2, idx=idx)
    nca = nca_loss_reference(z, bank, bank_labels, labels, tau=0.2, idx=idx)
    assert look.item() == pytest.approx(nca.item(), abs=1e-6)


def test_all_neighbours_positive_gives_zero_and_half_of_equal_weights_gives_log_2():
    d = 4
    query = torch.tensor([[1.0, 0.0, 0.0, 0.0]], dtype=torch.float64)
    same = query.repeat(6, 1)  # six neighbours at the same similarity: equal weights
    far = -query.repeat(10, 1)  # never among the 6 nearest
    bank = torch.cat([same, far])
    labels = torch.tensor([1])
    all_pos = torch.cat([torch.ones(6, dtype=torch.long), torch.zeros(10, dtype=torch.long)])
    assert look_loss(query, bank, all_pos, labels, k=6, tau=0.07).item() == pytest.approx(0.0, abs=1e-6)
    half = all_pos.clone()
    half[:3] = 0
    assert look_loss(query, bank, half, labels, k=6, tau=0.07, eps=1e-12).item() == pytest.approx(math.log(2),
                                                                                                    abs=1e-6)
    assert bank.shape[1] == d


def test_the_bank_gets_no_gradient_and_z_does():
    z, bank, bank_labels, labels, idx = _problem()
    z = z.clone().requires_grad_(True)
    bank = bank.clone().requires_grad_(True)
    look_loss(z, bank, bank_labels, labels, k=5, tau=0.1, idx=idx).backward()
    assert bank.grad is None or torch.count_nonzero(bank.grad) == 0
    assert z.grad is not None and torch.count_nonzero(z.grad) > 0


def test_a_bank_row_outside_the_top_k_has_no_influence():
    z, bank, bank_labels, labels, idx = _problem()
    per = look_loss(z, bank, bank_labels, labels, k=5, tau=0.1, idx=idx, reduction="none")
    _, nb = topk_neighbours(z, bank, k=5, idx=idx)
    outside = [j for j in range(len(bank)) if j not in set(nb[0].tolist()) and j != int(idx[0])]
    # move a non-neighbour of sample 0, staying less similar than its k-th neighbour
    j = outside[0]
    kth = float(z[0] @ bank[nb[0, -1]])
    moved = bank.clone()
    cand = F.normalize(bank[j] + 0.2 * _unit(bank.shape[1], seed=9), dim=0)
    assert float(z[0] @ cand) < kth
    moved[j] = cand
    moved_labels = bank_labels.clone()
    moved_labels[j] = (moved_labels[j] + 1) % 3
    after = look_loss(z, moved, moved_labels, labels, k=5, tau=0.1, idx=idx, reduction="none")
    assert after[0].item() == per[0].item()
    # a neighbour's label does matter (the test can fail)
    flipped = bank_labels.clone()
    flipped[nb[0, 0]] = labels[0] if bank_labels[nb[0, 0]] != labels[0] else (labels[0] + 1) % 3
    assert look_loss(z, bank, flipped, labels, k=5, tau=0.1, idx=idx, reduction="none")[0].item() != per[0].item()


def test_eps_gives_a_finite_loss_when_no_neighbour_shares_the_label():
    z, bank, _, _, idx = _problem()
    bank_labels = torch.zeros(len(bank), dtype=torch.long)
    labels = torch.ones(len(z), dtype=torch.long)
    loss = look_loss(z, bank, bank_labels, labels, k=5, tau=0.1, idx=idx, empty_policy="eps", eps=1e-8)
    assert torch.isfinite(loss) and loss.item() == pytest.approx(-math.log(1e-8), rel=1e-6)
    z2 = z.clone().requires_grad_(True)
    look_loss(z2, bank, bank_labels, labels, k=5, tau=0.1, idx=idx).backward()
    assert torch.isfinite(z2.grad).all()


def test_append_nearest_positive_adds_the_closest_same_label_entry():
    query = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    bank = F.normalize(torch.tensor([[1.0, 0.1], [1.0, 0.2], [0.0, 1.0], [-1.0, 0.0]], dtype=torch.float64), dim=1)
    bank_labels = torch.tensor([0, 0, 1, 1])
    labels = torch.tensor([1])
    loss = look_loss(query, bank, bank_labels, labels, k=2, tau=0.5, empty_policy="append_nearest_positive")
    s = bank @ query[0]
    w = torch.exp(s / 0.5)
    expected = -torch.log(w[2] / (w[0] + w[1] + w[2]))  # slot 2 (the nearest positive) joins the two negatives
    assert loss.item() == pytest.approx(expected.item(), abs=1e-10)
    ref = look_loss_reference(query, bank, bank_labels, labels, k=2, tau=0.5, empty_policy="append_nearest_positive")
    assert ref.item() == pytest.approx(expected.item(), abs=1e-10)


@pytest.mark.parametrize("policy", ["eps", "append_nearest_positive"])
@pytest.mark.parametrize("chunk", [1, 7, 16, 1000])
def test_chunked_equals_the_unchunked_reference_in_value_and_gradient(policy, chunk):
    z, bank, bank_labels, labels, idx = _problem(b=8, n=50, classes=4, seed=3)
    bank_labels[:5] = -1  # unknown labels: neighbours, never positives
    valid = torch.ones(len(bank), dtype=torch.bool)
    valid[10:14] = False  # empty slots: never neighbours
    za, zb = z.clone().requires_grad_(True), z.clone().requires_grad_(True)
    a = look_loss(za, bank, bank_labels, labels, k=6, tau=0.1, idx=idx, valid=valid, empty_policy=policy,
                  chunk_size=chunk, reduction="none")
    b = look_loss_reference(zb, bank, bank_labels, labels, k=6, tau=0.1, idx=idx, valid=valid, empty_policy=policy,
                            reduction="none")
    torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
    a.sum().backward()
    b.sum().backward()
    torch.testing.assert_close(za.grad, zb.grad, rtol=1e-9, atol=1e-10)


def test_the_chunked_top_k_matches_a_full_sort():
    z, bank, _, _, idx = _problem(b=5, n=64, seed=4)
    for chunk in (3, 10, 64):
        s, i = topk_neighbours(z, bank, k=9, idx=idx, chunk_size=chunk)
        full = (z @ bank.T).scatter(1, idx.unsqueeze(1), float("-inf"))
        fs, fi = full.topk(9, dim=1)
        torch.testing.assert_close(s, fs)
        assert torch.equal(i, fi)


def test_momentum_update_renormalises_only_the_named_rows():
    bank = _unit(10, 4, seed=5)
    old = bank.clone()
    idx = torch.tensor([2, 7])
    z = _unit(2, 4, seed=6)
    momentum_update(bank, idx, z, 0.5)
    expected = F.normalize(0.5 * old[idx] + 0.5 * z, dim=1)
    torch.testing.assert_close(bank[idx], expected)
    others = torch.ones(10, dtype=torch.bool)
    others[idx] = False
    assert torch.equal(bank[others], old[others])
    momentum_update(bank, idx, z, 0.0)
    torch.testing.assert_close(bank[idx], z)


def test_knn_prediction_votes_with_the_neighbour_weights():
    bank = F.normalize(torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]], dtype=torch.float64), dim=1)
    labels = torch.tensor([0, 0, 1])
    logp = knn_class_log_probs(torch.tensor([[1.0, 0.05]], dtype=torch.float64), bank, labels, num_classes=2, k=2,
                               tau=0.1)
    assert logp.argmax(1).item() == 0 and torch.exp(logp).sum().item() == pytest.approx(1.0)
