"""forwardkit's MetaFormer blocks and the five MetaFormer-baseline presets against a straightforward reference.

The reference is written here from the papers' descriptions (MetaFormer, Yu et al. 2022; MetaFormer
Baselines, Yu et al. 2023), the way the field's reference implementations are written: NCHW tensors with
channels-last strides (``model.to(memory_format=torch.channels_last)``), 1x1 ``nn.Conv2d`` for every
pointwise projection of the MLPs and separable convolutions, a depthwise ``nn.Conv2d(groups=C)``,
``nn.AvgPool2d`` minus the input for pooling, ``GroupNorm(1, C)`` and a channel LayerNorm (permute, layer
norm, permute back), StarReLU composed of plain tensor ops, attention as ``nn.Linear`` + SDPA on the
flattened tokens. Each reference module takes its weights from the forwardkit module it is compared with,
and the outputs are checked to agree before anything is timed, so both compute the same function.

Timing: forward+backward (a fixed random gradient into every parameter and, for blocks, into the input),
ours and the reference interleaved in one process (the order alternates per repeat), the median of the
repeats after warm-up; at batch 8, 16 and 32, on 1 and 2 threads. Blocks run at the token grids of the
four MetaFormer stages at 224 px ((56, 56, 64), (28, 28, 128), (14, 14, 320), (7, 7, 512); attention at the
two stages where CAFormer uses it), the presets at 224 px. Bar (issue 12): ours / reference <= 1.0 for
every block, shape and preset.

    python benchmarks/metaformer_speed.py                     # full run (about 40 minutes on 2 cores)
    python benchmarks/metaformer_speed.py --smoke --out /tmp/m.json    # seconds: proves the script runs
    python benchmarks/metaformer_speed.py --only blocks --threads 1    # a part of it

``make bench-metaformer`` (and ``make bench``) keeps the full run in ``benchmarks/results/metaformer_speed.json``.
"""

from __future__ import annotations

import argparse
import copy
import math
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import forwardkit as fk
import forwardkit.nn as fknn
from forwardkit.reproduce.stats import paired_interval

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info, write_result

RESULTS = Path(__file__).resolve().parent / "results" / "metaformer_speed.json"
#: token grids (H, W, C) of the four MetaFormer stages at 224 px (s12 / s18 widths)
STAGES = [(56, 56, 64), (28, 28, 128), (14, 14, 320), (7, 7, 512)]
BATCHES = [8, 16, 32]
THREADS = [1, 2]
BLOCKS = ["pooling", "sepconv", "starrelu_mlp", "mlp", "attention", "groupnorm1", "layernorm"]
#: blocks measured only at some stages (attention: where CAFormer puts it)
BLOCK_STAGES = {"attention": [2, 3]}
PRESETS = [("identityformer", "s12"), ("randformer", "s12"), ("poolformerv2", "s12"), ("convformer", "s18"),
           ("caformer", "s18")]
IMAGE_SIZE = 224
SMOKE = {"stages": [(8, 8, 16)], "batches": [2], "threads": [1], "image_size": 28, "size": "tiny"}


# ---- the reference, written from the papers (NCHW tensors, channels-last strides) ---------------------------
class RefStarReLU(nn.Module):
    """``s * relu(x) ** 2 + b`` (Baselines sec. 3.1) of plain tensor ops, scalars ``s``, ``b``."""

    def __init__(self, scale: float = 1.0, bias: float = 0.0) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.full((1,), scale))
        self.bias = nn.Parameter(torch.full((1,), bias))

    def forward(self, x: Tensor) -> Tensor:
        return self.scale * F.relu(x) ** 2 + self.bias


def _act(name: str) -> nn.Module:
    return {"starrelu": RefStarReLU, "gelu": nn.GELU, "relu": nn.ReLU}[name]()


class RefLayerNorm2d(nn.Module):
    """LayerNorm over the channels of ``(B, C, H, W)``: permute to NHWC, ``layer_norm``, permute back."""

    def __init__(self, dim: int, eps: float = 1e-6, bias: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim)) if bias else None
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        y = F.layer_norm(x.permute(0, 2, 3, 1), (x.shape[1],), self.weight, self.bias, self.eps)
        return y.permute(0, 3, 1, 2)


