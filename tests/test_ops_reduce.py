"""Parity of REDUCE_MAX, REDUCE_MIN, SUM, MEAN (int8 and int16) and ARG_MAX / ARG_MIN.

Randomized one-op models built with tests/mutants.Net (seeded: shapes of rank 1-5, axes with
negative and duplicate entries, keep_dims, scales, zero points), each model holding several
independent ops, plus models from the TFLite converter (GlobalMaxPooling1D/2D, tf.reduce_sum,
tf.reduce_min, tf.argmax/argmin, GlobalAveragePooling in 16x8). Every output element must equal
the oracle: TFLite Micro where it runs the op and type, TFLite's reference kernels where
TFLite Micro lacks the type (REDUCE_MAX/MIN int16, ARG_MAX/MIN with an INT64 output or axis);
each case asserts which oracle it was measured against.
"""

import numpy as np
import pytest

import mutants
from modelgen import cached_model, seeded_keras, tflite_from_function, tflite_from_keras
from mutants import Net

from edgeconv.reader import read_tflite_bytes
from edgeconv.validation import validate_bytes

for _name, _member in {"SUM": "ReducerOptions", "REDUCE_MAX": "ReducerOptions", "REDUCE_MIN": "ReducerOptions",
                       "ARG_MAX": "ArgMaxOptions", "ARG_MIN": "ArgMinOptions"}.items():
    mutants.OPTIONS_OF.setdefault(_name, _member)


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


def random_axes(rng, rank: int) -> list[int]:
    """A nonempty list of axes in [-rank, rank), some negative, sometimes with a duplicate."""
    k = int(rng.integers(1, rank + 1))
    axes = [int(a) for a in rng.choice(rank, size=k, replace=False)]
    axes = [a - rank if rng.random() < 0.4 else a for a in axes]
    if rng.random() < 0.25:
        axes.append(axes[0] - rank if axes[0] >= 0 else axes[0] + rank)  # the same axis again
    return axes


def reduced_shape(shape: list[int], axes: list[int], keep: bool) -> list[int]:
    rank = len(shape)
    res = {a % rank for a in axes}
    if keep:
        return [1 if i in res else d for i, d in enumerate(shape)]
    return [d for i, d in enumerate(shape) if i not in res]


# ---------------------------------------------------------------------------------------------
# REDUCE_MAX / REDUCE_MIN / SUM / MEAN: randomized Net models

REDUCE_OPS = 4  # independent ops per model


def reduce_model(opname: str, dtype: str, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    n = Net()
    ins, outs = [], []
    for k in range(REDUCE_OPS):
        rank = int(rng.integers(1, 6))
        shape = [int(d) for d in rng.integers(1, 7, size=rank)]
        axes = random_axes(rng, rank)
        keep = bool(rng.random() < 0.5)
        count = int(np.prod([shape[a % rank] for a in set(a % rank for a in axes)]))
        in_s = float(rng.uniform(0.005, 0.2))
        qmax = 127 if dtype == "int8" else 32767
        in_zp = int(rng.integers(-60, 60)) if dtype == "int8" else 0
        if opname in ("REDUCE_MAX", "REDUCE_MIN"):
            out_s, out_zp = in_s, in_zp
        elif opname == "SUM":
            out_s = in_s * float(rng.uniform(0.3, 2.0)) * np.sqrt(count)
            out_zp = int(rng.integers(-40, 40)) if dtype == "int8" else 0
        else:
            out_s = in_s * float(rng.uniform(0.4, 1.6))
            out_zp = int(rng.integers(-40, 40)) if dtype == "int8" else int(rng.integers(-3, 4))
        x = n.tensor(f"x{k}", shape, dtype, scale=in_s, zp=in_zp)
        a = n.tensor(f"axis{k}", [len(axes)], "int32", data=axes)
        y = n.tensor(f"y{k}", reduced_shape(shape, axes, keep), dtype, scale=out_s, zp=out_zp)
        n.op(opname, [x, a], [y], keepDims=keep)
        ins.append(x)
        outs.append(y)
        del qmax
    return n.finish(ins, outs)


REDUCE_SEEDS = range(4)


@pytest.mark.parametrize("seed", REDUCE_SEEDS)
@pytest.mark.parametrize("opname", ["REDUCE_MAX", "REDUCE_MIN", "SUM", "MEAN"])
def test_reduce_int8_random(opname, seed):
    check(reduce_model(opname, "int8", 100 * seed + len(opname)), f"{opname.lower()}_s8_{seed}", "tflm", seed)


@pytest.mark.parametrize("seed", REDUCE_SEEDS)
@pytest.mark.parametrize("opname", ["REDUCE_MAX", "REDUCE_MIN", "SUM", "MEAN"])
def test_reduce_int16_random(opname, seed):
    # TFLite Micro runs SUM and MEAN in int16; REDUCE_MAX/MIN only in int8 (TFLite's reference).
    oracle = "tflm" if opname in ("SUM", "MEAN") else "tflite_ref"
    check(reduce_model(opname, "int16", 100 * seed + len(opname) + 7), f"{opname.lower()}_s16_{seed}", oracle, seed)
