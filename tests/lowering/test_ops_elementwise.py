"""Parity of ADD, SUB, MUL, MAXIMUM, MINIMUM and CONCATENATION (int8) with TFLite Micro.

Models come from the TFLite converter (tf.function or Keras layers). A second group takes one
converted two-input model, rewrites the op's quantization parameters (and fused activation) in
the flatbuffer to seeded random values, and compares every one of the 256 x 256 input pairs,
which covers the multiplier derivation far more thoroughly than calibrated models can.
"""

import numpy as np
import pytest

from modelgen import assert_bit_exact, cached_model, seeded_keras, tflite_from_function, tflite_from_keras

V = 1  # bump to rebuild the cached models of this file


def _act(name, z):
    """The converter fuses these into the op as RELU, RELU6 and RELU_N1_TO_1."""
    import tensorflow as tf

    if name is None:
        return z
    return {"relu": tf.nn.relu, "relu6": tf.nn.relu6, "relu_n1": lambda t: tf.clip_by_value(t, -1.0, 1.0)}[name](z)


def _binary(name: str):
    import tensorflow as tf

    return {"add": tf.add, "sub": tf.subtract, "mul": tf.multiply, "max": tf.maximum, "min": tf.minimum}[name]


def _fn_model(spec: dict, fn, shapes) -> bytes:
    return cached_model(spec, lambda: tflite_from_function(fn, shapes, seed=spec["seed"]))


# ---------------------------------------------------------------------------------------------
# Two activation inputs, with and without broadcasting. The second input is scaled first so the
# two operands reach the op with different quantization.

BINARY_CASES = [
    ("add", (1, 4, 4, 8), (1, 4, 4, 8), "relu", 3.0),
    ("add", (1, 4, 4, 8), (1, 1, 1, 8), None, 0.5),
    ("add", (1, 4, 4, 8), (1, 4, 1, 1), "relu6", 4.0),
    ("add", (1, 1, 1, 8), (1, 4, 4, 8), "relu_n1", 1.0),
    ("add", (2, 1, 3, 1, 4), (1, 3, 1, 2, 1), "relu", 2.0),
    ("sub", (1, 4, 4, 8), (1, 4, 1, 1), None, 2.5),
    ("sub", (1, 1, 4, 1), (1, 3, 1, 5), "relu", 0.3),
    ("sub", (2, 1, 2, 3, 1, 2), (1, 3, 2, 1, 2, 1), None, 1.0),
    ("mul", (1, 4, 4, 8), (1, 1, 1, 8), "relu_n1", 1.7),
    ("mul", (2, 3, 1, 4, 2), (2, 1, 5, 1, 2), None, 3.0),
    ("mul", (1, 5, 5, 3), (1, 5, 5, 3), "relu6", 6.0),
    ("max", (1, 4, 4, 8), (1, 1, 1, 8), None, 1.0),
    ("min", (3, 1, 4), (1, 5, 1), None, 1.0),
]


@pytest.mark.parametrize("case", range(len(BINARY_CASES)))
def test_binary_two_inputs(case):
    op, a, b, act, k = BINARY_CASES[case]
    spec = dict(v=V, op=f"binary_{op}", a=a, b=b, act=act, k=k, seed=case)

    def fn(x, y):
        return _act(act, _binary(op)(x, y * k))

    data = _fn_model(spec, fn, [a, b])
    assert_bit_exact(data, f"{op}_{case}", seed=case)


# ---------------------------------------------------------------------------------------------
# One operand a constant tensor (passed to the kernel as a const array).

CONST_CASES = [
    ("add", "vector", False),  # x + c[8]
    ("add", "scalar", False),  # x + 0.25
    ("sub", "column", True),  # c[1,4,1,1] - x
    ("mul", "vector", False),
    ("mul", "scalar", True),
    ("max", "scalar", False),
    ("min", "vector", True),
]


