"""Memory planner: one static arena, offsets fixed at compile time.

Every activation tensor (aliases share their source's buffer) and every kernel scratch buffer
is a block with a lifetime [first step, last step] over the execution order. Blocks whose
lifetimes overlap must not overlap in the arena. Placement is greedy (largest first, lowest
free offset), tried under a few orderings; the smallest arena wins. The lower bound is the
largest total of blocks live at one step: no placement can do better.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Block:
    key: str  # "t<index>" for a tensor buffer, "s<step>" for a scratch buffer
    size: int
    first: int
    last: int
    tensors: list[int] = field(default_factory=list)


@dataclass
class ArenaPlan:
    size: int
    lower_bound: int
    offsets: dict[str, int]  # block key -> offset
    tensor_offsets: dict[int, int]  # tensor index -> offset (aliases included)
    blocks: list[Block]
    alignment: int


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def _place(blocks: list[Block], order: list[Block], alignment: int) -> tuple[int, dict[str, int]]:
    placed: list[tuple[int, int, Block]] = []  # (offset, end, block)
    offsets: dict[str, int] = {}
    for b in order:
        size = _align(max(b.size, 1), alignment)
        conflicts = sorted((off, end) for off, end, o in placed if not (o.last < b.first or b.last < o.first))
        offset = 0
        for off, end in conflicts:
            if offset + size <= off:
                break
            offset = max(offset, _align(end, alignment))
        placed.append((offset, offset + size, b))
        offsets[b.key] = offset
    total = max((end for _, end, _ in placed), default=0)
    return total, offsets


def lower_bound(blocks: list[Block], alignment: int) -> int:
    steps = {s for b in blocks for s in (b.first, b.last)}
    best = 0
    for s in steps:
        best = max(best, sum(_align(max(b.size, 1), alignment) for b in blocks if b.first <= s <= b.last))
    return best


def plan_arena(blocks: list[Block], alignment: int = 16, reuse: bool = True) -> ArenaPlan:
    """Place blocks; with reuse=False every block gets its own space (debug builds)."""
    if not reuse:
        offsets, offset = {}, 0
        for b in blocks:
            offsets[b.key] = offset
            offset += _align(max(b.size, 1), alignment)
        size = offset
    else:
        orders = [
            sorted(blocks, key=lambda b: (-b.size, b.first, b.key)),
            sorted(blocks, key=lambda b: (-(b.last - b.first), -b.size, b.key)),
            sorted(blocks, key=lambda b: (b.first, -b.size, b.key)),
            sorted(blocks, key=lambda b: (-(b.size * (b.last - b.first + 1)), b.key)),
        ]
        size, offsets = min((_place(blocks, o, alignment) for o in orders), key=lambda r: r[0])
    tensor_offsets = {t: offsets[b.key] for b in blocks for t in b.tensors}
    return ArenaPlan(size, lower_bound(blocks, alignment), offsets, tensor_offsets, blocks, alignment)
