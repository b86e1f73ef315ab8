"""No undefined behaviour in the element-wise, activation, data-movement and edge kernels, for
any model edgeconv accepts (issue 8, deliverable 4).

Each case is a one-op model built from scratch with the flatbuffer object API, at an extreme:
scales that differ by huge factors, zero points at the ends of int8, broadcasting, odd
resize ratios, float inputs of NaN, inf and 1e30. Every case is either refused with one
line naming the op and the rule, or its C builds with -fsanitize=address,undefined
-fno-sanitize-recover=all, runs min/max/zero/random inputs clean, and equals TFLite Micro
(run in a child process, so a reference that aborts cannot take pytest down) wherever TFLite
Micro's own arithmetic is defined.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from edgeconv.emit.emitter import emit
from edgeconv.frontend.ir import ModelError
from edgeconv.lowering.compiler import compile_bytes
from sanitized import run_samples, sanitized_executable

PYTHON_EXCEPTIONS = ("Error:", "KeyError", "ValueError", "IndexError", "OSError", "TypeError", "Traceback")


@dataclass
class T:
    """A tensor of the test model: activation if data is None, else constant."""

    shape: tuple[int, ...]
    dtype: str = "int8"
    scale: float | None = 0.05
    zp: int = 0
    data: np.ndarray | None = None


_NP = {"int8": np.int8, "uint8": np.uint8, "int32": np.int32, "float32": np.float32}


def one_op_model(opcode: str, inputs: list[T], outputs: list[T], options: tuple[str, dict] | None = None) -> bytes:
    """A model holding one op: activation inputs become graph inputs, constants buffers."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT()
    model.version = 3
    model.buffers = [schema.BufferT()]
    sg = schema.SubGraphT()
    sg.tensors = []

    def add(t: T, name: str) -> int:
        tensor = schema.TensorT()
        tensor.shape = np.array(t.shape, dtype=np.int32)
        tensor.type = getattr(schema.TensorType, t.dtype.upper())
        tensor.name = name.encode()
        tensor.buffer = 0
        if t.scale is not None:
            q = schema.QuantizationParametersT()
            q.scale = np.array([t.scale], dtype=np.float32)
            q.zeroPoint = np.array([t.zp], dtype=np.int64)
            tensor.quantization = q
        if t.data is not None:
            buf = schema.BufferT()
            buf.data = np.frombuffer(np.ascontiguousarray(t.data, dtype=_NP[t.dtype]).tobytes(), dtype=np.uint8)
            model.buffers.append(buf)
            tensor.buffer = len(model.buffers) - 1
        sg.tensors.append(tensor)
        return len(sg.tensors) - 1

    in_idx = [add(t, f"in{i}") for i, t in enumerate(inputs)]
    out_idx = [add(t, f"out{i}") for i, t in enumerate(outputs)]
    sg.inputs = np.array([i for i, t in zip(in_idx, inputs) if t.data is None], dtype=np.int32)
    sg.outputs = np.array(out_idx, dtype=np.int32)
    code = schema.OperatorCodeT()
    code.builtinCode = getattr(schema.BuiltinOperator, opcode)
    code.deprecatedBuiltinCode = min(code.builtinCode, 127)
    code.version = 1
    model.operatorCodes = [code]
    op = schema.OperatorT()
    op.opcodeIndex = 0
    op.inputs = np.array(in_idx, dtype=np.int32)
    op.outputs = np.array(out_idx, dtype=np.int32)
    if options is not None:
        kind, fields = options
        obj = getattr(schema, f"{kind}T")()
        for k, v in fields.items():
            setattr(obj, k, v)
        op.builtinOptionsType = getattr(schema.BuiltinOptions, kind)
        op.builtinOptions = obj
    sg.operators = [op]
    model.subgraphs = [sg]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def edge_inputs(t: T, seed: int) -> list[np.ndarray]:
    """min, max, zero, random and every value of t's type (float: NaN, infinities, huge, tiny)."""
    shape, dtype = t.shape, _NP[t.dtype]
    rng = np.random.default_rng(seed)
    if t.dtype == "float32":
        edges = np.array(
            [
                np.nan,
                np.inf,
                -np.inf,
                1e30,
                -1e30,
                3.4e38,
                -3.4e38,
                0.0,
                -0.0,
                1e-45,
                0.5,
                -0.5,
                2.5,
                -2.5,
                2147483648.0,
                -2147483904.0,
            ],
            dtype=np.float32,
        )
        n = int(np.prod(shape))
        return [np.resize(edges, n).reshape(shape), rng.normal(0.0, 4.0, size=shape).astype(np.float32)]
    info = np.iinfo(dtype)
    every = np.resize(np.arange(info.min, info.max + 1), int(np.prod(shape))).reshape(shape).astype(dtype)
    return [
        np.full(shape, info.min, dtype),
        np.full(shape, info.max, dtype),
        np.zeros(shape, dtype),
        rng.integers(info.min, info.max + 1, size=shape).astype(dtype),
        every,
    ]


