"""The layer mapping of layer_sim.py: the card's cases, the dict-overwrite dedupe, explicit pairs."""

from __future__ import annotations

import pytest
from forwardkit_guidance.mapping import map_pairs, uniform_round


def names(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


def official(guide: list[str], target: list[str]) -> dict[str, str]:
    """The official code's surviving pairs, written out as it does: ``layer_supervision``'s guide -> target dict,
    then the distances stored by target tap (``sim_scores[tr_layer] = sim``), so the last guide tap wins."""
    step = (len(target) - 1) / (len(guide) - 1) if len(guide) > 1 else 1
    mapping = {g: target[min(round(i * step), len(target) - 1)] for i, g in enumerate(guide)}
    scores: dict[str, str] = {}
    for g, t in mapping.items():
        scores[t] = g
    return scores


def test_four_guide_taps_on_ten_target_taps():
    assert uniform_round(4, 10) == [0, 3, 6, 9]
    assert map_pairs(names("g", 4), names("t", 10)) == [("g0", "t0"), ("g1", "t3"), ("g2", "t6"), ("g3", "t9")]


def test_ten_guide_taps_on_four_target_taps_keep_the_codes_survivors():
    guide, target = names("g", 10), names("t", 4)
    assert uniform_round(10, 4) == [0, 0, 1, 1, 1, 2, 2, 2, 3, 3]  # Python's round: half to even
    pairs = map_pairs(guide, target, dedupe="last")
    assert pairs == [("g1", "t0"), ("g4", "t1"), ("g7", "t2"), ("g9", "t3")]
    assert {t: g for g, t in pairs} == official(guide, target)
    summed = map_pairs(guide, target, dedupe="sum")
    assert len(summed) == 10 and {g for g, _ in summed} == set(guide)


@pytest.mark.parametrize(("g", "s"), [(1, 1), (1, 5), (2, 7), (3, 3), (5, 2), (6, 6), (7, 3), (12, 5), (4, 6)])
def test_dedupe_last_matches_the_official_code(g, s):
    guide, target = names("g", g), names("t", s)
    assert {t: gg for gg, t in map_pairs(guide, target)} == official(guide, target)


def test_one_guide_tap_maps_to_target_zero():
    assert uniform_round(1, 7) == [0]
    assert map_pairs(["g"], names("t", 7)) == [("g", "t0")]


def test_the_reference_pairs_of_the_reproduction():
    """guidance_cnn (4 taps) on the 6-layer FCN (6 taps): conv1 -> L0, conv2 -> L2, conv3 -> L3, pool -> L5."""
    assert uniform_round(4, 6) == [0, 2, 3, 5]


def test_explicit_pairs_are_checked_against_the_taps():
    assert map_pairs(["a", "b"], ["x", "y"], mapping="explicit", pairs={"b": "x", "a": "x"}, dedupe="sum") == \
        [("a", "x"), ("b", "x")]
    assert map_pairs(["a", "b"], ["x", "y"], mapping="explicit", pairs={"b": "x", "a": "x"}) == [("b", "x")]
    with pytest.raises(ValueError, match="do not exist"):
        map_pairs(["a"], ["x"], mapping="explicit", pairs={"a": "z"})
    with pytest.raises(ValueError, match="at least one"):
        uniform_round(0, 3)
