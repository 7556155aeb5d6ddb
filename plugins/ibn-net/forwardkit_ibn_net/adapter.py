"""IBN-Net model surgery: rewrite a BatchNorm CNN into IBN-a or IBN-b (Pan et al. 2018, sec. 3.2, fig. 3).

* **IBN-a** (fig. 3b; official ``ibn_cfg = ('a', 'a', 'a', None)``): in every residual block of the
  selected shallow stages (default: all but the last), the norm right after the branch's first conv
  (``bn1``) becomes :class:`~forwardkit_ibn_net.ibn.IBN` (IN on ``int(C * r)`` channels, BN on the rest).
  The stem and the last stage keep BN. A plain CNN without residual stages gets IBN on its leading
  ``BatchNorm2d`` layers instead (see :func:`apply_ibn_a`).
* **IBN-b** (fig. 3c; ``ibn_cfg = ('b', 'b', None, None)``): the stem's BN becomes
  ``InstanceNorm2d(affine=True)`` and the *last* block of each of the first two stages gets
  ``InstanceNorm2d(C_out, affine=True)`` after the residual addition and before the final ReLU:
  ``y = relu(IN(F(x) + shortcut(x)))``.

The model is found by duck typing: stages are ``layer1, layer2, ...`` (the builtin ``resnet``,
torchvision-style ResNets) or ``stages.0, stages.1, ...``, or the paths given in ``stages``; blocks are
the children of a stage; a block's first norm is its ``bn1`` (or its first ``BatchNorm2d`` outside the
shortcut). IBN-b rewrites blocks with ``conv1/bn1/conv2/bn2[/conv3/bn3]`` and a ``shortcut`` or
``downsample`` attribute, after checking on a probe input that the block really computes
``relu(branch(x) + shortcut(x))``; any other block raises a clear error.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit.interfaces import Adapter
from forwardkit_ibn_net.config import IBNAdapterConfig
from forwardkit_ibn_net.ibn import IBN, ibn_from_bn

__all__ = [
    "IBNAdapter",
    "IBNBlock",
    "IBNError",
    "apply_ibn",
    "apply_ibn_a",
    "apply_ibn_b",
    "find_stages",
    "first_branch_norm",
]

_SHORTCUT_NAMES = ("shortcut", "downsample")


class IBNError(ValueError):
    """The model cannot be rewritten as asked (no stages, no BatchNorm2d, an unknown block type)."""


# ---- finding the pieces ----------------------------------------------------------------------------------
def find_stages(model: nn.Module, paths: list[str] | None = None) -> list[tuple[str, nn.Module]]:
    """The residual stages of ``model``, shallow to deep, as ``(path, module)``.

    ``paths`` names them explicitly; otherwise ``layer1, layer2, ...`` (consecutive attributes) or the
    children of a ``stages`` container. Returns ``[]`` when none is found."""
    if paths is not None:
        modules = dict(model.named_modules())
        missing = [p for p in paths if p not in modules]
        if missing:
            raise IBNError(f"stages {missing} are not modules of {type(model).__name__}")
        return [(p, modules[p]) for p in paths]
    found = []
    i = 1
    while isinstance(getattr(model, f"layer{i}", None), nn.Module):
        found.append((f"layer{i}", getattr(model, f"layer{i}")))
        i += 1
    if found:
        return found
    stages = getattr(model, "stages", None)
    if isinstance(stages, nn.Sequential | nn.ModuleList):
        return [(f"stages.{name}", m) for name, m in stages.named_children()]
    return []


def _blocks(path: str, stage: nn.Module) -> list[tuple[str, nn.Module]]:
    """The blocks of a stage: its children when it is a container, else the stage itself."""
    if isinstance(stage, nn.Sequential | nn.ModuleList):
        return [(f"{path}.{name}", m) for name, m in stage.named_children()]
    return [(path, stage)]


def _in_shortcut(name: str) -> bool:
    return name.split(".")[0] in _SHORTCUT_NAMES


def first_branch_norm(block: nn.Module) -> tuple[str, nn.Module] | None:
    """``(name, module)`` of the norm after the first conv of ``block``'s residual branch: ``bn1`` if the
    block has it, else its first norm module outside ``shortcut``/``downsample``; ``None`` if none."""
    bn1 = getattr(block, "bn1", None)
    if isinstance(bn1, nn.Module) and not isinstance(bn1, nn.Identity):
        return "bn1", bn1
    norms = (nn.BatchNorm2d, IBN, nn.InstanceNorm2d, nn.GroupNorm)
    for name, m in block.named_modules():
        if name and not _in_shortcut(name) and isinstance(m, norms):
            return name, m
    return None


def _set_module(root: nn.Module, path: str, new: nn.Module) -> None:
    parent_path, _, attr = path.rpartition(".")
    parent = root.get_submodule(parent_path) if parent_path else root
    setattr(parent, attr, new)


def _resolve_count(requested: int, available: int) -> int:
    """``requested`` leading items of ``available``; negative: all but the last ``-requested``."""
    k = available + requested if requested < 0 else requested
    return max(0, min(k, available))


# ---- IBN-a ---------------------------------------------------------------------------------------------
def apply_ibn_a(
    model: nn.Module,
    *,
    ratio: float = 0.5,
    in_first: bool = True,
    stages: list[str] | None = None,
    a_stages: int = -1,
    copy_bn_stats: bool = True,
) -> nn.Module:
    """IBN-a (paper fig. 3b), in place: the first norm of every residual branch of the first ``a_stages``
    stages (negative: all but the last ``-a_stages``) becomes ``IBN(C, ratio)``; returns ``model``.

    A model with no residual stages (a plain CNN) is treated as a chain of ``BatchNorm2d`` layers: the
    first ``a_stages`` of them (negative: all but the last ``-a_stages``, at least one) become IBN.
    Raises :class:`IBNError` if a selected block's first norm is not a ``BatchNorm2d`` or the model has
    no ``BatchNorm2d`` at all.
    """
    found = find_stages(model, stages)
    targets: list[tuple[str, nn.Module]] = []
    if found:
        for stage_path, stage in found[: _resolve_count(a_stages, len(found))]:
            for block_path, block in _blocks(stage_path, stage):
                norm = first_branch_norm(block)
                if norm is None:
                    raise IBNError(f"IBN-a: block {block_path} ({type(block).__name__}) has no norm in its branch")
                name, module = norm
                if isinstance(module, IBN):
                    continue  # already IBN-a
                if not isinstance(module, nn.BatchNorm2d):
                    raise IBNError(
                        f"IBN-a replaces BatchNorm2d, but the first norm of {block_path} is "
                        f"{type(module).__name__} ({block_path}.{name})"
                    )
                targets.append((f"{block_path}.{name}", module))
    else:
        bns = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)]
        if not bns:
            raise IBNError(f"IBN-a: {type(model).__name__} has no BatchNorm2d and no residual stages to rewrite")
        targets = bns[: max(1, _resolve_count(a_stages, len(bns)))]
    for path, bn in targets:
        _set_module(model, path, ibn_from_bn(bn, ratio, in_first=in_first, copy_stats=copy_bn_stats))  # type: ignore[arg-type]
    return model


# ---- IBN-b ---------------------------------------------------------------------------------------------
def _shortcut(block: nn.Module) -> nn.Module | None:
    for name in _SHORTCUT_NAMES:
        if hasattr(block, name):
            return getattr(block, name)  # may be None (torchvision's identity shortcut)
    raise AttributeError("no shortcut")


def _block_layout(block: nn.Module) -> int:
    """Convs in the residual branch (2: basic block, 3: bottleneck); raises IBNError if not recognised."""
    names = ("conv1", "bn1", "conv2", "bn2")
    has_sc = any(hasattr(block, n) for n in _SHORTCUT_NAMES)
    if not all(isinstance(getattr(block, n, None), nn.Module) for n in names) or not has_sc:
        raise IBNError(
            f"IBN-b cannot rewrite a {type(block).__name__}: it knows residual blocks with conv1/bn1/conv2/bn2 "
            f"(optionally conv3/bn3) and a 'shortcut' or 'downsample' attribute computing "
            f"relu(branch(x) + shortcut(x)); pass the right module paths in `stages` or use IBN-a"
        )
    return 3 if isinstance(getattr(block, "conv3", None), nn.Module) else 2


class IBNBlock(nn.Module):
    """A residual block with IN after the addition (IBN-b, paper fig. 3c):
    ``relu(IN(branch(x) + shortcut(x)))`` on ``(B, C_in, H, W)`` -> ``(B, C_out, H', W')``.

    ``block`` is the original block (its convs, norms and shortcut are reused); ``IN`` is
    ``InstanceNorm2d(C_out, affine=True)``, or ``None`` for the unchanged block (used to check that the
    original block computes the expected function)."""

    def __init__(self, block: nn.Module, channels: int | None) -> None:
        super().__init__()
        self.convs = _block_layout(block)
        self.block = block
        self.IN = nn.InstanceNorm2d(channels, affine=True) if channels else None

    def residual(self, x: Tensor) -> Tensor:
        """``branch(x) + shortcut(x)``, before the final activation: ``(B, C_out, H', W')``."""
        b = self.block
        out = F.relu(b.bn1(b.conv1(x)))
        out = b.bn2(b.conv2(out))
        if self.convs == 3:
            out = b.bn3(b.conv3(F.relu(out)))
        sc = _shortcut(b)
        return out + (x if sc is None else sc(x))

    def forward(self, x: Tensor) -> Tensor:
        s = self.residual(x)
        if self.IN is not None:
            s = self.IN(s)
        return F.relu(s)


def _out_channels(block: nn.Module, convs: int) -> int:
    bn = getattr(block, f"bn{convs}")
    if isinstance(bn, nn.BatchNorm2d | IBN | nn.InstanceNorm2d):
        return int(bn.num_features if not isinstance(bn, IBN) else bn.config.channels)
    conv = getattr(block, f"conv{convs}")
    return int(conv.out_channels)


@torch.no_grad()
def _check_block(block: nn.Module, path: str) -> None:
    """Raise IBNError unless ``block(x) == relu(branch(x) + shortcut(x))`` on a probe input (eval mode)."""
    wrapper = IBNBlock(block, None)
    conv1 = block.conv1
    in_ch = int(getattr(conv1, "in_channels", 0))
    if in_ch <= 0:
        raise IBNError(f"IBN-b: cannot probe block {path}: conv1 has no in_channels")
    ref = next(block.parameters())
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, in_ch, 8, 8, generator=gen).to(device=ref.device, dtype=ref.dtype)
    was = block.training
    block.eval()
    try:
        expected = block(x)
        got = wrapper(x)
    except Exception as exc:
        raise IBNError(f"IBN-b: block {path} ({type(block).__name__}) fails on a probe: {exc}") from exc
    finally:
        block.train(was)
    if expected.shape != got.shape or not torch.allclose(expected, got, rtol=1e-4, atol=1e-5):
        raise IBNError(
            f"IBN-b: block {path} ({type(block).__name__}) does not compute relu(branch(x) + shortcut(x)) "
            f"with its conv1/bn1/conv2/bn2 layers; IBN-b would change it, so it refuses. Use IBN-a, or wrap "
            f"the block yourself with forwardkit_ibn_net.adapter.IBNBlock"
        )


def _stem_norms(model: nn.Module, first_stage: str) -> list[tuple[str, nn.Module]]:
    """BatchNorm2d layers of the stem: direct children of the model (or of a ``stem`` child) that come
    before the first stage."""
    out = []
    for name, child in model.named_children():
        if name == first_stage.split(".")[0]:
            break
        if isinstance(child, nn.BatchNorm2d):
            out.append((name, child))
        elif name == "stem":
            out += [(f"stem.{n}", m) for n, m in child.named_modules() if isinstance(m, nn.BatchNorm2d)]
    return out


@torch.no_grad()
def _in_from_bn(bn: nn.BatchNorm2d, copy_affine: bool) -> nn.InstanceNorm2d:
    norm = nn.InstanceNorm2d(bn.num_features, eps=bn.eps, affine=True)
    if bn.weight is not None:
        norm.to(device=bn.weight.device, dtype=bn.weight.dtype)
        if copy_affine:
            norm.weight.copy_(bn.weight)
            norm.bias.copy_(bn.bias)
    return norm


def apply_ibn_b(
    model: nn.Module,
    *,
    stages: list[str] | None = None,
    b_stages: int = 2,
    b_stem: bool = True,
    copy_bn_stats: bool = True,
    check_blocks: bool = True,
) -> nn.Module:
    """IBN-b (paper fig. 3c), in place: the last block of each of the first ``b_stages`` stages becomes
    an :class:`IBNBlock` (``relu(IN(F(x) + shortcut(x)))``) and, with ``b_stem``, the stem's
    ``BatchNorm2d`` becomes ``InstanceNorm2d(affine=True)`` (affine copied from the BN with
    ``copy_bn_stats``). Raises :class:`IBNError` for models without residual stages, for unknown block
    types, and for ``b_stem`` without a stem ``BatchNorm2d``."""
    found = find_stages(model, stages)
    if not found:
        raise IBNError(
            f"IBN-b needs residual stages (layer1, layer2, ... or stages.*); none found in {type(model).__name__}. "
            f"Pass their module paths in `stages`, or use IBN-a"
        )
    plan: list[tuple[str, nn.Module]] = []
    for stage_path, stage in found[: min(b_stages, len(found))]:
        block_path, block = _blocks(stage_path, stage)[-1]
        if isinstance(block, IBNBlock):
            continue
        _block_layout(block)
        if check_blocks:
            _check_block(block, block_path)
        plan.append((block_path, block))
    stem = _stem_norms(model, found[0][0]) if b_stem else []
    if b_stem and not stem and not any(isinstance(m, nn.InstanceNorm2d) for _, m in model.named_children()):
        raise IBNError(f"IBN-b with b_stem=True: no stem BatchNorm2d found before {found[0][0]} "
                       f"in {type(model).__name__}; set b_stem=False")
    for block_path, block in plan:
        wrapper = IBNBlock(block, _out_channels(block, _block_layout(block)))
        ref = next(block.parameters())
        wrapper.IN.to(device=ref.device, dtype=ref.dtype)  # type: ignore[union-attr]
        _set_module(model, block_path, wrapper)
    for path, bn in stem:
        _set_module(model, path, _in_from_bn(bn, copy_bn_stats))  # type: ignore[arg-type]
    return model


def apply_ibn(model: nn.Module, variant: str = "a", **options: Any) -> nn.Module:
    """IBN-a (``variant='a'``) or IBN-b (``'b'``) in place; ``options`` are those of :func:`apply_ibn_a` /
    :func:`apply_ibn_b`."""
    if variant == "a":
        return apply_ibn_a(model, **options)
    if variant == "b":
        return apply_ibn_b(model, **options)
    raise IBNError(f"unknown IBN variant {variant!r}; choose 'a' or 'b'")


# ---- the registered adapter ----------------------------------------------------------------------------
class IBNAdapter(Adapter):
    """``ibn`` adapter: a copy of the model rewritten into IBN-a or IBN-b (same call signature, same
    output shapes; no new convolutions, only IN affine parameters are added)."""

    Config = IBNAdapterConfig
    config: IBNAdapterConfig
    inplace = False
    conformance_configs = ({}, {"variant": "b"}, {"variant": "a", "ratio": 0.25, "in_first": False, "a_stages": 1})
    conformance_models = (
        {"name": "resnet", "depth": 8, "width": 8, "num_classes": 4},
        {"name": "resnet_ibn", "variant": "none", "widths": [8, 16], "blocks": 1, "num_classes": 4},
    )

    def options(self) -> dict[str, Any]:
        """The keyword options of :func:`apply_ibn_a` / :func:`apply_ibn_b` for this config."""
        c = self.config
        if c.variant == "a":
            return {"ratio": c.ratio, "in_first": c.in_first, "stages": c.stages, "a_stages": c.a_stages,
                    "copy_bn_stats": c.copy_bn_stats}
        return {"stages": c.stages, "b_stages": c.b_stages, "b_stem": c.b_stem, "copy_bn_stats": c.copy_bn_stats,
                "check_blocks": c.check_blocks}

    def apply(self, model: nn.Module) -> nn.Module:
        return apply_ibn(copy.deepcopy(model), self.config.variant, **self.options())

