"""Card test: the reference unified model has exactly 15,130 parameters, one branch with its head 4,978, and every
model's count equals the analytic formula (conv: out*in*k*k + out; linear: out*in + out) for any config; the
analytic MACs equal torch's FLOP counter."""

from __future__ import annotations

import itertools

import pytest
from forwardkit_lightweight_cnn import sizes
from forwardkit_lightweight_cnn.config import TinyBranchCNNConfig, UnifiedModelConfig
from hypothesis import given, settings
from hypothesis import strategies as st

import forwardkit
from forwardkit.measure import count_macs


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def test_reference_counts_are_the_cards():
    unified = forwardkit.create("model", "unified_model")
    branch = forwardkit.create("model", "tiny_branch_cnn")
    dual = forwardkit.create("model", "dual_io_model")
    assert n_params(unified) == 15_130
    assert n_params(branch) == 4_978
    assert n_params(branch.trunk) == 4_728 == 80 + 1_168 + 3_480
    assert n_params(unified.head) == 4_704 + 970
    assert n_params(dual) == 2 * 4_978
    cfg = UnifiedModelConfig()
    assert sizes.unified_parameters(cfg) == 15_130 and sizes.trunk_parameters(cfg) == 4_728
    assert sizes.branch_parameters(TinyBranchCNNConfig()) == 4_978


trunks = st.fixed_dictionaries({
    "in_channels": st.integers(1, 3),
    "widths": st.lists(st.integers(1, 12), min_size=1, max_size=4),
    "kernel": st.sampled_from([1, 3, 5]),
    "batchnorm": st.booleans(),
    "gap": st.booleans(),
    "num_classes": st.integers(2, 12),
}).flatmap(lambda d: st.tuples(st.just(d), st.lists(st.booleans(), min_size=len(d["widths"]),
                                                      max_size=len(d["widths"]))))


@settings(max_examples=15, deadline=None)
@given(trunks, st.integers(1, 40))
def test_every_config_has_exactly_the_analytic_count(trunk, hidden):
    fields, pools = trunk
    fields = {**fields, "pool_after": pools, "input_size": [16, 16]}
    unified = forwardkit.create("model", "unified_model", **fields, head_hidden=hidden)
    branch = forwardkit.create("model", "tiny_branch_cnn", **fields)
    dual = forwardkit.create("model", "dual_io_model", **fields)
    assert n_params(unified) == sizes.unified_parameters(unified.config)
    assert n_params(branch) == sizes.branch_parameters(branch.config)
    assert n_params(dual) == sizes.dual_parameters(dual.config)
    # the formula itself, written out: conv out*in*k*k + out (+ 2*out BatchNorm), linear out*in + out
    chans = [fields["in_channels"], *fields["widths"]]
    k, bn = fields["kernel"], fields["batchnorm"]
    trunk_n = sum(b * a * k * k + b + (2 * b if bn else 0) for a, b in itertools.pairwise(chans))
    feats = fields["widths"][-1] * (1 if fields["gap"] else (16 >> sum(pools)) ** 2)
    c = fields["num_classes"]
    assert n_params(unified) == 2 * trunk_n + (hidden * 2 * feats + hidden) + (c * hidden + c)
    assert n_params(branch) == trunk_n + c * feats + c


@pytest.mark.parametrize("name", ["unified_model", "tiny_branch_cnn", "dual_io_model"])
def test_analytic_macs_match_torchs_flop_counter(name):
    model = forwardkit.create("model", name).eval()
    batch = model.example_batch(1)
    fn = {"unified_model": sizes.unified_macs, "tiny_branch_cnn": sizes.branch_macs,
          "dual_io_model": sizes.dual_macs}[name]
    assert count_macs(lambda: model.forward_batch(batch)) == fn(model.config)
    if name == "unified_model":  # two trunks: twice one trunk's MACs, plus the head
        cfg = model.config
        assert fn(cfg) == 2 * sizes.trunk_macs(cfg) + 48 * 96 + 96 * 10