class RefGroupNorm1(nn.Module):
    """MetaFormer's modified LayerNorm: ``GroupNorm(1, C)`` on ``(B, C, H, W)``, per-channel scale, no bias."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        return F.group_norm(x, 1, self.weight, None, self.eps)


class RefPooling(nn.Module):
    """PoolFormer eq. 4: ``AvgPool2d(3, 1, 1, count_include_pad=False)(x) - x``."""

    def __init__(self, pool_size: int = 3, include_pad: bool = False) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(pool_size, 1, pool_size // 2, count_include_pad=include_pad)

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(x) - x


class RefMlp(nn.Module):
    """The MetaFormer MLP as two 1x1 convolutions: ``Conv1x1(C, H) -> act -> Conv1x1(H, C)``."""

    def __init__(self, dim: int, hidden: int, act: str, bias: bool) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(dim, hidden, 1, bias=bias)
        self.act = _act(act)
        self.fc2 = nn.Conv2d(hidden, dim, 1, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class RefSepConv(nn.Module):
    """Baselines sec. 3.2: ``Conv1x1(C, 2C) -> StarReLU -> depthwise kxk -> Conv1x1(2C, C)``."""

    def __init__(self, dim: int, hidden: int, kernel_size: int, act: str, bias: bool) -> None:
        super().__init__()
        self.pwconv1 = nn.Conv2d(dim, hidden, 1, bias=bias)
        self.act1 = _act(act)
        self.dwconv = nn.Conv2d(hidden, hidden, kernel_size, padding=kernel_size // 2, groups=hidden, bias=bias)
        self.pwconv2 = nn.Conv2d(hidden, dim, 1, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.pwconv2(self.dwconv(self.act1(self.pwconv1(x))))


class RefAttention(nn.Module):
    """Multi-head self-attention on the flattened tokens of ``(B, C, H, W)``: Linear qkv, SDPA, Linear proj."""

    def __init__(self, dim: int, num_heads: int, head_dim: int, qkv_bias: bool, proj_bias: bool) -> None:
        super().__init__()
        self.num_heads, self.head_dim = num_heads, head_dim
        self.qkv = nn.Linear(dim, 3 * num_heads * head_dim, bias=qkv_bias)
        self.proj = nn.Linear(num_heads * head_dim, dim, bias=proj_bias)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        tokens = x.flatten(2).transpose(1, 2)  # (B, N, C)
        qkv = self.qkv(tokens).reshape(b, h * w, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])  # (B, heads, N, d)
        out = self.proj(out.transpose(1, 2).reshape(b, h * w, -1))
        return out.transpose(1, 2).reshape(b, c, h, w)


class RefRandomMixing(nn.Module):
    """Baselines sec. 3.3: the tokens ``(B, C, N)`` times a frozen ``N x N`` matrix: ``Y = R X``."""

    def __init__(self, matrix: Tensor) -> None:
        super().__init__()
        self.register_buffer("matrix", matrix.detach().clone())

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        return (x.reshape(b, c, h * w) @ self.matrix.t()).reshape(b, c, h, w)


class RefScale(nn.Module):
    """LayerScale / ResScale: a per-channel vector on ``(B, C, H, W)``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.scale.view(1, -1, 1, 1)


class RefBlock(nn.Module):
    """MetaFormer block: ``x = rs1 x + ls1 mixer(norm1(x)); x = rs2 x + ls2 mlp(norm2(x))``."""

    def __init__(self, norm1: nn.Module, mixer: nn.Module, norm2: nn.Module, mlp: nn.Module,
                 scales: dict[str, nn.Module]) -> None:
        super().__init__()
        self.norm1, self.token_mixer, self.norm2, self.mlp = norm1, mixer, norm2, mlp
        self.scales = nn.ModuleDict(scales)

    def _scale(self, name: str, x: Tensor) -> Tensor:
        return self.scales[name](x) if name in self.scales else x

    def forward(self, x: Tensor) -> Tensor:
        x = self._scale("res_scale1", x) + self._scale("layer_scale1", self.token_mixer(self.norm1(x)))
        return self._scale("res_scale2", x) + self._scale("layer_scale2", self.mlp(self.norm2(x)))