@pytest.mark.parametrize("case", range(len(CONST_CASES)))
def test_binary_constant_operand(case):
    import tensorflow as tf

    op, kind, const_first = CONST_CASES[case]
    rng = np.random.default_rng(300 + case)
    if kind == "vector":
        c = rng.uniform(-1.5, 1.5, size=(8,)).astype(np.float32)
    elif kind == "column":
        c = rng.uniform(-1.0, 1.0, size=(1, 4, 1, 1)).astype(np.float32)
    else:
        c = np.float32(rng.uniform(-0.6, 0.6))
    spec = dict(v=V, op=f"const_{op}", kind=kind, first=const_first, c=np.asarray(c).tolist(), seed=case)

    def fn(x):
        cc = tf.constant(c)
        return _binary(op)(cc, x) if const_first else _binary(op)(x, cc)

    data = _fn_model(spec, fn, [(1, 4, 4, 8)])
    assert_bit_exact(data, f"const_{op}_{case}", seed=case)


# ---------------------------------------------------------------------------------------------
# Keras merge layers, fed by layers with their own output scales.


@pytest.mark.parametrize("layer", ["Add", "Subtract", "Multiply", "Maximum", "Minimum"])
def test_keras_merge_layers(layer):
    spec = dict(v=V, op=f"keras_{layer}", seed=7)

    def build():
        import tensorflow as tf

        seeded_keras(7)
        n = 2 if layer == "Subtract" else 3
        ins = [tf.keras.Input((5, 5, 4), batch_size=1) for _ in range(n)]
        first = tf.keras.layers.Conv2D(4, 3, padding="same", bias_initializer="random_normal")(ins[0])
        merged = getattr(tf.keras.layers, layer)()([first] + ins[1:])
        return tflite_from_keras(tf.keras.Model(ins, merged), seed=7)

    data = cached_model(spec, build)
    assert_bit_exact(data, f"keras_{layer}", seed=7)


# ---------------------------------------------------------------------------------------------
# Seeded random broadcast shapes over ranks 1-5 (the converter lowers some rank-6 MAXIMUM and
# MINIMUM broadcasts to BROADCAST_TO, another op family, so those stay at rank <= 5).


def _random_pair(rng, max_rank: int):
    rank = int(rng.integers(1, max_rank + 1))
    out = [int(rng.integers(1, 5)) for _ in range(rank)]
    a = [d if rng.random() < 0.6 else 1 for d in out]
    b = [d if (da == 1 or rng.random() < 0.5) else 1 for d, da in zip(out, a)]
    ra = int(rng.integers(1, rank + 1)) if rng.random() < 0.3 else rank
    rb = int(rng.integers(1, rank + 1)) if rng.random() < 0.3 else rank
    return tuple(a[rank - ra :]), tuple(b[rank - rb :])


@pytest.mark.parametrize("seed", range(5))
def test_binary_random_broadcast(seed):
    rng = np.random.default_rng(500 + seed)
    op = ["add", "sub", "mul", "max", "min"][seed]
    a, b = _random_pair(rng, 5)
    k = float(rng.choice([0.5, 1.0, 2.0]))
    spec = dict(v=V, op=f"random_{op}", a=a, b=b, k=k, seed=seed)

    def fn(x, y):
        return _binary(op)(x, y * k)

    data = _fn_model(spec, fn, [a, b])
    assert_bit_exact(data, f"random_{op}_{seed}", seed=seed)


# ---------------------------------------------------------------------------------------------
# Rewritten quantization, every input pair.