def sanitized_outputs(compiled, samples: list[list[np.ndarray]], work) -> list[list[np.ndarray]]:
    """The model's C built with ASan and UBSan (tests/sanitized.py), run on the samples clean:
    its outputs, flat, per sample."""
    run = run_samples(sanitized_executable(compiled, emit(compiled), work), compiled, samples, work)
    assert run.returncode == 0 and not run.report, run.report
    return run.outputs


def tflm_outputs(data: bytes, samples: list[list[np.ndarray]], n_outputs: int) -> list[list[np.ndarray]]:
    """TFLite Micro's outputs per sample (it runs in its own worker process, so a crash is a
    failed assertion here, not a dead test worker)."""
    from edgeconv.checking.references import ReferenceFailed, ReferenceUnavailable, TflmReference

    try:
        with TflmReference(data) as ref:
            return [ref.run(sample, n_outputs) for sample in samples]
    except (ReferenceUnavailable, ReferenceFailed) as exc:
        pytest.fail(f"TFLite Micro cannot run a model edgeconv accepts: {exc}")


@dataclass
class Case:
    id: str
    opcode: str
    inputs: list[T]
    outputs: list[T]
    options: tuple[str, dict] | None = None
    refused: tuple[str, ...] = ()  # words the one-line refusal must contain; () = accepted
    tflm: bool = True  # compare with TFLite Micro (False where its own arithmetic is undefined)


def _binary(opcode: str, a: T, b: T, y: T, act: int = 0, **kw) -> Case:
    kind = {"ADD": "AddOptions", "SUB": "SubOptions", "MUL": "MulOptions"}[opcode]
    return Case(kw.pop("id"), opcode, [a, b], [y], (kind, {"fusedActivationFunction": act}), **kw)


def _unary(opcode: str, x: T, y: T, options=None, **kw) -> Case:
    return Case(kw.pop("id"), opcode, [x], [y], options, **kw)


def _i32(*v) -> np.ndarray:
    return np.array(v, dtype=np.int32)


