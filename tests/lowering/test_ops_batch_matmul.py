"""BATCH_MATMUL, int8 and int16: bit-exact with TFLite Micro.

Randomized one-op models built directly (tests/mutants.Net): ranks 2 to 5, broadcast batch
dimensions (either side 1, or missing), adj_x / adj_y, a run-time or constant RHS, zero
points, scales; several independent ops per model so that one build checks many cases. Plus
the converter's forms (tf.matmul of two activations, Keras attention) in int8 and 16x8, and
the refusals.
"""

from __future__ import annotations

import numpy as np
import pytest

from edgeconv.frontend.ir import ModelError
from edgeconv.frontend.reader import read_tflite_bytes
from edgeconv.lowering.compiler import compile_bytes
from modelgen import assert_bit_exact, cached_model, seeded_keras, tflite_from_function, tflite_from_keras
from mutants import Net


def add_batch_matmul(n: Net, inputs: list[int], outputs: list[int], adj_x: bool, adj_y: bool) -> None:
    n.op("BATCH_MATMUL", inputs, outputs, adjX=adj_x, adjY=adj_y)


def random_case(rng: np.random.Generator, s16: bool) -> dict:
    out_rank = int(rng.integers(2, 6))
    batch = [int(rng.integers(1, 4)) for _ in range(out_rank - 2)]

    def side():
        # drop leading dims (lower rank) or set some to 1 (broadcast)
        keep = int(rng.integers(0, len(batch) + 1)) if rng.random() < 0.4 else len(batch)
        dims = batch[len(batch) - keep :]
        return [1 if rng.random() < 0.3 else d for d in dims]

    lb, rb = side(), side()
    if len(lb) < len(batch) and len(rb) < len(batch):
        lb = batch[:]  # the output rank comes from one of them
    return dict(
        s16=s16,
        lhs_batch=lb,
        rhs_batch=rb,
        M=int(rng.integers(1, 7)),
        N=int(rng.integers(1, 7)),
        K=int(rng.integers(1, 20)),
        adj_x=bool(rng.random() < 0.4),
        adj_y=bool(rng.random() < 0.5),
        const_rhs=bool(rng.random() < 0.35),
        seed=int(rng.integers(0, 2**31)),
    )


def add_case(n: Net, c: dict, tag: str) -> tuple[int | None, int | None, int]:
    rng = np.random.default_rng(c["seed"])
    dt = "int16" if c["s16"] else "int8"
    M, N, K = c["M"], c["N"], c["K"]
    lhs_shape = c["lhs_batch"] + ([K, M] if c["adj_x"] else [M, K])
    rhs_shape = c["rhs_batch"] + ([N, K] if c["adj_y"] else [K, N])
    rank = max(len(c["lhs_batch"]), len(c["rhs_batch"]))
    lb = [1] * (rank - len(c["lhs_batch"])) + c["lhs_batch"]
    rb = [1] * (rank - len(c["rhs_batch"])) + c["rhs_batch"]
    out_shape = [max(a, b) for a, b in zip(lb, rb)] + [M, N]
    ls = float(rng.uniform(0.005, 0.05)) / (256 if c["s16"] else 1)
    rs = float(rng.uniform(0.005, 0.05)) / (256 if c["s16"] else 1)
    zl = 0 if c["s16"] else int(rng.integers(-128, 128))
    zr = 0 if c["s16"] else int(rng.integers(-128, 128))
    full = 2**15 if c["s16"] else 128
    acc_std = (full / np.sqrt(3)) ** 2 * np.sqrt(K)
    ys = float(ls * rs * acc_std / ((32767 if c["s16"] else 127) * 0.4) * rng.uniform(0.5, 2.0))
    zo = 0 if c["s16"] else int(rng.integers(-100, 100))
    lhs = n.tensor(f"{tag}_lhs", lhs_shape, dt, scale=ls, zp=zl)
    lo, hi = (-32768, 32768) if c["s16"] else (-128, 128)
    data = rng.integers(lo, hi, size=rhs_shape) if c["const_rhs"] else None
    rhs = n.tensor(f"{tag}_rhs", rhs_shape, dt, scale=rs, zp=zr, data=data)
    y = n.tensor(f"{tag}_output", out_shape, dt, scale=ys, zp=zo)
    add_batch_matmul(n, [lhs, rhs], [y], c["adj_x"], c["adj_y"])
    return lhs, (None if c["const_rhs"] else rhs), y


