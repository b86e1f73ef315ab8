"""The arena planner: no two live blocks overlap; the size respects the lower bound."""

import numpy as np

from edgeconv.lowering.planner import Block, lower_bound, plan_arena


def _check(plan, blocks):
    for i, a in enumerate(blocks):
        for b in blocks[i + 1 :]:
            if a.last < b.first or b.last < a.first:
                continue
            oa, ob = plan.offsets[a.key], plan.offsets[b.key]
            assert oa + a.size <= ob or ob + b.size <= oa, (a, b)
        assert plan.offsets[a.key] % plan.alignment == 0
        assert plan.offsets[a.key] + a.size <= plan.size


def test_chain_reuses_memory():
    blocks = [Block(f"t{i}", 100, i, i + 1, [i]) for i in range(6)]
    plan = plan_arena(blocks, alignment=16)
    _check(plan, blocks)
    assert plan.size == plan.lower_bound == 224  # two live blocks of 112 at a time


def test_random_lifetimes_seeded():
    rng = np.random.default_rng(7)
    for _ in range(50):
        blocks = []
        for i in range(int(rng.integers(1, 30))):
            first = int(rng.integers(0, 20))
            blocks.append(Block(f"t{i}", int(rng.integers(1, 5000)), first, first + int(rng.integers(0, 6)), [i]))
        plan = plan_arena(blocks, alignment=16)
        _check(plan, blocks)
        assert plan.size >= lower_bound(blocks, 16)


def test_no_reuse_gives_disjoint_blocks():
    blocks = [Block(f"t{i}", 10, i, i, [i]) for i in range(4)]
    plan = plan_arena(blocks, alignment=16, reuse=False)
    assert sorted(plan.offsets.values()) == [0, 16, 32, 48]