def _rewrite(data: bytes, quants, activation=None) -> bytes:
    """Set the (scale, zero point) of the last op's inputs and output, and its activation."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(data, 0))
    sub = model.subgraphs[0]
    op = sub.operators[-1]
    for t, (scale, zp) in zip(list(op.inputs) + list(op.outputs), quants):
        q = sub.tensors[t].quantization
        q.scale = [float(np.float32(scale))]
        q.zeroPoint = [int(zp)]
    if activation is not None:
        op.builtinOptions.fusedActivationFunction = activation
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _grid_model(op: str) -> bytes:
    def fn(x, y):
        return _binary(op)(x, y)

    return _fn_model(dict(v=V, op=f"grid_{op}", seed=0), fn, [(256, 1), (1, 256)])


@pytest.mark.parametrize("op,seed", [(op, s) for op in ["add", "sub", "mul", "max", "min"] for s in range(2)])
def test_binary_all_pairs_random_quantization(op, seed):
    from edgeconv.checking.validation import validate_bytes

    rng = np.random.default_rng(700 + 10 * seed + len(op))
    cases = []
    for _ in range(3):
        s = np.exp(rng.uniform(-7.0, -1.0, size=3))
        if op == "mul":
            s[2] = s[0] * s[1] * np.exp(rng.uniform(-1.0, 4.0))  # real multiplier on both sides of 1
        else:
            s[2] = max(s[0], s[1]) * np.exp(rng.uniform(-0.5, 2.0))
        zp = rng.integers(-128, 128, size=3)
        act = int(rng.integers(0, 4)) if op in ("add", "sub", "mul") else None
        cases.append((list(zip(s.tolist(), zp.tolist())), act))
    x = np.arange(-128, 128, dtype=np.int8).reshape(256, 1)
    y = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)
    base = _grid_model(op)
    for i, (quants, act) in enumerate(cases):
        data = _rewrite(base, quants, act)
        report = validate_bytes(data, f"grid_{op}_{seed}_{i}", samples=1, seed=seed, extra_inputs=[[x, y]])
        assert "tflm" in report.references, report.notes
        assert report.bit_exact, (
            f"{op} {quants} act {act}: {report.mismatches_vs_tflm} of 65536 differ (max |diff| {report.max_abs_diff})"
        )


def test_sub_multipliers_are_formed_in_double():
    """Scales whose float32 and double quotients round to different multipliers (input 1:
    1717986816 vs 1717986854): the references' SUB follows double, as ADD does."""
    from edgeconv.checking.validation import validate_bytes

    x = np.arange(-128, 128, dtype=np.int8).reshape(256, 1)
    y = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)
    data = _rewrite(_grid_model("sub"), [(0.05, -3), (0.02, 4), (0.08, 1)])
    report = validate_bytes(data, "sub_double", samples=0, extra_inputs=[[x, y]])
    assert "tflm" in report.references and report.elements_compared == 65536
    assert report.bit_exact, f"{report.mismatches_vs_tflm} of 65536 differ"


# ---------------------------------------------------------------------------------------------
# CONCATENATION


CONCAT_CASES = [
    # (input shapes, axis, per-input scale factors)
    ([(1, 4, 4, 8), (1, 4, 4, 3)], 3, [1.0, 2.0]),
    ([(1, 4, 4, 2), (1, 4, 4, 5), (1, 4, 4, 1)], -1, [1.0, 0.5, 3.0]),
    ([(1, 3, 4, 4), (1, 1, 4, 4), (1, 2, 4, 4), (1, 5, 4, 4)], 1, [1.0, 1.0, 2.0, 0.25]),
    ([(1, 4, 2, 3), (1, 4, 5, 3)], 2, [4.0, 1.0]),
    ([(2, 3, 4), (1, 3, 4), (3, 3, 4)], 0, [1.0, 2.0, 1.0]),
]


@pytest.mark.parametrize("case", range(len(CONCAT_CASES)))
def test_concatenation(case):
    import tensorflow as tf

    shapes, axis, ks = CONCAT_CASES[case]
    spec = dict(v=V, op="concat", shapes=shapes, axis=axis, ks=ks, seed=case)

    def fn(*xs):
        return tf.concat([x * k for x, k in zip(xs, ks)], axis=axis)

    data = _fn_model(spec, fn, shapes)
    assert_bit_exact(data, f"concat_{case}", seed=case)


