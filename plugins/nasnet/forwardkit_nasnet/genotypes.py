"""Cell genotypes of the NASNet search space (Zoph et al. 2018, sec. 3, Fig. 3 and 4), torch-free.

A cell receives two hidden states, ``h_i`` (the previous cell's output) and ``h_{i-1}`` (the one before), and
has B = 5 blocks. Block b (producing state ``2 + b``) picks two inputs among the states that exist so far, applies
one operation of the search space to each and combines the results by element-wise addition or channel
concatenation (paper sec. 3, steps 1-5). The cell's output is the channel concatenation of some states: the
paper's rule "every state not used as an input inside the cell", or an explicit list (the released NASNet-A,
whose lists differ from that rule).

State indexing follows the authors' TensorFlow code (``nasnet_utils.py``): **state 0 is the current input**
``h_i`` (after ReLU-1x1 conv-BN to F filters) and **state 1 is the previous one** ``h_{i-1}`` (adjusted to the
resolution and width of state 0). Many re-implementations swap them, which changes the cell silently.

A genotype is plain data: :class:`Block` ``(in_a, op_a, in_b, op_b, combine)`` five times, plus ``concat``.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

#: the 13 operations of the NASNet search space (paper sec. 3), in the paper's order
OPS: tuple[str, ...] = (
    "identity",
    "conv_1x3_3x1",
    "conv_1x7_7x1",
    "dil_conv_3x3",
    "avg_pool_3x3",
    "max_pool_3x3",
    "max_pool_5x5",
    "max_pool_7x7",
    "conv_1x1",
    "conv_3x3",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "sep_conv_7x7",
)
#: a reduced list of 8 (this plugin's choice, not the paper's): the six op types NASNet-A uses plus the dilated
#: 3x3 and the 1x7-7x1 convolutions
REDUCED8: tuple[str, ...] = ("identity", "avg_pool_3x3", "max_pool_3x3", "sep_conv_3x3", "sep_conv_5x5",
                             "sep_conv_7x7", "dil_conv_3x3", "conv_1x7_7x1")
OP_SETS: dict[str, tuple[str, ...]] = {"full13": OPS, "reduced8": REDUCED8}
COMBINES: tuple[str, ...] = ("add", "concat")
NUM_BLOCKS = 5


class Block(NamedTuple):
    """One block: ``state = combine(op_a(states[in_a]), op_b(states[in_b]))`` (paper sec. 3, steps 1-5)."""

    in_a: int
    op_a: str
    in_b: int
    op_b: str
    combine: str = "add"

    def pairs(self) -> tuple[tuple[str, int], tuple[str, int]]:
        """The block's two ``(op, input)`` pairs."""
        return (self.op_a, self.in_a), (self.op_b, self.in_b)


@dataclass(frozen=True)
class Genotype:
    """A cell: its blocks and its output rule.

    ``concat`` lists the states whose channel concatenation is the cell's output; ``None`` is the paper's rule,
    the states no block uses as an input (s0 and s1 included when unused). ``reduction`` marks a Reduction cell:
    its operations on s0 and s1 have stride 2, those on internal states (s2+) stride 1."""

    blocks: tuple[Block, ...]
    concat: tuple[int, ...] | None = None
    reduction: bool = False

    def __post_init__(self) -> None:
        validate(self)

    @property
    def num_states(self) -> int:
        return 2 + len(self.blocks)

    def used_states(self) -> set[int]:
        """States some block takes as an input."""
        return {i for b in self.blocks for i in (b.in_a, b.in_b)}

    def output_states(self) -> tuple[int, ...]:
        """The states the cell's output concatenates (``concat``, else the unused ones)."""
        if self.concat is not None:
            return self.concat
        used = self.used_states()
        return tuple(i for i in range(self.num_states) if i not in used)

    def ops(self) -> list[str]:
        return [op for b in self.blocks for op, _ in b.pairs()]

    def to_dict(self) -> dict[str, Any]:
        """Plain data (what a config's ``normal_cell`` / ``reduction_cell`` field holds)."""
        return {"blocks": [b._asdict() for b in self.blocks],
                "concat": None if self.concat is None else list(self.concat)}

    @classmethod
    def from_data(cls, data: Mapping[str, Any] | Genotype, *, reduction: bool) -> Genotype:
        """From :meth:`to_dict`'s form, or a config's ``{"blocks": [{"in_a": ...}, ...], "concat": ...}``."""
        if isinstance(data, Genotype):
            return Genotype(data.blocks, data.concat, reduction)
        blocks = []
        for b in data["blocks"]:
            blocks.append(Block(**b) if isinstance(b, Mapping) else Block(*b))
        concat = data.get("concat")
        return cls(tuple(blocks), None if concat is None else tuple(int(i) for i in concat), reduction)


