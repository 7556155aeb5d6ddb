"""The PFN transformer: the train/query mask, permutation invariance, query independence, training tokens blind to
queries, the zero init, the split attention against the masked one, and parity with the official structure
(torch's TransformerEncoder with generate_D_q_matrix) under copied weights."""

from __future__ import annotations

import pytest
import torch
from forwardkit_pfn.mask import d_q_matrix_reference, pfn_attention_mask
from forwardkit_pfn.model import PFNTransformer, parameter_count
from torch import nn

import forwardkit
from forwardkit.errors import ForwardkitError


def _model(**kw) -> PFNTransformer:
    torch.manual_seed(0)
    cfg = {"d_model": 16, "n_heads": 2, "n_layers": 2, "d_ff": 24, "num_buckets": 12, "zero_init": False, **kw}
    model = PFNTransformer(**cfg)
    return model.eval()


def _data(b: int = 3, t: int = 9, d: int = 1, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, t, d, generator=g), torch.randn(b, t, generator=g)


@pytest.mark.parametrize("s", [0, 1, 4, 7])
def test_mask_allows_exactly_training_columns_and_the_diagonal(s):
    t = 7
    mask = pfn_attention_mask(t, s)
    assert mask.shape == (t, t) and mask.dtype == torch.bool
    for row in range(t):
        for col in range(t):
            assert bool(mask[row, col]) == (col < s or col == row)
    ref = d_q_matrix_reference(t, t - s)  # the official additive mask
    assert torch.equal(ref == 0, mask)


def test_mask_for_s_zero_lets_queries_see_only_themselves():
    assert torch.equal(pfn_attention_mask(5, 0), torch.eye(5, dtype=torch.bool))
    # without query self-attention a query row with no training column keeps its own key (else no key at all)
    assert torch.equal(pfn_attention_mask(5, 0, query_self_attention=False), torch.eye(5, dtype=torch.bool))
    m = pfn_attention_mask(5, 2, query_self_attention=False)
    assert m[:, :2].all() and not m[:, 2:].any()


def test_per_dataset_mask_stacks_the_single_masks():
    s = torch.tensor([0, 3, 5])
    mask = pfn_attention_mask(6, s)
    assert mask.shape == (3, 6, 6)
    for i, si in enumerate(s.tolist()):
        assert torch.equal(mask[i], pfn_attention_mask(6, si))


def test_permuting_training_points_leaves_query_outputs_unchanged():
    model, (x, y) = _model(), _data()
    s = 6
    out = model(x, y, s)[:, s:]
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    x2, y2 = x.clone(), y.clone()
    x2[:, :s], y2[:, :s] = x[:, perm], y[:, perm]
    assert torch.allclose(model(x2, y2, s)[:, s:], out, atol=1e-5)
    # the outputs do depend on the training set (not a trivial invariance)
    y3 = y.clone()
    y3[:, 0] += 1.0
    assert not torch.allclose(model(x, y3, s)[:, s:], out, atol=1e-4)


def test_changing_one_query_leaves_the_other_queries_unchanged():
    model, (x, y) = _model(), _data()
    s = 4
    out = model(x, y, s)
    x2 = x.clone()
    x2[:, 6] += 0.5
    changed = model(x2, y, s)
    others = [t for t in range(s, x.shape[1]) if t != 6]
    assert torch.allclose(changed[:, others], out[:, others], atol=1e-6)
    assert not torch.allclose(changed[:, 6], out[:, 6], atol=1e-4)
    # the query ys are never read
    y2 = y.clone()
    y2[:, s:] = torch.randn(3, x.shape[1] - s) * 100
    assert torch.equal(model(x, y2, s), out)


def test_training_tokens_never_see_queries():
    model, (x, y) = _model(), _data()
    s = 5
    states = model.hidden_states(x, y, s)
    x2 = x.clone()
    x2[:, s:] = torch.rand(3, x.shape[1] - s, 1)
    states2 = model.hidden_states(x2, y, s)
    for a, b in zip(states, states2, strict=True):
        assert torch.equal(a[:, :s], b[:, :s])
    assert not torch.allclose(states[-1][:, s:], states2[-1][:, s:])


def test_zero_init_makes_every_residual_branch_exactly_zero():
    torch.manual_seed(0)
    model = PFNTransformer(d_model=16, n_heads=2, n_layers=3, d_ff=24, num_buckets=12)
    x, y = _data()
    s = torch.tensor([2, 0, 5])
    h = model.embed(x, y, s)
    mask = pfn_attention_mask(x.shape[1], s).unsqueeze(1)
    for layer in model.layers:
        assert torch.equal(layer.attention_branch(h, mask, None), torch.zeros_like(h))
        assert torch.equal(layer.ffn(h), torch.zeros_like(h))
        h = layer(h, mask)
    # the non-zero-init model's branches are not zero
    other = _model()
    assert other.layers[0].ffn(h).abs().sum() > 0