def test_concatenation_keras_with_constant():
    spec = dict(v=V, op="concat_keras_const", seed=11)

    def build():
        import tensorflow as tf

        seeded_keras(11)
        x = tf.keras.Input((4, 4, 3), batch_size=1)
        y = tf.keras.Input((4, 4, 3), batch_size=1)
        a = tf.keras.layers.Conv2D(5, 3, padding="same", activation="relu")(x)
        b = tf.keras.layers.DepthwiseConv2D(3, padding="same")(y)
        c = tf.keras.layers.Lambda(lambda t: tf.concat([t, tf.ones_like(t[..., :2]) * 0.5], axis=-1))(y)
        merged = tf.keras.layers.Concatenate(axis=-1)([a, b, c, x])
        return tflite_from_keras(tf.keras.Model([x, y], merged), seed=11)

    data = cached_model(spec, build)
    assert_bit_exact(data, "concat_keras_const", seed=11)


def _concat_model() -> bytes:
    import tensorflow as tf

    def fn(x, y):
        return tf.concat([x, y], axis=-1)

    return _fn_model(dict(v=V, op="concat_plain", seed=0), fn, [(1, 4, 4, 3), (1, 4, 4, 2)])


def test_concatenation_requantizing_input_is_refused_like_tflm():
    """TFLite Micro refuses int8 inputs whose quantization differs from the output; so do we."""
    from edgeconv.checking.references import ReferenceUnavailable, TflmReference
    from edgeconv.frontend.ir import UnsupportedOpError
    from edgeconv.lowering.compiler import compile_bytes

    data = _rewrite(_concat_model(), [(0.01, 3), (0.02, 3), (0.01, 3)])
    with pytest.raises(ReferenceUnavailable):
        TflmReference(data)
    with pytest.raises(UnsupportedOpError, match="CONCATENATION"):
        compile_bytes(data, "concat_requant")


def test_concatenation_fused_activation_is_refused_like_tflm():
    from edgeconv.checking.references import ReferenceUnavailable, TflmReference
    from edgeconv.frontend.ir import UnsupportedOpError
    from edgeconv.lowering.compiler import compile_bytes

    q = (0.01, -5)
    data = _rewrite(_concat_model(), [q, q, q], activation=1)
    with pytest.raises(ReferenceUnavailable):
        TflmReference(data)
    with pytest.raises(UnsupportedOpError, match="CONCATENATION"):
        compile_bytes(data, "concat_relu")


# ---------------------------------------------------------------------------------------------
# The compile-time loop nest.


def test_broadcast_loops_merge_contiguous_dimensions():
    from edgeconv.frontend.ir import Graph, Op
    from edgeconv.lowering.ops.elementwise import broadcast_loops

    g = Graph("g", {}, [], [], [])
    op = Op(0, "ADD", [], [])
    same = broadcast_loops(g, op, (1, 4, 4, 8), (1, 4, 4, 8), (1, 4, 4, 8))
    assert same == dict(out_dims=[1, 1, 1, 1, 1, 128], in0_strides=[0, 0, 0, 0, 0, 1], in1_strides=[0, 0, 0, 0, 0, 1])
    chan = broadcast_loops(g, op, (1, 4, 4, 8), (8,), (1, 4, 4, 8))
    assert chan["out_dims"][-2:] == [16, 8] and chan["in1_strides"][-2:] == [0, 1]
    row = broadcast_loops(g, op, (1, 4, 1, 1), (1, 4, 4, 8), (1, 4, 4, 8))
    assert row["out_dims"][-2:] == [4, 32] and row["in0_strides"][-2:] == [1, 0] and row["in1_strides"][-2:] == [32, 1]
    from edgeconv.frontend.ir import ModelError

    with pytest.raises(ModelError):
        broadcast_loops(g, op, (1, 4, 4, 8), (1, 3, 1, 8), (1, 4, 4, 8))