def validate(genotype: Genotype) -> None:
    """Raise ``ValueError`` unless every input refers to an earlier state, every op is in :data:`OPS`, every
    combine is ``add`` or ``concat`` and ``concat`` names existing, distinct states."""
    if not genotype.blocks:
        raise ValueError("a genotype needs at least one block")
    for b, block in enumerate(genotype.blocks):
        state = 2 + b
        for name, value in (("in_a", block.in_a), ("in_b", block.in_b)):
            if not isinstance(value, int) or not 0 <= value < state:
                raise ValueError(f"block {b} (state {state}): {name}={value!r} must refer to an earlier state "
                                 f"(0..{state - 1})")
        for name, op in (("op_a", block.op_a), ("op_b", block.op_b)):
            if op not in OPS:
                raise ValueError(f"block {b}: {name}={op!r} is not an operation of the NASNet search space "
                                 f"({', '.join(OPS)})")
        if block.combine not in COMBINES:
            raise ValueError(f"block {b}: combine={block.combine!r} must be 'add' or 'concat'")
    if genotype.concat is not None:
        n = 2 + len(genotype.blocks)
        if not genotype.concat or len(set(genotype.concat)) != len(genotype.concat) or \
                any(not 0 <= i < n for i in genotype.concat):
            raise ValueError(f"concat={list(genotype.concat)} must list distinct states 0..{n - 1}")
    if not genotype.output_states():
        raise ValueError("the cell has no output state")


def _blocks(indices: Sequence[int], operations: Sequence[str]) -> tuple[Block, ...]:
    """Blocks from the TF code's flat ``hiddenstate_indices`` and ``operations`` lists (left, right per block)."""
    tf_names = {"separable_3x3_2": "sep_conv_3x3", "separable_5x5_2": "sep_conv_5x5",
                "separable_7x7_2": "sep_conv_7x7", "avg_pool_3x3": "avg_pool_3x3", "max_pool_3x3": "max_pool_3x3",
                "none": "identity"}
    ops = [tf_names[o] for o in operations]
    return tuple(Block(indices[i], ops[i], indices[i + 1], ops[i + 1], "add") for i in range(0, len(ops), 2))


#: NASNet-A Normal cell as released (``NasNetANormalCell``): s2 = sep5(s0) + sep3(s1), s3 = sep5(s1) + sep3(s1),
#: s4 = avg3(s0) + s1, s5 = avg3(s1) + avg3(s1), s6 = sep3(s0) + s0; output concat(s1..s6) -> 6F channels
NASNET_A_NORMAL = Genotype(
    _blocks([0, 1, 1, 1, 0, 1, 1, 1, 0, 0],
            ["separable_5x5_2", "separable_3x3_2", "separable_5x5_2", "separable_3x3_2", "avg_pool_3x3", "none",
             "avg_pool_3x3", "avg_pool_3x3", "separable_3x3_2", "none"]),
    concat=(1, 2, 3, 4, 5, 6), reduction=False)

#: NASNet-A Reduction cell as released (``NasNetAReductionCell``): s2 = sep5(s0) + sep7(s1), s3 = max3(s0) +
#: sep7(s1), s4 = avg3(s0) + sep5(s1), s5 = s3 + avg3(s2), s6 = sep3(s2) + max3(s0); output concat(s3..s6) -> 4F
NASNET_A_REDUCTION = Genotype(
    _blocks([0, 1, 0, 1, 0, 1, 3, 2, 2, 0],
            ["separable_5x5_2", "separable_7x7_2", "max_pool_3x3", "separable_7x7_2", "avg_pool_3x3",
             "separable_5x5_2", "none", "avg_pool_3x3", "separable_3x3_2", "max_pool_3x3"]),
    concat=(3, 4, 5, 6), reduction=True)

#: named genotype pairs ``(normal, reduction)``
GENOTYPES: dict[str, tuple[Genotype, Genotype]] = {"nasnet_a": (NASNET_A_NORMAL, NASNET_A_REDUCTION)}


def sample_genotype(rng: random.Random, *, reduction: bool, ops: Iterable[str] = OPS, num_blocks: int = NUM_BLOCKS,
                    combines: Iterable[str] = COMBINES) -> Genotype:
    """A random cell of the search space: each block's two inputs uniform over the earlier states, its two ops
    uniform over ``ops``, its combine uniform over ``combines``; output = the unused states (paper's rule)."""
    ops, combines = tuple(ops), tuple(combines)
    blocks = []
    for b in range(num_blocks):
        state = 2 + b
        blocks.append(Block(rng.randrange(state), rng.choice(ops), rng.randrange(state), rng.choice(ops),
                            rng.choice(combines)))
    return Genotype(tuple(blocks), None, reduction)


def random_pair(seed: int, *, ops: str | Iterable[str] = "full13", num_blocks: int = NUM_BLOCKS,
                combines: Iterable[str] = COMBINES) -> tuple[Genotype, Genotype]:
    """The seeded random ``(normal, reduction)`` pair: one ``random.Random(seed)`` draws the Normal cell, then the
    Reduction cell. The same seed gives the same pair on every machine (Python's Mersenne Twister)."""
    op_list = OP_SETS[ops] if isinstance(ops, str) else tuple(ops)
    rng = random.Random(seed)
    normal = sample_genotype(rng, reduction=False, ops=op_list, num_blocks=num_blocks, combines=combines)
    return normal, sample_genotype(rng, reduction=True, ops=op_list, num_blocks=num_blocks, combines=combines)


def describe(genotype: Genotype) -> str:
    """``s2 = sep_conv_5x5(s0) + sep_conv_3x3(s1); ...; out = concat(s1, ...)``."""
    parts = []
    for b, block in enumerate(genotype.blocks):
        sign = " + " if block.combine == "add" else " | "
        parts.append(f"s{2 + b} = {block.op_a}(s{block.in_a}){sign}{block.op_b}(s{block.in_b})")
    outs = ", ".join(f"s{i}" for i in genotype.output_states())
    return "; ".join(parts) + f"; out = concat({outs})"
