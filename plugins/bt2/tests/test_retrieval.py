"""compat_retrieval (card "Tests"): truncation to min(dim), a brute-force CMC / mAP, self-matches excluded."""

from __future__ import annotations

import pytest
import torch
from forwardkit_bt2.retrieval import default_pairs, retrieval_metrics

import forwardkit


def _brute(q, g, ql, gl, ks, same):
    m = min(q.shape[1], g.shape[1])
    hits = {k: 0 for k in ks}
    aps = []
    for i in range(q.shape[0]):
        cands = [j for j in range(g.shape[0]) if not (same and j == i)]
        dist = {j: 1.0 - float(q[i, :m] @ g[j, :m]) for j in cands}
        ranked = sorted(cands, key=lambda j: (dist[j], j))
        rel = [int(gl[j] == ql[i]) for j in ranked]
        for k in ks:
            hits[k] += int(any(rel[:k]))
        if sum(rel):
            found, precisions = 0, []
            for r, is_rel in enumerate(rel, start=1):
                if is_rel:
                    found += 1
                    precisions.append(found / r)
            aps.append(sum(precisions) / len(precisions))
    out = {f"top{k}": hits[k] / q.shape[0] for k in ks}
    out["map"] = sum(aps) / len(aps)
    return out


@pytest.mark.parametrize(("dq", "dg"), [(5, 5), (7, 4), (3, 6)])
def test_matches_a_brute_force_implementation_on_the_common_prefix(dq, dg):
    gen = torch.Generator().manual_seed(dq * 10 + dg)
    n = 12
    q, g = torch.randn(n, dq, generator=gen), torch.randn(n, dg, generator=gen)
    labels = torch.randint(0, 3, (n,), generator=gen)
    got = retrieval_metrics(q, g, labels, labels, topk=(1, 3), same_samples=True)
    want = _brute(q.double(), g.double(), labels, labels, (1, 3), True)
    assert got == pytest.approx(want, abs=1e-9)
    m = min(dq, dg)  # only the common prefix counts
    assert retrieval_metrics(q[:, :m], g[:, :m], labels, labels, topk=(1, 3)) == pytest.approx(got)
    if dg >= dq:  # more gallery dimensions than query ones are never read
        padded = torch.cat([g, torch.randn(n, 2, generator=gen)], dim=1)
        assert retrieval_metrics(q, padded, labels, labels, topk=(1, 3)) == pytest.approx(got)


def test_self_matches_are_excluded():
    x = torch.eye(4)  # every sample is only similar to itself
    labels = torch.tensor([0, 0, 1, 1])
    with_self = retrieval_metrics(x, x, labels, labels, topk=(1,), same_samples=False)
    without = retrieval_metrics(x, x, labels, labels, topk=(1,), same_samples=True)
    assert with_self["top1"] == 1.0
    assert without == pytest.approx(_brute(x.double(), x.double(), labels, labels, (1,), True))
    # without itself every other sample ties (score 0): gallery order decides, so queries 0 and 1 find their
    # class first (AP 1) and queries 2 and 3 last (AP 1/3)
    assert without["top1"] == pytest.approx(0.5) and without["map"] == pytest.approx((1 + 1 + 1 / 3 + 1 / 3) / 4)


def test_analyzer_reports_the_compatibility_table_of_a_system():
    model = forwardkit.build_model({"name": "compat_system", "image_size": 8,
                                    "members": {"old": {"name": "bt2_cnn", "widths": [4], "embed_dim": 4},
                                                "new": {"name": "bt2_cnn", "widths": [4], "embed_dim": 8,
                                                        "norm_feature": False}},
                                    "adapters": {"new": [{"name": "basis_transform_head", "d_new": 4, "d_old": 4,
                                                          "to_add": 2}]},
                                    "train": "new"})
    gen = torch.Generator().manual_seed(0)
    data = [{"x": torch.rand(10, 8, 8, 1, generator=gen), "y": torch.arange(10) % 3} for _ in range(2)]
    analysis = forwardkit.create("analyzer", "compat_retrieval").analyze(model, data)
    keys = set(analysis.numbers)
    assert {"top1/old-old", "top1/new-new", "top1/new-old", "map/new-old", "top5/new-old"} <= keys
    assert analysis.numbers["samples"] == 20 and analysis.numbers["unused_old_branch/new"] == pytest.approx(0.5)
    assert [(r["query"], r["gallery"], r["dims"]) for r in analysis.tables["compatibility"]] == [
        ("old", "old", 4), ("new", "new", 6), ("new", "old", 4)]
    assert default_pairs(["a", "b"], "zz") == [("a", "a"), ("b", "b")]
