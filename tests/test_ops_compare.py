"""Parity of EQUAL, NOT_EQUAL, LESS, LESS_EQUAL, GREATER, GREATER_EQUAL, SELECT_V2 and
SQUARED_DIFFERENCE (int8 and int16).

Randomized models built with tests/mutants.Net (seeded: shapes of rank 1-4 with broadcasting,
scales, zero points; tiny scales where TFLite's rescale maps distinct raw values to one), each
model holding several independent ops, plus models from the TFLite converter
(tf.where(x > y, a, b), squared differences as in written-out normalization, int8 and 16x8).
A comparison's bool output feeds a SELECT_V2 whose output is the model's (edgeconv refuses BOOL
model inputs and outputs, compiler._check_io). Every output element must equal the oracle:
TFLite Micro, or TFLite's reference kernels for int16 comparisons, which only it runs; each
case asserts which oracle it was measured against.
"""

import numpy as np
import pytest

import mutants
from modelgen import cached_model, tflite_from_function
from mutants import Net

from edgeconv.reader import read_tflite_bytes
from edgeconv.validation import validate_bytes

COMPARISONS = ["EQUAL", "NOT_EQUAL", "GREATER", "GREATER_EQUAL", "LESS", "LESS_EQUAL"]
for _name in COMPARISONS:
    mutants.OPTIONS_OF.setdefault(_name, "".join(w.capitalize() for w in _name.split("_")) + "Options")
mutants.OPTIONS_OF.setdefault("SELECT_V2", "SelectV2Options")
mutants.OPTIONS_OF.setdefault("SQUARED_DIFFERENCE", "SquaredDifferenceOptions")


def check(data: bytes, label: str, oracle: str = "tflm", seed: int = 0, samples: int = 6):
    report = validate_bytes(data, label, samples=samples, seed=seed)
    assert report.oracle == oracle, f"{label}: measured against {report.oracle}, not {oracle}: {report.reference_status}"
    assert oracle in report.references, f"{label}: {oracle} did not run: {report.notes}"
    assert report.elements_compared > 0
    assert report.bit_exact and report.mismatches_vs_oracle == 0, (
        f"{label}: {report.mismatches_vs_oracle} elements differ from {oracle} (max |diff| {report.max_abs_diff}); "
        f"first divergent op: {report.first_divergent_op}")
    return report


def opcodes(data: bytes) -> list[str]:
    return [op.opcode for op in read_tflite_bytes(data).ops]


def broadcast_pair(rng, rank: int) -> tuple[list[int], list[int], list[int]]:
    """Two shapes that broadcast (either may have fewer dimensions) and their broadcast."""
    out = [int(d) for d in rng.integers(1, 6, size=rank)]
    a = [1 if rng.random() < 0.3 else d for d in out]
    b = [1 if rng.random() < 0.3 else d for d in out]
    if rng.random() < 0.3:
        b = b[int(rng.integers(0, rank)):]
    full = [max(x, y) for x, y in zip(a, [1] * (rank - len(b)) + b)]
    return a, b, full


def shrink(rng, shape: list[int]) -> list[int]:
    """A shape that broadcasts to `shape`: some dimensions 1, some leading ones dropped."""
    s = [1 if rng.random() < 0.3 else d for d in shape]
    return s[int(rng.integers(0, len(s))):] if rng.random() < 0.3 else s


def int8_quant(rng, tiny: bool = False) -> tuple[float, int]:
    scale = float(rng.uniform(1e-4, 3e-3)) if tiny else float(rng.uniform(0.01, 0.9))
    return scale, int(rng.integers(-100, 100))


# ---------------------------------------------------------------------------------------------
# Comparisons feeding SELECT_V2: randomized

OPS_PER_MODEL = 3