class RefMetaFormer(nn.Module):
    """Stem conv + channel LayerNorm, stages (channel LayerNorm + conv downsampling, blocks), global average
    pool, LayerNorm, head; NCHW inputs."""

    def __init__(self, stem: nn.Module, stages: list[nn.Module], norm: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.stem, self.stages, self.norm, self.head = stem, nn.Sequential(*stages), norm, head

    def forward(self, x: Tensor) -> Tensor:
        x = self.stages(self.stem(x))
        return self.head(self.norm(x.mean((2, 3))))


class RefMlpHead(nn.Module):
    """Baselines sec. 3.3 head: Linear -> squared ReLU -> LayerNorm -> Linear."""

    def __init__(self, dim: int, hidden: int, classes: int) -> None:
        super().__init__()
        self.fc1, self.norm, self.fc2 = nn.Linear(dim, hidden), nn.LayerNorm(hidden), nn.Linear(hidden, classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.norm(F.relu(self.fc1(x)) ** 2))


# ---- the reference built from forwardkit's modules (same weights) ------------------------------------------
def _copy(dst: Tensor, src: Tensor) -> None:
    with torch.no_grad():
        dst.copy_(src.reshape(dst.shape))


def _conv1x1(ours: nn.Linear) -> nn.Conv2d:
    conv = nn.Conv2d(ours.in_features, ours.out_features, 1, bias=ours.bias is not None)
    _copy(conv.weight, ours.weight)
    if ours.bias is not None:
        _copy(conv.bias, ours.bias)
    return conv


def _linear(ours: nn.Linear) -> nn.Linear:
    lin = nn.Linear(ours.in_features, ours.out_features, bias=ours.bias is not None)
    lin.load_state_dict(ours.state_dict())
    return lin


def _act_like(ours: nn.Module) -> nn.Module:
    name = type(ours).__name__
    if name == "StarReLU":
        ref = RefStarReLU()
        ref.load_state_dict(ours.state_dict())
        return ref
    return {"GELU": nn.GELU, "ReLU": nn.ReLU}[name]()


def _lin(ours: nn.Module, name: str) -> nn.Linear:
    """The projection ``name`` of a forwardkit module (an ``nn.Linear``, or whatever holds its weight)."""
    module = getattr(ours, name)
    weight = module.weight
    lin = nn.Linear(weight.shape[-1] if weight.dim() == 2 else weight.shape[1], weight.shape[0],
                    bias=getattr(module, "bias", None) is not None)
    _copy(lin.weight, weight)
    if lin.bias is not None:
        _copy(lin.bias, module.bias)
    return lin


def reference_of(ours: nn.Module) -> nn.Module:
    """The reference module computing what ``ours`` (a forwardkit block, NHWC) computes, on NCHW tensors."""
    name = type(ours).__name__
    if name == "Pooling":
        return RefPooling(ours.config.pool_size, ours.config.count_include_pad)
    if name == "SepConv":
        pw1, pw2 = _lin(ours, "pwconv1"), _lin(ours, "pwconv2")
        ref = RefSepConv(pw1.in_features, pw1.out_features, ours.dwconv.kernel_size[0], "gelu", pw1.bias is not None)
        ref.pwconv1, ref.pwconv2, ref.act1 = _conv1x1(pw1), _conv1x1(pw2), _act_like(ours.act1)
        _copy(ref.dwconv.weight, ours.dwconv.weight)
        if ref.dwconv.bias is not None:
            _copy(ref.dwconv.bias, ours.dwconv.bias)
        return ref
    if name in ("StarReLUMLP", "MLP", "FeedForward"):
        fc1, fc2 = _lin(ours, "fc1"), _lin(ours, "fc2")
        ref = RefMlp(fc1.in_features, fc1.out_features, "gelu", fc1.bias is not None)
        ref.fc1, ref.fc2, ref.act = _conv1x1(fc1), _conv1x1(fc2), _act_like(ours.act)
        return ref
    if name in ("Attention", "MultiHeadAttention"):
        qkv, proj = _lin(ours, "qkv"), _lin(ours, "proj")
        ref = RefAttention(proj.out_features, ours.num_heads, ours.head_dim, qkv.bias is not None,
                           proj.bias is not None)
        ref.qkv, ref.proj = qkv, proj
        return ref
    if name == "RandomMixing":
        return RefRandomMixing(ours.matrix)
    if name == "Identity":
        return nn.Identity()
    if name == "GroupNorm1":
        ref = RefGroupNorm1(ours.weight.shape[0], ours.eps)
        _copy(ref.weight, ours.weight)
        return ref
    if name == "LayerNorm":
        ref = RefLayerNorm2d(ours.weight.shape[0], ours.eps, bias=ours.bias is not None)
        ref.load_state_dict(ours.state_dict())
        return ref
    raise TypeError(f"no reference for {name}")


def _scales(block: nn.Module) -> dict[str, nn.Module]:
    out: dict[str, nn.Module] = {}
    for key in ("res_scale1", "layer_scale1", "res_scale2", "layer_scale2"):
        module = getattr(block, key)
        if hasattr(module, "scale"):
            ref = RefScale(module.scale.shape[0])
            _copy(ref.scale, module.scale)
            out[key] = ref
    return out


def _conv(ours: nn.Module) -> nn.Conv2d:
    conv = ours.conv
    ref = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                    bias=conv.bias is not None)
    ref.load_state_dict(conv.state_dict())
    return ref


