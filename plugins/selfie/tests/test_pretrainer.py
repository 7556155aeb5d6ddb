"""The pretrainer's mechanism (card tests 2, 3 and 6): no leakage of the masked patches into u, P applied per
patch, and factorised positions."""

from __future__ import annotations

import torch
from forwardkit_selfie.pretrainer import context_indices

import forwardkit

SMALL = {"name": "selfie_pretrainer", "embed_dim": 16, "pool_layers": 1, "pool_heads": 2, "in_channels": 1}


def _model(**kw):
    torch.manual_seed(0)
    return forwardkit.build_model({**SMALL, **kw}).eval()


def test_changing_masked_patches_changes_only_the_candidates():
    m = _model()
    x = torch.rand(2, 32, 32, 1)
    masked = torch.tensor([[0, 5, 10, 15], [3, 4, 8, 12]])
    x2 = x.clone()
    for b in range(2):  # new pixels in every masked patch of every image
        for k in masked[b].tolist():
            r, c = (k // 4) * 8, (k % 4) * 8
            x2[b, r:r + 8, c:c + 8] = torch.rand(8, 8, 1)
    with torch.no_grad():
        q1, h1 = m.pretext(x, masked)
        q2, h2 = m.pretext(x2, masked)
    assert torch.equal(q1, q2)  # the queries u + pos(i) (so u) see the visible patches only
    assert not torch.allclose(h1, h2)  # the candidates are the masked patches themselves


def test_changing_a_visible_patch_changes_u():
    m = _model()
    x = torch.rand(1, 32, 32, 1)
    masked = torch.tensor([[0, 5, 10, 15]])
    x2 = x.clone()
    x2[0, 0:8, 8:16] = 1.0  # patch 1 is visible
    with torch.no_grad():
        assert not torch.allclose(m.pretext(x, masked)[0], m.pretext(x2, masked)[0])


def test_the_patch_network_sees_one_patch_at_a_time():
    m = _model()
    x = torch.rand(1, 32, 32, 1)
    x2 = x.clone()
    x2[0, 8:16, 16:24] = torch.rand(8, 8, 1)  # patch 1 * 4 + 2 = 6
    with torch.no_grad():
        h1, h2 = m.embed_patches(x), m.embed_patches(x2)
    changed = [j for j in range(16) if not torch.equal(h1[0, j], h2[0, j])]
    assert changed == [6]


def test_positions_are_factorised():
    m = _model()
    pos = m.pos
    with torch.no_grad():
        def p(r, c):
            return pos(torch.tensor([r * 4 + c]))[0]
        for c, c2 in ((0, 3), (1, 2)):
            diffs = [p(r, c) - p(r, c2) for r in range(4)]
            for d in diffs[1:]:
                assert torch.allclose(d, diffs[0], atol=1e-6)  # pos(r, c) - pos(r, c') does not depend on r
    assert sum(t.numel() for t in pos.parameters()) == 2 * 4 * 16  # 2 G d


def test_context_is_the_complement_of_the_mask():
    masked = torch.tensor([[3, 0, 9], [15, 14, 1]])
    ctx = context_indices(masked, 16)
    for b in range(2):
        assert sorted(ctx[b].tolist() + masked[b].tolist()) == list(range(16))
        assert ctx[b].tolist() == sorted(ctx[b].tolist())


def test_context_positions_are_optional():
    """With context_pos_emb, u depends on where the visible patches are; without it, not (A has no positions)."""
    x = torch.rand(1, 32, 32, 1)
    for flag in (False, True):
        m = _model(context_pos_emb=flag)
        with torch.no_grad():
            h = m.embed_patches(x)
            ctx = torch.tensor([[0, 1, 2, 3]])
            u1 = m.encode(h[:, :4], ctx)
            u2 = m.encode(h[:, :4], torch.tensor([[12, 13, 14, 15]]))
        assert torch.allclose(u1, u2, atol=1e-6) != flag


def test_without_a_mask_the_model_embeds_the_whole_image():
    m = _model()
    out = m(torch.rand(3, 28, 28, 1))  # 28 x 28 digits are padded to 32 x 32
    assert out.shape == (3, 16)