def compare_select_model(dtype: str, seed: int, comparisons=COMPARISONS, select_dtype: str | None = None) -> bytes:
    rng = np.random.default_rng(seed)
    select_dtype = select_dtype or dtype
    n = Net()
    ins, outs = [], []
    for k in range(OPS_PER_MODEL):
        opname = comparisons[int(rng.integers(0, len(comparisons)))]
        rank = int(rng.integers(1, 5))
        sa, sb, full = broadcast_pair(rng, rank)
        if dtype == "int8":
            tiny = rng.random() < 0.3
            (s0, z0), (s1, z1) = int8_quant(rng, tiny), int8_quant(rng, tiny)
            if rng.random() < 0.3:
                s1, z1 = s0, z0
        else:
            s0, z0, s1, z1 = float(rng.uniform(1e-4, 0.01)), 0, float(rng.uniform(1e-4, 0.01)), 0
        a = n.tensor(f"a{k}", sa, dtype, scale=s0, zp=z0)
        b = n.tensor(f"b{k}", sb, dtype, scale=s1, zp=z1)
        c = n.tensor(f"cond{k}", full, "bool")
        n.op(opname, [a, b], [c])
        sx, sy = shrink(rng, full), shrink(rng, full)
        qs = 0.05 if select_dtype == "int8" else 1e-3
        x = n.tensor(f"x{k}", sx, select_dtype, scale=qs, zp=0)
        y = n.tensor(f"y{k}", sy, select_dtype, scale=qs, zp=0)
        rank_out = max(len(full), len(sx), len(sy))
        ext = [[1] * (rank_out - len(s)) + list(s) for s in (full, sx, sy)]
        out_shape = [max(d) for d in zip(*ext)]
        o = n.tensor(f"out{k}", out_shape, select_dtype, scale=qs, zp=0)
        n.op("SELECT_V2", [c, x, y], [o])
        ins += [a, b, x, y]
        outs.append(o)
    return n.finish(ins, outs)


@pytest.mark.parametrize("seed", range(8))
def test_compare_select_int8_random(seed):
    check(compare_select_model("int8", 500 + seed, select_dtype="int8" if seed % 2 else "int16"),
          f"compare_select_s8_{seed}", "tflm", seed)


@pytest.mark.parametrize("seed", range(3))
def test_compare_int16_random(seed):
    # TFLite Micro refuses EQUAL, GREATER_EQUAL and LESS on int16; TFLite's reference runs them.
    check(compare_select_model("int16", 600 + seed, comparisons=["EQUAL", "GREATER_EQUAL", "LESS"]),
          f"compare_s16_{seed}", "tflite_ref", seed)


# ---------------------------------------------------------------------------------------------
# SQUARED_DIFFERENCE: randomized


def squared_difference_model(dtype: str, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    n = Net()
    ins, outs = [], []
    for k in range(OPS_PER_MODEL):
        rank = int(rng.integers(1, 5))
        sa, sb, full = broadcast_pair(rng, rank)
        if rng.random() < 0.5:
            sa, sb = sb, sa
        if dtype == "int8":
            (s0, z0), (s1, z1) = int8_quant(rng), int8_quant(rng)
            so = max(s0, s1) ** 2 * float(rng.uniform(20, 4000))
            zo = int(rng.integers(-128, 0))
        else:
            s0, s1 = float(rng.uniform(1e-4, 1e-3)), float(rng.uniform(1e-4, 1e-3))
            z0 = z1 = zo = 0
            so = max(s0, s1) ** 2 * float(rng.uniform(2e4, 2e6))
        a = n.tensor(f"a{k}", sa, dtype, scale=s0, zp=z0)
        b = n.tensor(f"b{k}", sb, dtype, scale=s1, zp=z1)
        o = n.tensor(f"out{k}", full, dtype, scale=so, zp=zo)
        n.op("SQUARED_DIFFERENCE", [a, b], [o])
        ins += [a, b]
        outs.append(o)
    return n.finish(ins, outs)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("dtype", ["int8", "int16"])
def test_squared_difference_random(dtype, seed):
    check(squared_difference_model(dtype, 700 + seed + (50 if dtype == "int16" else 0)),
          f"squared_difference_{dtype}_{seed}", "tflm", seed)