def model_of(cases: list[dict]) -> bytes:
    n = Net()
    ins, outs = [], []
    for i, c in enumerate(cases):
        lhs, rhs, y = add_case(n, c, f"c{i}")
        ins += [lhs] + ([rhs] if rhs is not None else [])
        outs.append(y)
    return n.finish(ins, outs)


PER_MODEL = 4


@pytest.mark.parametrize("s16,group", [(False, g) for g in range(8)] + [(True, g) for g in range(6)])
def test_random_batch_matmul(s16, group):
    """56 randomized cases (14 models x 4 ops)."""
    rng = np.random.default_rng(2000 + 1000 * int(s16) + group)
    cases = [random_case(rng, s16) for _ in range(PER_MODEL)]
    data = model_of(cases)
    assert [op.opcode for op in read_tflite_bytes(data).ops] == ["BATCH_MATMUL"] * PER_MODEL
    report = assert_bit_exact(data, f"bmm_{'s16' if s16 else 's8'}_{group}", samples=4, seed=group)
    assert report.mismatches_vs_tflite_ref in (None, 0)


def test_large_depth_and_extreme_zero_points():
    """The int32 bound with zero points at the ends of int8 and a long inner dimension."""
    n = Net()
    ins, outs = [], []
    for i, (zl, zr, K) in enumerate(((-128, 127, 300), (127, -128, 64), (0, -128, 1000))):
        lhs = n.tensor(f"l{i}", [2, 3, K], "int8", scale=0.02, zp=zl)
        rhs = n.tensor(f"r{i}", [1, K, 5], "int8", scale=0.03, zp=zr)
        y = n.tensor(f"y{i}", [2, 3, 5], "int8", scale=0.02 * 0.03 * 128 * 128 * np.sqrt(K) / 60, zp=-7)
        add_batch_matmul(n, [lhs, rhs], [y], False, False)
        ins += [lhs, rhs]
        outs.append(y)
    assert_bit_exact(n.finish(ins, outs), "bmm_extreme", samples=6, seed=1)


# ---------------------------------------------------------------------------------------------
# The converter's forms

FUNCTION_CASES = {
    # name: (lhs shape, rhs shape, transpose_a, transpose_b, mode)
    "attn_scores": ((1, 2, 5, 8), (1, 2, 6, 8), False, True, "int8"),
    "attn_values": ((1, 2, 5, 6), (1, 2, 6, 8), False, False, "int8"),
    "broadcast_rhs": ((3, 4, 7), (1, 7, 5), False, False, "int8"),
    "transpose_a": ((2, 6, 4), (2, 6, 3), True, False, "int8"),
    "attn_scores_16x8": ((1, 2, 5, 8), (1, 2, 6, 8), False, True, "16x8"),
    "attn_values_16x8": ((2, 5, 6), (2, 6, 4), False, False, "16x8"),
}


@pytest.mark.parametrize("name", sorted(FUNCTION_CASES))
def test_tf_matmul(name):
    import tensorflow as tf

    a_shape, b_shape, ta, tb, mode = FUNCTION_CASES[name]
    seed = 500 + sorted(FUNCTION_CASES).index(name)

    def fn(a, b):
        return tf.matmul(a, b, transpose_a=ta, transpose_b=tb)

    data = cached_model(
        {"op": "batch_matmul_fn", "name": name, "case": repr(FUNCTION_CASES[name])},
        lambda: tflite_from_function(fn, [a_shape, b_shape], seed=seed, mode=mode),
    )
    ops = [op.opcode for op in read_tflite_bytes(data).ops]
    assert "BATCH_MATMUL" in ops, f"{name}: the converter emitted {ops}"
    assert_bit_exact(data, f"bmm_fn_{name}", samples=6, seed=seed)


@pytest.mark.parametrize("mode", ["int8", "16x8"])
def test_keras_attention(mode):
    """A self-attention block as Keras writes it (scores, softmax, weighted values). (With a
    dynamic batch the converter stores placeholder shapes, so TFLite's reference is the
    oracle, and it differs from TFLite Micro by 1 LSB at the Dense layers' FULLY_CONNECTED,
    the known per-channel disagreement; the BATCH_MATMULs there are exact.)"""
    import tensorflow as tf

    seed = 520 + (mode == "16x8")

    def build():
        seeded_keras(seed)
        x = tf.keras.Input((6, 8), batch_size=1)
        q = tf.keras.layers.Dense(8)(x)
        v = tf.keras.layers.Dense(8)(x)
        y = tf.keras.layers.Attention()([q, v])
        return tflite_from_keras(tf.keras.Model(x, y), seed=seed, mode=mode)

    data = cached_model({"op": "batch_matmul_keras_attention", "mode": mode, "seed": seed}, build)
    ops = [op.opcode for op in read_tflite_bytes(data).ops]
    assert "BATCH_MATMUL" in ops, f"the converter emitted {ops}"
    assert_bit_exact(data, f"bmm_attention_{mode}", samples=6, seed=seed)