CASES = [
    # ADD / SUB: one input's scale 1e-30 of the other's (its multiplier underflows to 0),
    # zero points at both ends of int8, broadcasting over four dimensions.
    _binary(
        "ADD",
        T((1, 3, 1, 5), scale=1e-30, zp=-128),
        T((2, 1, 4, 1), scale=1.0, zp=127),
        T((2, 3, 4, 5), scale=0.5, zp=127),
        id="add-scale-ratio-1e30",
    ),
    _binary(
        "SUB",
        T((2, 3, 4, 5), scale=3e-3, zp=127),
        T((5,), scale=2e-3, zp=-128),
        T((2, 3, 4, 5), scale=1e-3, zp=-128),
        act=1,
        id="sub-relu-zp-ends",
    ),
    _binary(
        "ADD",
        T((4,), scale=1.0),
        T((4,), scale=1.0),
        T((4,), scale=1e-7),
        refused=("output multiplier", "outside (0, 1)"),
        id="add-output-multiplier-above-1",
    ),
    _binary(
        "SUB",
        T((4,), scale=1e-10),
        T((4,), scale=1e-10),
        T((4,), scale=1e-12),
        act=3,
        refused=("bound 6", "does not fit int32"),
        id="sub-relu6-bound-overflows",
    ),
    # MUL: a left shift of exactly 30 (the product * 2^30 wraps, then the zero point is added),
    # one of 31 (refused), and a ratio so small that the multiplier becomes 0.
    _binary(
        "MUL",
        T((3, 1, 8), scale=1.0, zp=-128),
        T((1, 4, 8), scale=1.0, zp=127),
        T((3, 4, 8), scale=2.0**-29.5, zp=127),
        id="mul-left-shift-30",
    ),
    # (1 + 2^-15)(1 - 2^-15) / 2^-30: multiplier 2^31 - 2, shift 30; x0 * x1 = 2 (mod 4) wraps
    # to INT32_MIN, rescales to -2^31 + 2, and the zero point -128 takes the sum below int32.
    _binary(
        "MUL",
        T((4, 16), scale=1 + 2.0**-15),
        T((4, 16), scale=1 - 2.0**-15),
        T((4, 16), scale=2.0**-30, zp=-128),
        id="mul-sum-with-zero-point-wraps",
    ),
    _binary(
        "MUL",
        T((8,), scale=1.0),
        T((8,), scale=1.0),
        T((8,), scale=2.0**-30.5),
        refused=("left shift of 31",),
        id="mul-left-shift-31",
    ),
    _binary(
        "MUL",
        T((8,), scale=1e-30, zp=5),
        T((8,), scale=1e-30),
        T((8,), scale=1e30, zp=-7),
        id="mul-multiplier-underflows",
    ),
    Case(
        "maximum-broadcast",
        "MAXIMUM",
        [T((2, 1, 3, 1, 2, 1)), T((1, 4, 1, 5, 1, 3))],
        [T((2, 4, 3, 5, 2, 3))],
        ("MaximumMinimumOptions", {}),
    ),
    Case("minimum-broadcast", "MINIMUM", [T((7, 1)), T((9,))], [T((7, 9))], ("MaximumMinimumOptions", {})),
    Case(
        "minimum-1m-elements",
        "MINIMUM",
        [T((2, 512, 1)), T((1, 1, 1024))],
        [T((2, 512, 1024))],
        ("MaximumMinimumOptions", {}),
    ),
    # Shape ops at their edges.
    Case(
        "concatenation-zp-127",
        "CONCATENATION",
        [T((2, 3, 4), zp=127), T((2, 1, 4), zp=127), T((2, 5, 4), zp=127)],
        [T((2, 9, 4), zp=127)],
        ("ConcatenationOptions", {"axis": -2}),
    ),
    Case(
        "pad-5d",
        "PAD",
        [T((1, 2, 1, 3, 2), zp=-128), T((5, 2), "int32", None, data=_i32(0, 1, 2, 0, 3, 1, 0, 0, 4, 5))],
        [T((2, 4, 5, 3, 11), zp=-128)],
        ("PadOptions", {}),
    ),
    Case(
        "padv2-value-127",
        "PADV2",
        [
            T((3, 4), zp=127),
            T((2, 2), "int32", None, data=_i32(7, 0, 0, 9)),
            T((), zp=127, data=np.array(127, np.int8)),
        ],
        [T((10, 13), zp=127)],
        ("PadV2Options", {}),
    ),
    Case(
        "transpose-6d",
        "TRANSPOSE",
        [T((2, 3, 1, 4, 5, 2)), T((6,), "int32", None, data=_i32(5, 3, 0, 4, 2, 1))],
        [T((2, 4, 2, 5, 1, 3))],
        ("TransposeOptions", {}),
        tflm=False,
    ),  # TFLite Micro stops at 5-D
    Case(
        "transpose-5d",
        "TRANSPOSE",
        [T((2, 3, 4, 5, 2)), T((5,), "int32", None, data=_i32(4, 3, 0, 2, 1))],
        [T((2, 5, 2, 4, 3))],
        ("TransposeOptions", {}),
    ),
    Case(
        "space-to-batch-large-block",
        "SPACE_TO_BATCH_ND",
        [T((2, 5, 3, 2)), T((2,), "int32", None, data=_i32(4, 3)), T((2, 2), "int32", None, data=_i32(1, 2, 0, 0))],
        [T((24, 2, 1, 2))],
        ("SpaceToBatchNDOptions", {}),
        tflm=False,
    ),  # TFLite Micro's pad value is unset
    # Same shape as the batch-to-space row below (one Case per op and edge); kept apart: different op and operands
    Case(
        "space-to-batch-large-block-unpadded",
        "SPACE_TO_BATCH_ND",
        [T((2, 8, 3, 2)), T((2,), "int32", None, data=_i32(4, 3)), T((2, 2), "int32", None, data=_i32(0, 0, 0, 0))],
        [T((24, 2, 1, 2))],
        ("SpaceToBatchNDOptions", {}),
    ),
    # Same shape as the space-to-batch rows above (one Case per op and edge); kept apart: different op and operands
    Case(
        "batch-to-space-crops",
        "BATCH_TO_SPACE_ND",
        [T((24, 2, 1, 2)), T((2,), "int32", None, data=_i32(4, 3)), T((2, 2), "int32", None, data=_i32(1, 2, 0, 1))],
        [T((2, 5, 2, 2))],
        ("BatchToSpaceNDOptions", {}),
    ),
    Case(
        "resize-bilinear-half-pixel",
        "RESIZE_BILINEAR",
        [T((2, 3, 5, 2)), T((2,), "int32", None, data=_i32(7, 11))],
        [T((2, 7, 11, 2))],
        ("ResizeBilinearOptions", {"halfPixelCenters": True}),
    ),
    Case(
        "resize-bilinear-reads-past-input",
        "RESIZE_BILINEAR",
        [T((1, 5, 5, 1)), T((2,), "int32", None, data=_i32(200, 5))],
        [T((1, 200, 5, 1))],
        ("ResizeBilinearOptions", {}),
        refused=("source row 5", "outside the input"),
    ),
    Case(
        "resize-nearest-align",
        "RESIZE_NEAREST_NEIGHBOR",
        [T((1, 3, 4, 3)), T((2,), "int32", None, data=_i32(50, 1))],
        [T((1, 50, 1, 3))],
        ("ResizeNearestNeighborOptions", {"alignCorners": True}),
    ),
    # Activations at extreme scales.
    _unary("RELU", T((16,), scale=1.0, zp=-128), T((16,), scale=2.0**-29.5, zp=127), id="relu-left-shift-30"),
    _unary(
        "RELU", T((16,), scale=1.0), T((16,), scale=2.0**-31), refused=("left shift of 32",), id="relu-left-shift-32"
    ),
    _unary("RELU", T((16,), scale=1e-30, zp=127), T((16,), scale=1e30, zp=-128), id="relu-multiplier-underflows"),
    _unary(
        "RELU6",
        T((16,), scale=1e-12),
        T((16,), scale=1e-12),
        refused=("6.0 divided", "int32"),
        id="relu6-bound-overflows",
    ),
    _unary(
        "LEAKY_RELU",
        T((16,), scale=1.0, zp=127),
        T((16,), scale=2.0**-28, zp=-128),
        ("LeakyReluOptions", {"alpha": -3.0}),
        id="leaky-relu-negative-alpha-large-ratio",
    ),
    _unary(
        "LEAKY_RELU",
        T((16,), scale=1.0),
        T((16,), scale=1.0),
        ("LeakyReluOptions", {"alpha": 1e12}),
        refused=("alpha rescale", "left shift"),
        id="leaky-relu-alpha-too-large",
    ),
    _unary(
        "LEAKY_RELU",
        T((16,), scale=1.0),
        T((16,), scale=1.0),
        ("LeakyReluOptions", {"alpha": float("nan")}),
        refused=("alpha rescale", "not finite"),
        id="leaky-relu-alpha-nan",
    ),
    Case(
        "prelu-zp-ends",
        "PRELU",
        [T((2, 3, 4), scale=0.5, zp=127), T((4,), scale=1.0, zp=-128, data=np.array([-128, 127, 0, -1], np.int8))],
        [T((2, 3, 4), scale=2.0**-14, zp=-128)],
    ),
    _unary("LOGISTIC", T((256,), scale=1000.0, zp=-128), T((256,), scale=1 / 256, zp=-128), id="logistic-radius-0"),
    _unary("LOGISTIC", T((256,), scale=4.0, zp=0), T((256,), scale=1 / 256, zp=-128), id="logistic-shift-30-radius-1"),
    _unary("TANH", T((256,), scale=0.99, zp=-128), T((256,), scale=1 / 128, zp=0), id="tanh-shift-27"),
    _unary("LOGISTIC", T((256,), scale=2.0**-28, zp=127), T((256,), scale=1 / 256, zp=-128), id="logistic-scale-2^-28"),
    _unary("TANH", T((256,), scale=1e30, zp=3), T((256,), scale=1 / 128, zp=0), tflm=False, id="tanh-scale-1e30"),
    _unary(
        "TANH", T((256,), scale=1e-12), T((256,), scale=1 / 128, zp=0), refused=("too small",), id="tanh-scale-tiny"
    ),
    _unary("HARD_SWISH", T((256,), scale=1e-30, zp=127), T((256,), scale=1.0, zp=-128), id="hard-swish-multipliers-0"),
    _unary(
        "HARD_SWISH", T((256,), scale=1.0, zp=127), T((256,), scale=1.0, zp=-128), id="hard-swish-reluish-left-shift"
    ),
    _unary(
        "HARD_SWISH",
        T((256,), scale=30.0, zp=-128),
        T((256,), scale=0.1, zp=127),
        refused=("left shift",),
        id="hard-swish-output-left-shift",
    ),
    # The model edges: float inputs of NaN, infinities and 1e30; requantization at extremes.
    _unary("QUANTIZE", T((16,), "float32", None), T((16,), scale=1e-3, zp=-128), id="quantize-float-edges"),
    _unary(
        "QUANTIZE",
        T((16,), "float32", None),
        T((16,), "uint8", scale=1e-38, zp=255),
        tflm=False,
        id="quantize-float-uint8-tiny-scale",
    ),  # TFLite Micro has no float32 -> uint8 kernel
    _unary(
        "QUANTIZE",
        T((16,), scale=1e30, zp=127),
        T((16,), scale=1e-30, zp=-128),
        refused=("left shift",),
        id="requantize-ratio-1e60",
    ),
    _unary(
        "QUANTIZE", T((16,), scale=1.0, zp=127), T((16,), "uint8", scale=2.0**-29.5, zp=0), id="requantize-shift-30"
    ),
    _unary(
        "QUANTIZE", T((16,), "uint8", scale=1e-30, zp=255), T((16,), scale=1e30, zp=-128), id="requantize-multiplier-0"
    ),
    _unary("DEQUANTIZE", T((16,), scale=3e38, zp=127), T((16,), "float32", None), id="dequantize-overflows-to-inf"),
    _unary("DEQUANTIZE", T((16,), "uint8", scale=1e-45, zp=0), T((16,), "float32", None), id="dequantize-subnormal"),
]