@pytest.mark.parametrize("self_attention", [True, False])
@pytest.mark.parametrize("s", [0, 1, 5, 9])
def test_split_attention_agrees_with_the_masked_reference(s, self_attention):
    masked = _model(query_self_attention=self_attention)
    split = _model(query_self_attention=self_attention, attention="split")
    split.load_state_dict(masked.state_dict())
    x, y = _data()
    assert torch.allclose(split(x, y, s), masked(x, y, s), atol=1e-5)


def test_split_attention_falls_back_to_the_mask_for_mixed_eval_positions():
    masked = _model()
    split = _model(attention="split")
    split.load_state_dict(masked.state_dict())
    x, y = _data()
    s = torch.tensor([1, 2, 3])
    assert torch.allclose(split(x, y, s), masked(x, y, s), atol=1e-6)


def test_per_dataset_eval_pos_equals_one_forward_per_dataset():
    model, (x, y) = _model(), _data()
    s = torch.tensor([0, 3, 6])
    out = model(x, y, s)
    for i, si in enumerate(s.tolist()):
        assert torch.allclose(out[i : i + 1], model(x[i : i + 1], y[i : i + 1], si), atol=1e-6)


def test_parity_with_the_official_transformer_under_copied_weights():
    """transformer.py's TransformerModel: nn.TransformerEncoder(TransformerEncoderLayer(ninp, nhead, nhid, 0,
    activation='gelu')), encoder + y_encoder summed on the first s tokens, generate_D_q_matrix, output[s:]."""
    model = _model()
    d, heads, ff = 16, 2, 24
    torch.manual_seed(1)
    layer = nn.TransformerEncoderLayer(d, heads, ff, 0.0, activation="gelu")
    official = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False).eval()
    with torch.no_grad():
        for ours, theirs in zip(model.layers, official.layers, strict=True):
            theirs.self_attn.in_proj_weight.copy_(ours.attn.qkv.weight)
            theirs.self_attn.in_proj_bias.copy_(ours.attn.qkv.bias)
            theirs.self_attn.out_proj.weight.copy_(ours.attn.proj.weight)
            theirs.self_attn.out_proj.bias.copy_(ours.attn.proj.bias)
            for a, b in ((theirs.linear1, ours.ffn.fc1), (theirs.linear2, ours.ffn.fc2), (theirs.norm1, ours.norm1),
                         (theirs.norm2, ours.norm2)):
                a.weight.copy_(b.weight)
                a.bias.copy_(b.bias)
    x, y = _data()
    s = 4
    xs, ys = x.transpose(0, 1), y.transpose(0, 1)  # (T, B, .) as the official code
    x_src, y_src = model.encoder(xs), model.y_encoder(ys.unsqueeze(-1))
    src = torch.cat([x_src[:s] + y_src[:s], x_src[s:]], 0)
    with torch.no_grad():
        ref = model.decoder(official(src, d_q_matrix_reference(x.shape[1], x.shape[1] - s)))[s:]
        ours_out = model(x, y, s)[:, s:]
    assert torch.allclose(ours_out, ref.transpose(0, 1), atol=1e-5)
    # the same parameter count as the official structure (and the closed form)
    n_official = sum(p.numel() for p in official.parameters())
    n_ours = sum(p.numel() for n, p in model.named_parameters() if n.startswith("layers."))
    assert n_ours == n_official
    assert sum(p.numel() for p in model.parameters()) == parameter_count(model.config)


def test_card_preset_size_and_clear_errors():
    model = forwardkit.build_model({"name": "pfn_transformer"})
    assert sum(p.numel() for p in model.parameters()) == parameter_count(model.config) == 589_156
    with pytest.raises(ForwardkitError, match=r"x of shape \(B, T, 1\)"):
        model(torch.rand(2, 5, 3), torch.randn(2, 5), 2)
    with pytest.raises(ForwardkitError, match="needs eval_pos"):
        model(torch.rand(2, 5, 1), torch.randn(2, 5))
    with pytest.raises(Exception, match="divisible by n_heads"):
        forwardkit.build_model({"name": "pfn_transformer", "d_model": 10, "n_heads": 4})


def test_predict_is_the_query_slice_of_one_forward():
    model, (x, y) = _model(), _data()
    logits = model.predict(x[:, :4], y[:, :4], x[:, 4:])
    assert logits.shape == (3, 5, 12)
    assert torch.allclose(logits, model(x, y, 4)[:, 4:], atol=1e-6)