# ---------------------------------------------------------------------------------------------
# Refusals: one line naming the op


def _single(lhs_shape, rhs_shape, out_shape, dt="int8", zp=0, adj_y=False) -> bytes:
    n = Net()
    lhs = n.tensor("lhs", lhs_shape, dt, scale=0.01, zp=zp)
    rhs = n.tensor("rhs", rhs_shape, dt, scale=0.01, zp=0)
    y = n.tensor("y", out_shape, dt, scale=0.05, zp=0)
    add_batch_matmul(n, [lhs, rhs], [y], False, adj_y)
    return n.finish([lhs, rhs], [y])


def test_refuses_inner_dimension_mismatch():
    with pytest.raises(ModelError, match="BATCH_MATMUL.*(inner dimensions|do not multiply)"):
        compile_bytes(_single([2, 3, 4], [2, 5, 6], [2, 3, 6]), "bad")


def test_refuses_batches_that_do_not_broadcast():
    with pytest.raises(ModelError, match="BATCH_MATMUL.*broadcast"):
        compile_bytes(_single([2, 3, 4], [3, 4, 6], [2, 3, 6]), "bad")


def test_refuses_int16_zero_point():
    with pytest.raises(ModelError, match="BATCH_MATMUL.*zero points 0"):
        compile_bytes(_single([3, 4], [4, 6], [3, 6], dt="int16", zp=3), "bad")


def test_refuses_int32_overflow():
    with pytest.raises(ModelError, match="BATCH_MATMUL.*could overflow"):
        compile_bytes(_single([1, 70000], [70000, 1], [1, 1], zp=-128), "bad")


# ---------------------------------------------------------------------------------------------
# The DSP path (SMLAD / SMLALD) equals the portable one on an emulated Cortex-M4 (and
# tests/lowering/test_ops_transpose_conv.py runs mixed_model under ASan/UBSan)


def mixed_model() -> bytes:
    rng = np.random.default_rng(88)
    cases = [random_case(rng, s16) for s16 in (False, False, False, True, True, True)]
    cases[0].update(K=9, adj_x=True, adj_y=False, const_rhs=False)
    cases[1].update(K=13, adj_x=False, adj_y=True, const_rhs=True)
    cases[3].update(K=7, adj_x=True, adj_y=False, const_rhs=False)
    cases[4].update(K=10, adj_x=False, adj_y=True, const_rhs=True)
    return model_of(cases)


def test_dsp_equals_portable_on_cortex_m4():
    from edgeconv.checking.validation import random_inputs
    from fastpaths import assert_dsp_equals_portable

    data = mixed_model()
    assert_bit_exact(data, "bmm_mixed", samples=4, seed=4)
    model = compile_bytes(data, "bmm_mixed")
    assert_dsp_equals_portable(model, random_inputs(model, 4, 5), "cortex-m4")


def test_multiplier_follows_tflite_micro():
    """Scales whose float32 and double products give different multipliers (1413847135 and
    1413847079, shift -6): TFLite's reference forms the float32 product, the tflite_micro
    build behaves as the double one; every int8 x int8 product is one output element here, and
    TFLite Micro's rounding differs from the reference's at +-8019. edgeconv follows TFLite Micro."""
    from edgeconv.checking.validation import validate_bytes

    n = Net()
    lhs = n.tensor("lhs", [256, 1], "int8", scale=0.09099474549293518, zp=0)
    rhs = n.tensor("rhs", [1, 256], "int8", scale=0.03031981736421585, zp=0)
    y = n.tensor("y", [256, 256], "int8", scale=0.2681947648525238, zp=0)
    add_batch_matmul(n, [lhs, rhs], [y], False, False)
    every = [[np.arange(-128, 128, dtype=np.int8).reshape(256, 1), np.arange(-128, 128, dtype=np.int8).reshape(1, 256)]]
    report = validate_bytes(n.finish([lhs, rhs], [y]), "bmm_multiplier", samples=0, extra_inputs=every)
    assert report.bit_exact and report.mismatches_vs_tflm == 0, report.notes
    assert report.mismatches_vs_tflite_ref == 8  # the references disagree there