def _defined(case: Case, x: list[np.ndarray]) -> np.ndarray | None:
    """Elements of the output whose TFLite Micro value is defined (None: all of them).
    QUANTIZE from float converts round(x / scale) to int32 unchecked: NaN, infinities and
    quotients beyond int32 have no defined result in TFLite."""
    if case.opcode == "QUANTIZE" and case.inputs[0].dtype == "float32":
        with np.errstate(all="ignore"):
            q = np.asarray(x[0], np.float32) / np.float32(case.outputs[0].scale)
        return np.isfinite(q) & (np.abs(q) < 2.0**31)
    return None


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_extreme_model_is_refused_or_clean(case, tmp_path):
    data = one_op_model(case.opcode, case.inputs, case.outputs, case.options)
    try:
        compiled = compile_bytes(data, "m")
    except ModelError as exc:
        message = str(exc)
        assert case.refused, f"refused unexpectedly: {message}"
        assert "\n" not in message and not any(word in message for word in PYTHON_EXCEPTIONS), message
        assert case.opcode in message and all(w in message for w in case.refused), message
        return
    assert not case.refused, f"accepted, expected a refusal naming {case.refused}"
    activations = [t for t in case.inputs if t.data is None]
    per_input = [edge_inputs(t, seed=i) for i, t in enumerate(activations)]
    samples = [[values[k % len(values)] for values in per_input] for k in range(max(map(len, per_input)))]
    got = sanitized_outputs(compiled, samples, tmp_path)
    if not case.tflm:
        return
    expected = tflm_outputs(data, samples, len(case.outputs))
    for sample, g, e in zip(samples, got, expected):
        g0, e0 = g[0].reshape(-1), np.asarray(e[0]).reshape(-1)
        mask = _defined(case, sample)
        if mask is not None:
            g0, e0 = g0[mask.reshape(-1)], e0[mask.reshape(-1)]
        if g0.dtype == np.float32:
            np.testing.assert_array_equal(g0.view(np.int32), e0.astype(np.float32).view(np.int32))
        else:
            np.testing.assert_array_equal(g0, e0)


def test_quantize_float_edges_are_defined(tmp_path):
    """Where TFLite's float -> int32 conversion is undefined, edgeconv saturates: NaN gives the
    zero point, +inf and quotients beyond int32 the type's maximum, -inf its minimum."""
    x_t, y_t = T((16,), "float32", None), T((16,), scale=1e-3, zp=0)
    compiled = compile_bytes(one_op_model("QUANTIZE", [x_t], [y_t]), "m")
    x = np.array(
        [np.nan, np.inf, -np.inf, 1e30, -1e30, 3e9, -3e9, 0.0, 0.1, -0.1, 0.2, -0.2, 0.003, -0.003, 0.05, -0.05],
        dtype=np.float32,
    )
    ((got,),) = sanitized_outputs(compiled, [[x]], tmp_path)
    assert got.tolist() == [0, 127, -128, 127, -128, 127, -128, 0, 100, -100, 127, -128, 3, -3, 50, -50]