def reference_model(model: nn.Module) -> RefMetaFormer:
    """The reference MetaFormer of a preset (or of the builtin ``metaformer``), with its weights."""
    net = getattr(model, "backbone", model)
    stem = nn.Sequential(_conv(net.stem.proj), reference_of(net.stem.norm))
    stages: list[nn.Module] = []
    for stage in net.stages:
        layers: list[nn.Module] = []
        if not isinstance(stage.downsample, nn.Identity):
            layers += [reference_of(stage.downsample.norm), _conv(stage.downsample.proj)]
        for block in stage.blocks:
            layers.append(RefBlock(reference_of(block.norm1), reference_of(block.token_mixer),
                                   reference_of(block.norm2), reference_of(block.channel_mixer), _scales(block)))
        stages.append(nn.Sequential(*layers))
    norm = nn.LayerNorm(net.norm.weight.shape[0], eps=net.norm.eps)
    norm.load_state_dict(net.norm.state_dict())
    head: nn.Module
    if type(net.head).__name__ == "MlpHead":
        head = RefMlpHead(net.head.fc1.in_features, net.head.fc1.out_features, net.head.fc2.out_features)
        head.fc1, head.fc2 = _linear(net.head.fc1), _linear(net.head.fc2)
        head.norm.load_state_dict(net.head.norm.state_dict())
    else:
        head = _linear(net.head)
    return RefMetaFormer(stem, stages, norm, head)


# ---- forwardkit's blocks ----------------------------------------------------------------------------------
def build_block(name: str, dim: int) -> nn.Module:
    """forwardkit's block ``name`` at width ``dim``, as the MetaFormer presets configure it."""
    if name in ("pooling", "sepconv"):
        return fk.create("token_mixer", name, dim=dim)
    if name == "attention":
        return fk.create("token_mixer", "attention", dim=dim, head_dim=32, proj_bias=False)
    if name in ("starrelu_mlp", "mlp"):  # the presets' MLP (StarReLU, no bias) and the builtin one (GELU, bias)
        return fk.create("channel_mixer", name, dim=dim)
    from forwardkit.nn import make_norm

    return make_norm("groupnorm1" if name == "groupnorm1" else "layernorm_nobias", dim)


