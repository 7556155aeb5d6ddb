"""The card's sharing tests: one copy of each shared tensor, the same attention/MoE objects in every block, distinct
LayerNorms, gradients of shared weights = sum over blocks, routing that differs across blocks only through the
norms; for the ``widenet`` adapter on a builtin MetaFormer and for ``WideNetViT``."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
from forwardkit_widenet.adapter import SMALL_METAFORMER, WideNetAdapter
from forwardkit_widenet.moe import MoEFFN
from forwardkit_widenet.records import moe_layers
from forwardkit_widenet.routing import route
from forwardkit_widenet.sharing import SharedModule, block_stacks, owner, widen
from forwardkit_widenet.sizes import shared_tensor_names
from forwardkit_widenet.vit import WideNetViT
from safetensors.torch import save

import forwardkit

SMALL = {"image_size": [8, 8], "in_channels": 1, "patch": 2, "depth": 4, "dim": 16, "heads": 2, "num_classes": 3,
         "dropout": 0.0}


def assert_close(a: torch.Tensor, b: torch.Tensor, rtol: float = 1.3e-6, atol: float = 1e-5) -> None:
    """``torch.allclose`` with the largest difference in the message (torch.testing.assert_close imports
    torch.distributed on first use, seconds of the test budget)."""
    assert a.shape == b.shape, f"shapes {tuple(a.shape)} != {tuple(b.shape)}"
    assert torch.allclose(a, b, rtol=rtol, atol=atol), f"max abs diff {float((a - b).abs().max()):.3g}"



def _metaformer(depth: int = 3) -> Any:
    torch.manual_seed(0)
    spec = {**SMALL_METAFORMER, "depths": [depth, 2]}
    return forwardkit.build_model(spec)


def test_the_adapter_shares_mixers_once_and_keeps_norms_per_block() -> None:
    model = _metaformer()
    before = sum(p.numel() for p in model.parameters())
    adapted = WideNetAdapter().apply(model)
    assert adapted is not model
    for blocks in block_stacks(adapted):
        first = blocks[0]
        assert isinstance(first.channel_mixer, MoEFFN)
        for block in blocks[1:]:
            assert isinstance(block.token_mixer, SharedModule) and owner(block.token_mixer) is first.token_mixer
            assert owner(block.channel_mixer) is first.channel_mixer
            assert block.norm1 is not first.norm1 and block.norm2 is not first.norm2
            assert block.norm1.weight.data_ptr() != first.norm1.weight.data_ptr()
    assert not shared_tensor_names(adapted)  # each shared tensor registered once
    counted = sum(p.numel() for p in adapted.parameters())
    assert counted == sum(p.numel() for p in {id(p): p for p in adapted.parameters()}.values())
    assert counted != before
    save({k: v.contiguous() for k, v in adapted.state_dict().items()})  # a checkpoint can hold it


def test_parameter_count_is_one_block_plus_experts_plus_norms() -> None:
    model = _metaformer(depth=4)
    adapted = widen(model, ffn="dense")  # share without MoE: one attention, one FFN, T pairs of norms per stack
    stage = adapted.stages[0].blocks
    per_block_norms = sum(p.numel() for b in stage for n in (b.norm1, b.norm2) for p in n.parameters())
    shared = sum(p.numel() for p in stage[0].token_mixer.parameters()) + sum(
        p.numel() for p in stage[0].channel_mixer.parameters())
    assert sum(p.numel() for p in stage.parameters()) == shared + per_block_norms


def test_the_moe_starts_as_copies_of_the_dense_ffn() -> None:
    model = _metaformer()
    model.eval()
    x = model.example_batch(2)["x"]
    reference = model(x)
    # equal experts and gates summing to 1: each MoE computes the FFN it replaced
    per_block = WideNetAdapter(init_noise=0.0, share_attention=False, share_ffn=False,
                               moe={"normalize_topk": True}).apply(model).eval()
    assert_close(per_block(x), reference, rtol=1e-4, atol=1e-5)
    shared = WideNetAdapter(init_noise=0.0, moe={"normalize_topk": True}).apply(model).eval()
    assert_close(shared(x), widen(model, ffn="dense").eval()(x), rtol=1e-4, atol=1e-5)
    noisy = WideNetAdapter(init_noise=0.05).apply(model)
    moe: Any = noisy.stages[0].blocks[0].channel_mixer
    assert not torch.equal(moe.w1[0], moe.w1[1])


def test_the_adapter_loss_is_lambda_times_the_sum_over_blocks() -> None:
    adapter = WideNetAdapter(aux_weight=0.5)
    model = adapter.apply(_metaformer(depth=3)).train()
    batch = model.example_batch(2)
    out = model(batch["x"])
    calls = [r.aux_loss for _, layer in moe_layers(model) for r in layer.records]
    assert len(calls) == 3 + 2  # one per block of each stage
    loss = adapter.loss(model, batch, out)
    assert loss is not None
    assert_close(loss, 0.5 * torch.stack(calls).sum())  # type: ignore[arg-type]
    model(batch["x"])
    assert sum(len(layer.records) for _, layer in moe_layers(model)) == 5  # the pre-hook reset the records
    assert WideNetAdapter(aux_weight=0.0).loss(model, batch, out) is None


def test_vit_moe_without_sharing_has_a_moe_per_block() -> None:
    adapted = widen(_metaformer(depth=3), share_attention=False, share_ffn=False)
    layers = moe_layers(adapted)
    assert len(layers) == 5 and len({id(m) for _, m in layers}) == 5


def test_the_adapter_refuses_a_model_without_metaformer_blocks() -> None:
    with pytest.raises(ValueError, match="MetaFormer blocks"):
        WideNetAdapter().apply(torch.nn.Linear(3, 3))


@pytest.mark.parametrize("share_norms", [False, True])
def test_widenet_vit_shares_attention_and_moe_and_keeps_norms(share_norms: bool) -> None:
    model = WideNetViT(**SMALL, share_norms=share_norms)
    parts = [model.block_parts(t) for t in range(4)]
    for t in range(1, 4):
        assert parts[t]["attn"] is parts[0]["attn"] and parts[t]["ffn"] is parts[0]["ffn"]
        assert (parts[t]["norm1"] is parts[0]["norm1"]) == share_norms
        assert (parts[t]["norm2"] is parts[0]["norm2"]) == share_norms
    assert not shared_tensor_names(model)
    unshared = WideNetViT(**SMALL, share_attention=False, share_ffn=False, share_norms=share_norms)
    shared_count = sum(p.numel() for p in model.parameters())
    block = sum(p.numel() for p in unshared.block_parts(0)["attn"].parameters()) + sum(
        p.numel() for p in unshared.block_parts(0)["ffn"].parameters())
    assert sum(p.numel() for p in unshared.parameters()) - shared_count == 3 * block


def test_the_gradient_of_a_shared_weight_is_the_sum_over_blocks() -> None:
    torch.manual_seed(1)
    shared = WideNetViT(**SMALL).eval()
    unrolled = WideNetViT(**SMALL, share_attention=False, share_ffn=False).eval()
    own = {k: v for k, v in shared.state_dict().items()}
    state = {}
    for key in unrolled.state_dict():
        if key.startswith("blocks.") and (".attn." in key or ".ffn." in key):
            state[key] = own["blocks.0." + key.split(".", 2)[2]]
        else:
            state[key] = own[key]
    unrolled.load_state_dict(state)
    x = torch.randn(3, 8, 8, 1)
    assert_close(shared(x), unrolled(x))
    shared(x).square().sum().backward()
    unrolled(x).square().sum().backward()
    for name in ("attn.qkv.weight", "attn.proj.bias", "ffn.w1", "ffn.router.weight", "ffn.b2"):
        parts = [unrolled.get_parameter(f"blocks.{t}.{name}").grad for t in range(4)]
        total = torch.stack(parts).sum(0)  # type: ignore[misc]
        assert_close(shared.get_parameter(f"blocks.0.{name}").grad, total, rtol=1e-4, atol=1e-6)


def test_blocks_route_identically_when_their_norms_are_shared_and_differently_otherwise() -> None:
    torch.manual_seed(2)
    x = torch.randn(64, 16)
    routes = {}
    for share_norms in (True, False):
        model = WideNetViT(**SMALL, share_norms=share_norms)
        with torch.no_grad():  # trained-looking norms: each block's own scale and shift
            for t in range(4):
                norm = model.block_parts(t)["norm2"]
                norm.weight.copy_(1 + 0.5 * torch.randn(16))
                norm.bias.copy_(0.5 * torch.randn(16))
        router = model.block_parts(0)["ffn"].router.weight
        routes[share_norms] = [route(model.block_parts(t)["norm2"](x), router, top_k=2).index for t in range(4)]
    assert all(torch.equal(r, routes[True][0]) for r in routes[True])  # identical inputs, shared norms
    assert any(not torch.equal(r, routes[False][0]) for r in routes[False][1:])  # per-block norms reroute


def test_a_deep_copy_keeps_the_sharing() -> None:
    model = WideNetViT(**SMALL)
    twin = copy.deepcopy(model)
    assert twin.block_parts(3)["ffn"] is twin.block_parts(0)["ffn"]
    assert twin.block_parts(3)["ffn"] is not model.block_parts(0)["ffn"]


def test_presets_have_the_papers_parameter_counts() -> None:
    # Parameter counts of the paper's ImageNet models (Table 1 of arXiv 2107.11817 as quoted by the card: WideNet-B
    # 29M, WideNet-L 40M, WideNet-H 63M against ViT-B 87M, and the abstract's ratios 0.72x and 0.46x of ViT-B; ViT-L
    # 305M is recalled from the table, not re-read), with the sizes of the authors' TF code
    # (github.com/XueFuzhao/WideNet_Code, configs.py: get_moeb16/moel16/moeh14 and get_b16/l16 configs; 4 experts,
    # 224 px, 16 px patches, the --use_representation pre-logits layer of their run scripts).
    from forwardkit_widenet.sizes import preset_sizes

    sizes = preset_sizes(["widenet_b", "widenet_l", "widenet_h", "vit_b", "vit_l"])
    millions = {k.split("/")[0]: v / 1e6 for k, v in sizes.items() if k.endswith("/parameters")}
    assert int(millions["widenet_b"]) == 29 and int(millions["widenet_l"]) == 40 and int(millions["widenet_h"]) == 63
    assert int(millions["vit_b"]) == 87 and int(millions["vit_l"]) == 305
    assert round(sizes["widenet_h/parameter_ratio_to_vit_b"], 2) == 0.73  # paper (63/87, rounded down): 0.72
    assert int(millions["widenet_l"]) / int(millions["vit_b"]) == pytest.approx(0.46, abs=0.005)
