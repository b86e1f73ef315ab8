"""Parity of the unary int8 activations and of QUANTIZE / DEQUANTIZE at the model edges.

LOGISTIC, TANH, HARD_SWISH, RELU, RELU6 and LEAKY_RELU are checked exhaustively: the model's
input is [1, 256] and one sample holds every int8 (or uint8) value. The input scale and zero
point vary with the representative range (low, high) and with a preceding layer. Models that
the converter does not emit by itself (an int8 -> int8 QUANTIZE with chosen scales, float32 ->
uint8 QUANTIZE, uint8 -> float32 DEQUANTIZE) are converted models edited with TFLite's
flatbuffer object API.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from edgeconv.checking.references import TfliteRefReference
from edgeconv.emit.emitter import emit
from edgeconv.frontend.reader import read_tflite_bytes
from edgeconv.lowering.compiler import compile_bytes
from edgeconv.targets.hostbuild import build_and_load
from modelgen import assert_bit_exact, cached_model, seeded_keras, tflite_from_function, tflite_from_keras

N = 256  # elements per sample: every 8-bit value once


def _check(data: bytes, label: str, extra=None, samples: int = 4, seed: int = 0):
    """assert_bit_exact, with extra (e.g. exhaustive) input samples."""
    return assert_bit_exact(data, label, samples=samples, seed=seed, extra_inputs=extra)


def _every_int8():
    return [[np.arange(-128, 128, dtype=np.int8).reshape(1, N)]]


def _every_uint8():
    return [[np.arange(0, 256, dtype=np.uint8).reshape(1, N)]]


def _opcodes(data: bytes) -> list[str]:
    return [op.opcode for op in read_tflite_bytes(data, name="m").ops]


def _keras_unary(spec: dict) -> bytes:
    """[1, 256] input -> the activation layer, converted."""
    import tensorflow as tf

    seeded_keras(spec["seed"])
    x = tf.keras.Input((N,), batch_size=1)
    kind = spec["op"]
    if kind == "relu":
        layer = tf.keras.layers.ReLU()
    elif kind == "relu6":
        layer = tf.keras.layers.ReLU(6.0)
    else:
        layer = tf.keras.layers.Activation(kind)
    return tflite_from_keras(
        tf.keras.Model(x, layer(x)), seed=spec["seed"], io_type=spec["io"], low=spec["low"], high=spec["high"]
    )


def _unary_model(op: str, low: float, high: float, seed: int = 0, io="int8") -> bytes:
    spec = dict(op=op, low=low, high=high, seed=seed, io=io)
    return cached_model({"test": "activations_unary", **spec}, lambda: _keras_unary(spec))


OPCODE = {"sigmoid": "LOGISTIC", "tanh": "TANH", "hard_swish": "HARD_SWISH", "relu": "RELU", "relu6": "RELU6"}

# (low, high) of the representative data: scales from ~4e-4 to ~2, zero points across int8.
EXHAUSTIVE = {
    "sigmoid": [(-1.0, 1.0), (-8.0, 2.0), (-40.0, 40.0)],
    "tanh": [(-0.05, 0.05), (0.0, 3.0), (-200.0, 300.0)],
    "hard_swish": [(-1.0, 1.0), (-0.05, 0.05), (-8.0, 8.0), (-200.0, 300.0)],
    "relu": [(-3.0, 5.0), (1.0, 9.0)],
    "relu6": [(0.0, 3.0), (-8.0, 8.0)],
}


@pytest.mark.parametrize("op,low,high", [(op, lo, hi) for op, rs in EXHAUSTIVE.items() for lo, hi in rs])
def test_unary_exhaustive(op, low, high):
    data = _unary_model(op, low, high)
    assert OPCODE[op] in _opcodes(data)
    _check(data, f"{op}_{low}_{high}", extra=_every_int8(), samples=2)


@pytest.mark.parametrize("alpha", [0.01, 0.2, 1.5, -0.3])
def test_leaky_relu_exhaustive(alpha):
    import tensorflow as tf

    spec = dict(alpha=alpha, low=-3.0, high=5.0)
    data = cached_model(
        {"test": "activations_leaky", **spec},
        lambda: tflite_from_function(lambda x: tf.nn.leaky_relu(x, alpha=alpha), [(1, N)], low=-3.0, high=5.0),
    )
    assert "LEAKY_RELU" in _opcodes(data)
    _check(data, f"leaky_{alpha}", extra=_every_int8(), samples=2)


@pytest.mark.parametrize(
    "shape,shared_axes,low,high",
    [
        ((6, 6, 8), [1, 2], -3.0, 5.0),  # per-channel alpha [1, 1, 8]
        ((4, 5, 3), None, -1.0, 1.0),  # an alpha per element
        ((16, 16), [1], -10.0, 2.0),  # alpha [1, 16] broadcast over rows; every int8 input
    ],
)
def test_prelu(shape, shared_axes, low, high):
    import tensorflow as tf

    spec = dict(shape=list(shape), shared_axes=shared_axes, low=low, high=high, seed=len(shape))

    def build():
        seeded_keras(spec["seed"])
        x = tf.keras.Input(shape, batch_size=1)
        y = tf.keras.layers.PReLU(
            alpha_initializer=tf.keras.initializers.RandomUniform(-0.5, 1.5), shared_axes=shared_axes
        )(x)
        return tflite_from_keras(tf.keras.Model(x, y), seed=spec["seed"], low=low, high=high)

    data = cached_model({"test": "activations_prelu", **spec}, build)
    assert "PRELU" in _opcodes(data)
    extra = [[np.arange(-128, 128, dtype=np.int8).reshape(1, *shape)]] if int(np.prod(shape)) == N else None
    _check(data, f"prelu_{'x'.join(map(str, shape))}", extra=extra, samples=8)


@pytest.mark.parametrize("seed", range(5))
def test_activation_after_layer(seed):
    """A Dense or Conv2D before the activation gives it a calibrated, non-round input scale;
    float32 or int8 model edges."""
    import tensorflow as tf

    rng = np.random.default_rng(300 + seed)
    op = ["sigmoid", "tanh", "hard_swish", "leaky", "prelu"][seed]
    spec = dict(
        op=op,
        pre=str(rng.choice(["dense", "conv"])),
        io=[None, "int8"][seed % 2],
        low=float(rng.uniform(-4, 0)),
        high=float(rng.uniform(0.5, 4)),
        seed=seed,
    )

    def build():
        seeded_keras(seed)
        if spec["pre"] == "dense":
            x = tf.keras.Input((24,), batch_size=1)
            h = tf.keras.layers.Dense(32, bias_initializer="random_normal")(x)
        else:
            x = tf.keras.Input((6, 6, 3), batch_size=1)
            h = tf.keras.layers.Conv2D(8, 3, padding="same", bias_initializer="random_normal")(x)
        if op == "leaky":
            y = tf.keras.layers.LeakyReLU(0.1)(h)
        elif op == "prelu":
            y = tf.keras.layers.PReLU(
                alpha_initializer=tf.keras.initializers.RandomUniform(-0.5, 1.5),
                shared_axes=[1, 2] if spec["pre"] == "conv" else None,
            )(h)
        else:
            y = tf.keras.layers.Activation(op)(h)
        return tflite_from_keras(
            tf.keras.Model(x, y), seed=seed, io_type=spec["io"], low=spec["low"], high=spec["high"]
        )

    data = cached_model({"test": "activations_after_layer", **spec}, build)
    _check(data, f"after_layer_{seed}", samples=8, seed=seed)


# ---------------------------------------------------------------------------------------------
# QUANTIZE / DEQUANTIZE at the model edges


def _input_quant(data: bytes):
    """Scale and zero point of the tensor the model's float input is quantized into."""
    g = read_tflite_bytes(data, name="m")
    for op in g.ops:
        if op.opcode == "QUANTIZE" and op.inputs[0] == g.inputs[0]:
            q = g.tensors[op.outputs[0]].quant
            return q.s, q.zp
    raise AssertionError("the model has no QUANTIZE of its input")


