"""Partition check (paper §3.1): for every query the direct set and the regions are disjoint and cover exactly its
support; Logsparse's term count (§4.2)."""

from __future__ import annotations

import math
from collections import Counter

import pytest
import torch
from forwardkit_combiner.logsparse import level_count, level_mask
from forwardkit_combiner.partition import Plan, partition

DISJOINT = [("fixed", True), ("fixed", False), ("logsparse", True), ("axial_rowmajor", True),
            ("axial_rowmajor", False), ("axial_vertical", True), ("axial_horizontal", True)]
LENGTHS = [12, 16, 64, 196]


def _coverage(plan: Plan) -> Counter[int]:
    counts = Counter(plan.direct)
    for region in plan.regions:
        assert region.members, "an empty region would have no abstraction"
        counts.update(region.members)
    return counts


@pytest.mark.parametrize(("variant", "causal"), DISJOINT)
@pytest.mark.parametrize("spatial", [(n,) for n in LENGTHS] + [(14, 14), (3, 4)])
def test_direct_set_and_regions_partition_the_support(variant, causal, spatial):
    length = math.prod(spatial)
    plans = partition(variant, spatial, causal=causal)
    assert len(plans) == length
    for i, plan in enumerate(plans):
        counts = _coverage(plan)
        assert max(counts.values()) == 1, f"query {i}: overlapping parts {plan}"
        assert set(counts) == set(range(i + 1) if causal else range(length)), f"query {i}: wrong support"
        assert i in plan.direct


@pytest.mark.parametrize("spatial", [(n,) for n in LENGTHS] + [(14, 14)])
def test_mixture_covers_the_past_and_counts_the_area_above_twice(spatial):
    """The official joint softmax: rows above, outside the query's column, are in a vertical and a horizontal
    region; everything else of [0, i] once."""
    from forwardkit_combiner.grid import segments

    _, m = segments(spatial, None)
    for i, plan in enumerate(partition("mixture", spatial)):
        counts = _coverage(plan)
        assert set(counts) == set(range(i + 1))
        s, u = divmod(i, m)
        twice = {t * m + c for t in range(s) for c in range(m) if c != u}
        assert {j for j, c in counts.items() if c == 2} == twice and max(counts.values()) <= 2


@pytest.mark.parametrize("length", LENGTHS)
def test_logsparse_has_popcount_terms_and_at_most_log_many(length):
    bound = math.ceil(math.log2(length)) + 2
    for i, plan in enumerate(partition("logsparse", (length,))):
        terms = len(plan.direct) + len(plan.regions)
        assert terms == bin(i).count("1") + 1 <= bound
        for region in plan.regions:  # dyadic, aligned, ending before i's block
            size = len(region.members)
            assert size & (size - 1) == 0 and region.members[0] % size == 0


@pytest.mark.parametrize("length", [17, 196])
def test_the_kernels_level_masks_give_each_query_popcount_region_logits(length):
    """The vectorised kernel unmasks the level-l logit of query i exactly when bit l of i is set; bit_length(L-1)
    levels reach every query (the official ceil(log2(L-1)) misses i = 16 at L = 17)."""
    levels = torch.stack([level_mask(length, lv) for lv in range(level_count(length))])
    assert torch.equal(levels.sum(0), torch.tensor([bin(i).count("1") for i in range(length)]))
    assert level_count(17) == 5 > math.ceil(math.log2(16))
