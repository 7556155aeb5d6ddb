"""Parity with the official architectures: parameter counts and MACs of the presets.

Sources: the network_defs of ``yilunliao/vit-search`` (``scripts/vit-sr-nas/reference_net/tiny.sh``,
``searched_net/tiny.sh``, ``searched_net/small_mac@2.9G.sh``, ``searched_net/medium_mac@4.6G.sh``) and its MAC
budgets (``evolutionary_search/tiny.sh``: ``--constraint-value 1794400000``; the file names ``mac@2.9G`` and
``mac@4.6G``); the official search keeps every candidate in ``[0.975 budget, budget]`` (``gen_utils.py``,
``_EVOLVE_NETWORK_DEF_RESORUCE_LOWER_BOUND``). DeiT parameter counts: timm's ``deit_tiny_patch16_224``
(5,717,416), ``deit_small_patch16_224`` (22,050,664), ``deit_base_patch16_224`` (86,567,656); DeiT MACs
(Touvron et al. 2021, Table 1, "FLOPs" 1.3 / 4.6 / 17.6 G, which are MACs).
"""

from __future__ import annotations

import pytest
import torch
from forwardkit_vit_resnas.arch import SearchSpace
from forwardkit_vit_resnas.config import ViTResConfig, ViTResSuperNetConfig
from forwardkit_vit_resnas.macs import analytic_macs, mac_breakdown
from forwardkit_vit_resnas.presets import OFFICIAL_BUDGETS
from forwardkit_vit_resnas.supernet import ViTResSuperNet
from forwardkit_vit_resnas.vit_res import ViTRes

#: parameters of the official modules for each network_def at 1000 classes, counted from their definitions
#: (PatchConvEmbed: 3 bias-free convs + BN, a biased proj; MaskedLayerNorm w+b; Attention qkv/proj with
#: biases; Mlp; SpatialReductionPatchEmbedding: norm, 3x3 conv, token Linear, new pos_embed; norm + cls_head),
#: without the training-only patch head of the ``patch_output`` models (which adds C_last * 1000 + 1000)
OFFICIAL_PARAMS = {"vit_res_tiny": 42_012_736, "vit_resnas_tiny": 40_793_552, "vit_resnas_small": 63_724_108,
                   "vit_resnas_medium": 96_442_672}
TIMM_DEIT = {"deit_tiny": 5_717_416, "deit_small": 22_050_664, "deit_base": 86_567_656}
DEIT_GMACS = {"deit_tiny": 1.3, "deit_small": 4.6, "deit_base": 17.6}


def _count(preset: str) -> int:
    with torch.device("meta"):
        return sum(p.numel() for p in ViTRes(preset=preset).parameters())


@pytest.mark.parametrize("preset", sorted(OFFICIAL_PARAMS))
def test_vit_res_presets_have_the_official_parameter_counts(preset: str) -> None:
    assert _count(preset) == OFFICIAL_PARAMS[preset]


@pytest.mark.parametrize("preset", sorted(TIMM_DEIT))
def test_deit_presets_have_timms_parameter_counts_and_the_papers_macs(preset: str) -> None:
    assert _count(preset) == TIMM_DEIT[preset]
    assert analytic_macs(ViTResConfig(preset=preset)) / 1e9 == pytest.approx(DEIT_GMACS[preset], rel=0.04)


def test_vit_res_tiny_costs_exactly_the_official_tiny_budget() -> None:
    # the official budget 1794400000 is ViT-Res-Tiny's MACs (1,794,378,240 by the official estimator's rules)
    assert analytic_macs(ViTResConfig(preset="vit_res_tiny")) == 1_794_378_240
    assert abs(1_794_378_240 - OFFICIAL_BUDGETS["vit_resnas_tiny"]) < 0.0001 * 1_794_378_240


@pytest.mark.parametrize("preset", sorted(OFFICIAL_BUDGETS))
def test_searched_presets_lie_in_their_official_search_window(preset: str) -> None:
    budget = OFFICIAL_BUDGETS[preset]
    assert 0.975 * budget <= analytic_macs(ViTResConfig(preset=preset)) <= budget


def test_the_abstracts_mac_ratio_of_small_to_deit_base() -> None:
    # "ViT-ResNAS-Small achieves similar accuracy to DeiT-B while having 6.3x less MACs" (abstract)
    ratio = analytic_macs(ViTResConfig(preset="deit_base")) / analytic_macs(ViTResConfig(preset="vit_resnas_small"))
    assert ratio == pytest.approx(6.3, rel=0.03)


def test_attention_cost_falls_16x_per_reduction_at_fixed_width() -> None:
    cfg = ViTResConfig(dims=[64, 64, 64], heads=[4, 4, 4], num_cls_tokens=1)
    attn = mac_breakdown(cfg)["attention"]  # n = 1 + 64, 1 + 16, 1 + 4 tokens
    assert attn[0] / attn[1] == pytest.approx((65 / 17) ** 2)
    assert attn[1] / attn[2] == pytest.approx((17 / 5) ** 2)  # -> 16x as the class token's share vanishes


def test_the_sr_tiny_mh_search_space_contains_the_searched_tiny() -> None:
    cfg = ViTResSuperNetConfig(preset="sr_tiny_mh")
    space = SearchSpace(cfg)
    assert len(space.genes) == 3 + 18 * 2 + 9 and cfg.depths == [6, 6, 6]
    largest, smallest = analytic_macs(space.largest(), config=cfg), analytic_macs(space.smallest(), config=cfg)
    assert largest > 1.7944e9 > 0.975 * 1.7944e9 > smallest  # the Tiny budget lies inside the space
    with torch.device("meta"):
        net = ViTResSuperNet(preset="sr_tiny_mh")
    tiny = ViTResConfig(preset="vit_resnas_tiny")
    assert tiny.dims[0] in cfg.embed_choices[0] and sum(tiny.depths) == 16
    assert sum(p.numel() for p in net.parameters()) > _count("vit_resnas_tiny")