def _rounding_probes(scale: float) -> list[list[np.ndarray]]:
    """Float inputs on, halfway between and one float32 ulp around the quantization steps of
    `scale` (where round-half-away-from-zero and the float32 division decide), plus values far
    outside the int8 range, in samples of N values."""
    k = np.arange(-140, 140, dtype=np.float64)
    ties = (k + 0.5) * scale
    vals = [
        k * scale,
        ties,
        np.nextafter(ties.astype(np.float32), np.float32(np.inf)),
        np.nextafter(ties.astype(np.float32), np.float32(-np.inf)),
        np.array([0.0, -0.0, 1e-30, -1e-30, 1000 * scale, -1000 * scale, 3e4 * scale, -3e4 * scale]),
    ]
    flat = np.concatenate([np.asarray(v, dtype=np.float32) for v in vals])
    flat = np.concatenate([flat, np.zeros((-len(flat)) % N, dtype=np.float32)])
    return [[s.reshape(1, N)] for s in flat.reshape(-1, N)]


@pytest.mark.parametrize("op,low,high", [("relu", -3.0, 5.0), ("sigmoid", -0.3, 0.2), ("tanh", -6.0, 1.0)])
def test_float_edges_rounding(op, low, high):
    """float32 -> QUANTIZE -> op -> DEQUANTIZE -> float32, probed at the rounding ties."""
    data = _unary_model(op, low, high, io=None)
    codes = _opcodes(data)
    assert codes[0] == "QUANTIZE" and codes[-1] == "DEQUANTIZE", codes
    scale, _ = _input_quant(data)
    _check(data, f"float_edges_{op}", extra=_rounding_probes(scale), samples=4)