def _randomise(module: nn.Module, seed: int) -> None:
    """Non-trivial scales and norm weights (a freshly built block has ones there), reproducibly."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.dim() == 1 or name.endswith("scale"):
                p.copy_(0.5 + torch.rand(p.shape, generator=gen))


# ---- timing -------------------------------------------------------------------------------------------------
def _step(module: nn.Module, x: Tensor, grad: Tensor, input_grad: bool) -> float:
    module.zero_grad(set_to_none=True)
    inp = x.detach().requires_grad_(input_grad)
    start = time.perf_counter()
    module(inp).backward(grad)
    return time.perf_counter() - start


def interleaved(ours: nn.Module, ref: nn.Module, x_ours: Tensor, x_ref: Tensor, g_ours: Tensor, g_ref: Tensor, *,
                repeats: int, warmup: int, input_grad: bool = True, budget_s: float = 0.0,
                max_repeats: int = 201) -> dict[str, Any]:
    """Median (and minimum) forward+backward ms of ``ours`` and ``ref``, interleaved (the order alternates),
    their ratio: at least ``repeats`` timed pairs, more (up to ``max_repeats``) while the timed pairs took less
    than ``budget_s`` seconds, so that cheap blocks get enough repeats for a stable median."""
    times: dict[str, list[float]] = {"ours": [], "reference": []}
    pairs = [("ours", ours, x_ours, g_ours), ("reference", ref, x_ref, g_ref)]
    i, spent = 0, 0.0
    while i < warmup + repeats or (spent < budget_s and i < warmup + max_repeats):
        for name, module, x, g in pairs if i % 2 == 0 else reversed(pairs):
            t = _step(module, x, g, input_grad)
            if i >= warmup:
                times[name].append(t)
                spent += t
        i += 1
    ours_ms, ref_ms = (statistics.median(times[k]) * 1e3 for k in ("ours", "reference"))
    ours_min, ref_min = (min(times[k]) * 1e3 for k in ("ours", "reference"))
    return {"ours_ms": round(ours_ms, 4), "reference_ms": round(ref_ms, 4), "ratio": round(ours_ms / ref_ms, 4),
            "ours_min_ms": round(ours_min, 4), "reference_min_ms": round(ref_min, 4),
            "ratio_of_minima": round(ours_min / ref_min, 4), "repeats": len(times["ours"]),
            **paired_ratio(times["ours"], times["reference"])}


def paired_ratio(ours: Sequence[float], ref: Sequence[float]) -> dict[str, Any]:
    """The geometric mean of the per-round ratios ``ours_i / ref_i`` (both timed in the same interleaved round)
    with its 95% t interval (on the log ratios), and whether that interval lies wholly above 1.0: slower beyond
    the timing noise of this row."""
    iv = paired_interval([math.log(t) for t in ours], [math.log(t) for t in ref])
    if not iv.defined:
        return {"paired_ratio": round(math.exp(iv.estimate), 4), "paired_ratio_ci95": None,
                "slower_beyond_noise": False}
    return {"paired_ratio": round(math.exp(iv.estimate), 4),
            "paired_ratio_ci95": [round(math.exp(iv.low), 4), round(math.exp(iv.high), 4)],
            "slower_beyond_noise": math.exp(iv.low) > 1.0}


def _nchw(t: Tensor) -> Tensor:
    return t.permute(0, 3, 1, 2)  # (B, H, W, C) -> (B, C, H, W) with channels-last strides, no copy


def check_block(ours: nn.Module, ref: nn.Module, x: Tensor, *, atol: float = 1e-4, rtol: float = 1e-4) -> None:
    """Ours (NHWC) and the reference (NCHW) compute the same function on ``x``: outputs and input gradients."""
    a = x.detach().requires_grad_(True)
    b = x.detach().requires_grad_(True)
    ya, yb = ours(a), _nchw_out(ref(_nchw(b)))
    torch.testing.assert_close(ya, yb, atol=atol, rtol=rtol)
    g = torch.randn_like(ya)
    torch.testing.assert_close(torch.autograd.grad(ya, a, g)[0], torch.autograd.grad(yb, b, g)[0],
                               atol=atol, rtol=rtol)


def _nchw_out(t: Tensor) -> Tensor:
    return t.permute(0, 2, 3, 1)


def time_blocks(names: Sequence[str], stages: Sequence[tuple[int, int, int]], batches: Sequence[int], *,
                repeats: int, warmup: int, stage_filter: bool = True, budget_s: float = 0.0,
                control: bool = False) -> list[dict[str, Any]]:
    """Every block against its reference (``ratio`` = ours / reference); with ``control``, the reference
    against an identical copy of itself instead (an A/A run: how far from 1.0 the ratio drifts by noise
    alone, on the same shapes, repeats and interleaving)."""
    rows = []
    for si, (h, w, c) in enumerate(stages):
        for name in names:
            if stage_filter and name in BLOCK_STAGES and si not in BLOCK_STAGES[name]:
                continue
            torch.manual_seed(0)
            ours = build_block(name, c).train()
            _randomise(ours, 1)
            ref = reference_of(ours).train().to(memory_format=torch.channels_last)
            for batch in batches:
                gen = torch.Generator().manual_seed(batch)
                x = torch.randn(batch, h, w, c, generator=gen)
                check_block(ours, ref, x[:2])
                g = torch.randn(batch, h, w, c, generator=gen)
                if control:
                    twin = copy.deepcopy(ref)
                    res = interleaved(twin, ref, _nchw(x), _nchw(x), _nchw(g), _nchw(g), repeats=repeats,
                                      warmup=warmup, budget_s=budget_s)
                else:
                    res = interleaved(ours, ref, x, _nchw(x), g, _nchw(g), repeats=repeats, warmup=warmup,
                                      budget_s=budget_s)
                row = {"block": name, "shape": [batch, h, w, c], "threads": torch.get_num_threads(), **res}
                rows.append(row)
                print(f"  {name:13s} {tuple(row['shape'])!s:18s} ours {res['ours_ms']:9.2f} ms  "
                      f"reference {res['reference_ms']:9.2f} ms  ratio {res['ratio']:.3f}", flush=True)
    return rows


def build_preset(preset: str, size: str, image_size: int) -> nn.Module:
    fields: dict[str, Any] = {"size": size, "num_classes": 1000}
    if preset == "randformer":
        fields["image_size"] = image_size
    if size == "tiny":
        fields["num_classes"] = 10
    return fk.create("model", preset, **fields)


def check_model(ours: nn.Module, ref: nn.Module, x: Tensor) -> None:
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(_nchw(x)), atol=2e-4, rtol=2e-4)


def time_presets(presets: Sequence[tuple[str, str]], batches: Sequence[int], image_size: int, *, repeats: int,
                 warmup: int) -> list[dict[str, Any]]:
    rows = []
    for preset, size in presets:
        torch.manual_seed(0)
        ours = build_preset(preset, size, image_size).train()
        _randomise(ours, 2)
        ref = reference_model(ours).train().to(memory_format=torch.channels_last)
        check_model(ours, ref, torch.randn(2, image_size, image_size, 3, generator=torch.Generator().manual_seed(3)))
        for batch in batches:
            gen = torch.Generator().manual_seed(batch)
            x = torch.randn(batch, image_size, image_size, 3, generator=gen)
            g = torch.randn(batch, ours(x[:1]).shape[-1], generator=gen)
            res = interleaved(ours, ref, x, _nchw(x), g, g, repeats=repeats, warmup=warmup, input_grad=False)
            row = {"preset": f"{preset}_{size}", "batch": batch, "image_size": image_size,
                   "threads": torch.get_num_threads(), **res}
            rows.append(row)
            print(f"  {row['preset']:18s} batch {batch:3d}  ours {res['ours_ms']:9.1f} ms  "
                  f"reference {res['reference_ms']:9.1f} ms  ratio {res['ratio']:.3f}", flush=True)
    return rows


def _row_name(row: dict[str, Any]) -> str:
    """``block (B, H, W, C) @ threads`` or ``preset batch B @ threads`` (for lists of rows)."""
    if "block" in row:
        return f"{row['block']} {tuple(row['shape'])} @{row['threads']}t"
    return f"{row['preset']} batch {row['batch']} @{row['threads']}t"


def _worst(rows: list[dict[str, Any]], key: str) -> dict[str, Any] | None:
    if not rows:
        return None
    row = max(rows, key=lambda r: r["ratio"])
    return {"ratio": row["ratio"], key: row[key], **({"shape": row["shape"]} if "shape" in row else
                                                        {"batch": row["batch"]}), "threads": row["threads"]}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny shapes and models, one repeat (for tests)")
    parser.add_argument("--only", choices=["blocks", "presets"], default=None)
    parser.add_argument("--threads", type=int, nargs="+", default=None, help=f"default {THREADS}")
    parser.add_argument("--batches", type=int, nargs="+", default=None, help=f"default {BATCHES}")
    parser.add_argument("--blocks", nargs="+", default=None, help=f"default {BLOCKS}")
    parser.add_argument("--presets", nargs="+", default=None, help="preset names (default: all five)")
    parser.add_argument("--repeats", type=int, default=15, help="timed repeats per block and shape")
    parser.add_argument("--block-budget-s", type=float, default=3.0,
                        help="more repeats (up to 201) for a block while its timed repeats took less than this")
    parser.add_argument("--model-repeats", type=int, default=7, help="timed repeats per preset and batch")
    parser.add_argument("--label", default="forwardkit", help="what is measured (kept in the JSON)")
    parser.add_argument("--control", action="store_true",
                        help="A/A noise floor: each block's reference against a copy of itself (blocks only)")
    parser.add_argument("--out", type=Path, default=None, help=f"JSON output (default {RESULTS}; none with --smoke)")
    args = parser.parse_args(argv)
    smoke = args.smoke
    stages = SMOKE["stages"] if smoke else STAGES
    batches = args.batches or (SMOKE["batches"] if smoke else BATCHES)
    threads = args.threads or (SMOKE["threads"] if smoke else THREADS)
    image_size = int(SMOKE["image_size"] if smoke else IMAGE_SIZE)  # type: ignore[call-overload]
    presets = [(p, str(SMOKE["size"]) if smoke else s) for p, s in PRESETS
               if args.presets is None or p in args.presets]
    blocks = args.blocks or BLOCKS
    repeats, warmup = (1, 1) if smoke else (args.repeats, 3)
    model_repeats, model_warmup = (1, 1) if smoke else (args.model_repeats, 2)
    before = torch.get_num_threads()
    block_rows: list[dict[str, Any]] = []
    preset_rows: list[dict[str, Any]] = []
    try:
        for n in threads:
            torch.set_num_threads(n)
            if args.only in (None, "blocks"):
                print(f"blocks, {n} thread(s)", flush=True)
                block_rows += time_blocks(blocks, stages, batches, repeats=repeats, warmup=warmup,
                                          stage_filter=not smoke, budget_s=0.0 if smoke else args.block_budget_s,
                                          control=args.control)
            if args.only in (None, "presets") and not args.control:
                print(f"presets at {image_size} px, {n} thread(s)", flush=True)
                preset_rows += time_presets(presets, batches, image_size, repeats=model_repeats, warmup=model_warmup)
    finally:
        torch.set_num_threads(before)
    worst_blocks, worst_presets = _worst(block_rows, "block"), _worst(preset_rows, "preset")
    ratios = [r["ratio"] for r in block_rows + preset_rows]
    result: dict[str, Any] = {
        "what": "forward+backward time, forwardkit / a straightforward NCHW reference (1x1 Conv2d pointwise, "
                "channels-last strides) with the same weights, interleaved in one process, median of repeats",
        "label": args.label,
        "control": args.control,
        "bar": "ratio (of medians) <= 1.0 for every block, shape and preset",
        "worst_ratio": max(ratios) if ratios else None,
        "passes_bar": bool(ratios) and max(ratios) <= 1.0,
        # the bar above read against each row's own timing noise: rows whose paired 95% interval lies above 1.0
        "slower_beyond_noise": [_row_name(r) for r in block_rows + preset_rows if r.get("slower_beyond_noise")],
        "worst_block": worst_blocks,
        "worst_preset": worst_presets,
        "blocks": block_rows,
        "presets": preset_rows,
        # the projection kernel forwardkit measured and kept for each shape (absent in checkouts before it)
        "pointwise_choices": dict(getattr(fknn, "pointwise_choices", dict)()),
        "settings": {"stages": [list(s) for s in stages], "batches": list(batches), "threads": list(threads),
                     "image_size": image_size, "repeats": repeats, "warmup": warmup,
                     "block_budget_s": 0.0 if smoke else args.block_budget_s, "model_repeats": model_repeats,
                     "model_warmup": model_warmup, "smoke": smoke},
        **machine_info(),
    }
    if args.control and ratios:
        ordered = sorted(ratios)
        result["control_summary"] = {
            "what": "A/A: the reference against an identical copy of itself; ratios away from 1.0 are noise",
            "rows": len(ordered), "min_ratio": ordered[0], "max_ratio": ordered[-1],
            "median_ratio": statistics.median(ordered),
            "p95_ratio": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
            "share_above_1": sum(r > 1.0 for r in ordered) / len(ordered)}
        print(f"A/A ratios: {ordered[0]:.3f} .. {ordered[-1]:.3f}, 95th percentile "
              f"{result['control_summary']['p95_ratio']:.3f}")
    if ratios:
        print(f"worst ratio {result['worst_ratio']:.3f} (bar <= 1.0: {'pass' if result['passes_bar'] else 'FAIL'})")
        slow = result["slower_beyond_noise"]
        print(f"{len(slow)} of {len(ratios)} rows slower beyond their timing noise" + (f": {', '.join(slow)}" if slow
                                                                                      else ""))
    out = args.out if args.out is not None else (None if smoke else RESULTS)
    write_result(out, result)
    return result


if __name__ == "__main__":
    main()