@pytest.mark.parametrize("op,low,high", [("tanh", -2.0, 2.0), ("hard_swish", 0.0, 6.0)])
def test_uint8_edges(op, low, high):
    """uint8 -> QUANTIZE -> op -> QUANTIZE -> uint8, every uint8 input value."""
    data = _unary_model(op, low, high, io="uint8")
    codes = _opcodes(data)
    assert codes[0] == "QUANTIZE" and codes[-1] == "QUANTIZE", codes
    _check(data, f"uint8_edges_{op}", extra=_every_uint8(), samples=2)


def test_requantize_from_converter():
    """The converter requantizes LOGISTIC's fixed 1/256 output to the scale CONCATENATION shares."""
    import tensorflow as tf

    data = cached_model(
        {"test": "activations_requantize_concat"},
        lambda: tflite_from_function(lambda x: tf.concat([tf.sigmoid(x), x], axis=-1), [(1, N)], low=-4.0, high=4.0),
    )
    g = read_tflite_bytes(data, name="m")
    assert any(
        op.opcode == "QUANTIZE" and g.tensors[op.inputs[0]].dtype == "int8" and g.tensors[op.outputs[0]].dtype == "int8"
        for op in g.ops
    )
    _check(data, "requantize_concat", extra=_every_int8(), samples=2)


# Editing converted models (tensorflow.lite.python.schema_py_generated object API)


def _unpack(data: bytes):
    from tensorflow.lite.python import schema_py_generated as S

    return S, S.ModelT.InitFromObj(S.Model.GetRootAsModel(data, 0))


def _pack(model) -> bytes:
    import flatbuffers

    b = flatbuffers.Builder(1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def _quantize_opcode(S, model) -> int:
    for i, oc in enumerate(model.operatorCodes):
        if max(oc.builtinCode, oc.deprecatedBuiltinCode) == S.BuiltinOperator.QUANTIZE:
            return i
    oc = S.OperatorCodeT()
    oc.builtinCode = oc.deprecatedBuiltinCode = S.BuiltinOperator.QUANTIZE
    oc.version = 1
    model.operatorCodes.append(oc)
    return len(model.operatorCodes) - 1


def _add_tensor(S, model, like, dtype, scale: float, zp: int, name: str) -> int:
    sg = model.subgraphs[0]
    t = S.TensorT()
    t.shape, t.type, t.name = list(like.shape), dtype, name.encode()
    model.buffers.append(S.BufferT())
    t.buffer = len(model.buffers) - 1
    t.quantization = S.QuantizationParametersT()
    t.quantization.scale, t.quantization.zeroPoint = [float(scale)], [int(zp)]
    sg.tensors.append(t)
    return len(sg.tensors) - 1


def _add_quantize(S, model, position: int, src: int, dst: int) -> None:
    op = S.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = _quantize_opcode(S, model), [src], [dst]
    model.subgraphs[0].operators.insert(position, op)


def _append_output_requantize(data: bytes, scale: float, zp: int) -> bytes:
    """... -> int8 output -> QUANTIZE -> int8 (scale, zp), the new model output."""
    S, model = _unpack(data)
    sg = model.subgraphs[0]
    src = sg.outputs[0]
    dst = _add_tensor(S, model, sg.tensors[src], S.TensorType.INT8, scale, zp, "requantized")
    _add_quantize(S, model, len(sg.operators), src, dst)
    sg.outputs = [dst] + list(sg.outputs[1:])
    return _pack(model)


@pytest.mark.parametrize("scale,zp", [(0.05, 3), (0.003, -100), (1.7, 10), (0.0196, -128)])
def test_requantize_int8_int8(scale, zp):
    """RELU then QUANTIZE int8 -> int8 to chosen scales (ratios ~0.4, ~6.5, ~0.01, ~1)."""
    data = _append_output_requantize(_unary_model("relu", -3.0, 5.0), scale, zp)
    _check(data, f"requantize_{scale}_{zp}", extra=_every_int8(), samples=2)


def test_dequantize_uint8():
    """... -> int8 -> QUANTIZE -> uint8 -> DEQUANTIZE -> float32."""
    S, model = _unpack(_unary_model("tanh", -2.0, 2.0, io=None))
    sg = model.subgraphs[0]
    deq = next(i for i, op in enumerate(sg.operators) if sg.tensors[op.outputs[0]].type == S.TensorType.FLOAT32)
    src = sg.operators[deq].inputs[0]
    q = sg.tensors[src].quantization
    u8 = _add_tensor(S, model, sg.tensors[src], S.TensorType.UINT8, q.scale[0], q.zeroPoint[0] + 128, "as_uint8")
    sg.operators[deq].inputs = [u8]
    _add_quantize(S, model, deq, src, u8)
    data = _pack(model)
    assert _opcodes(data)[-2:] == ["QUANTIZE", "DEQUANTIZE"]
    _check(data, "dequantize_uint8", samples=8)


def test_quantize_float_to_uint8():
    """float32 -> QUANTIZE -> uint8 -> QUANTIZE -> int8 -> RELU -> ... TFLite Micro has no
    float32 -> uint8 QUANTIZE kernel (it fails at invoke), so TFLite's reference is the oracle."""
    S, model = _unpack(_unary_model("relu", -3.0, 5.0, io=None))
    sg = model.subgraphs[0]
    first = sg.operators[0]
    dst = first.outputs[0]
    q = sg.tensors[dst].quantization
    scale = q.scale[0]
    u8 = _add_tensor(S, model, sg.tensors[dst], S.TensorType.UINT8, scale, q.zeroPoint[0] + 128, "as_uint8")
    first.outputs = [u8]
    _add_quantize(S, model, 1, u8, dst)
    data = _pack(model)

    compiled = compile_bytes(data, "quantize_f32_u8")
    host = build_and_load(compiled, emit(compiled))
    ref = TfliteRefReference(data)
    samples = _rounding_probes(scale) + [
        [np.random.default_rng(i).uniform(-4, 6, (1, N)).astype(np.float32)] for i in range(4)
    ]
    for i, sample in enumerate(samples):
        ours, theirs = host.run(sample)[0], ref.run(sample, 1)[0]
        assert np.array_equal(ours, theirs.reshape(ours.shape)), f"sample {i}: {np.sum(ours != theirs)} differ"


# ---------------------------------------------------------------------------------------------
# What the generated code contains, and what is refused


_FLOAT = re.compile(r"\b(float|double)\b")
_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)


@pytest.mark.parametrize("io", ["int8", "uint8"])
def test_integer_model_has_no_float(io):
    compiled = compile_bytes(_unary_model("sigmoid", -1.0, 1.0, io=io), "no_float")
    files = emit(compiled).files
    assert not any(name.startswith(("ec_quantize", "ec_dequantize")) for name in files)
    offenders = [name for name, text in files.items() if _FLOAT.search(_COMMENT.sub("", text))]
    assert not offenders, f"float code in an integer-only model: {offenders}"


def test_int16_logistic_converted():
    """A 16x8 LOGISTIC as the converter writes it (tests/lowering/test_int16_activations.py has the rest)."""
    import tensorflow as tf

    def build():
        concrete = tf.function(lambda x: tf.sigmoid(x)).get_concrete_function(tf.TensorSpec((1, 16), tf.float32))
        conv = tf.lite.TFLiteConverter.from_concrete_functions([concrete])
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        rng = np.random.default_rng(0)
        conv.representative_dataset = lambda: ([rng.uniform(-4, 4, (1, 16)).astype(np.float32)] for _ in range(8))
        conv.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
        conv.inference_input_type = tf.int16
        conv.inference_output_type = tf.int16
        return conv.convert()

    data = cached_model({"test": "activations_int16_logistic"}, build)
    assert "LOGISTIC" in _opcodes(data)
    _check(data, "int16_logistic", samples=8)
