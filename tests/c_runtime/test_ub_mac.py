"""No undefined behaviour in the MAC, pooling, SOFTMAX and MEAN kernels (issue 8), on extreme
models: each is refused at compile time with one line naming the op and the rule, or its C is
ASan/UBSan clean on min/max/zero/random inputs and equals TFLite Micro wherever TFLite Micro
runs it (SOFTMAX also on the emulated Cortex-M4).

Models are small converter-made ones edited through TFLite's flatbuffer object API. TFLite
Micro runs in a child process: on some inputs of deep SOFTMAX heads it stops on gemmlowp's
assert (see c_runtime/ec_softmax.c), which must not take the test worker with it.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import assert_refused, run_cli
from edgeconv.emit.emitter import emit
from edgeconv.frontend.ir import ModelError
from edgeconv.lowering.compiler import compile_bytes
from edgeconv.lowering.ops.pooling import AVG_POOL_MAX_WINDOW
from edgeconv.lowering.ops.ranges import requantized_bound
from edgeconv.targets.firmware import main_from_template
from edgeconv.targets.hostbuild import WARNING_FLAGS, build_and_load
from modelgen import cached_model, seeded_keras, tflite_from_function, tflite_from_keras

INT32_MAX = 2**31 - 1
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-g", "-O1"]

# ---------------------------------------------------------------------------------------------
# Models


def _converted(spec: dict, build) -> bytes:
    return cached_model({"suite": "ub-mac", "version": 1, **spec}, build)


def softmax_model(depth: int) -> bytes:
    import tensorflow as tf

    return _converted(
        {"op": "softmax", "depth": depth},
        lambda: tflite_from_function(lambda x: tf.nn.softmax(x), [(1, depth)], low=-1.0, high=1.0),
    )


def conv_model(kind: str) -> bytes:
    """CONV_2D or DEPTHWISE_CONV_2D, 3x3, SAME, dilation 2 on 9x9x3; or a stride-5 CONV_2D on
    5x5x3 (one output pixel)."""

    def build():
        import tensorflow as tf

        seeded_keras(3)
        inp = tf.keras.Input((9, 9, 3) if kind != "strided" else (5, 5, 3), batch_size=1)
        if kind == "conv":
            out = tf.keras.layers.Conv2D(4, 3, padding="same", dilation_rate=2)(inp)
        elif kind == "depthwise":
            out = tf.keras.layers.DepthwiseConv2D(3, padding="same", dilation_rate=2)(inp)
        else:
            out = tf.keras.layers.Conv2D(4, 3, strides=5, padding="same")(inp)
        return tflite_from_keras(tf.keras.Model(inp, out), seed=3)

    return _converted({"op": kind}, build)


def dense_model() -> bytes:
    def build():
        import tensorflow as tf

        seeded_keras(4)
        inp = tf.keras.Input((8,), batch_size=1)
        dense = tf.keras.layers.Dense(3, bias_initializer="ones")
        return tflite_from_keras(tf.keras.Model(inp, dense(inp)), seed=4)

    return _converted({"op": "dense", "bias": 1}, build)


def reduce_model(kind: str) -> bytes:
    """A 4x4 AVERAGE_POOL_2D or a MEAN over axes 1, 2 of a 1x4x4x1 input, to be resized."""
    import tensorflow as tf

    if kind == "pool":
        fn = lambda x: tf.nn.avg_pool2d(x, 4, 4, "VALID")  # noqa: E731
    else:
        fn = lambda x: tf.reduce_mean(x, axis=[1, 2], keepdims=True)  # noqa: E731
    return _converted({"op": kind}, lambda: tflite_from_function(fn, [(1, 4, 4, 1)], low=-1.0, high=1.0))


def edited(data: bytes, edit) -> bytes:
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(data, 0))
    edit(model, model.subgraphs[0])
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _ops(model, sg, name: str):
    from tensorflow.lite.python import schema_py_generated as schema

    code = getattr(schema.BuiltinOperator, name)
    return [op for op in sg.operators if model.operatorCodes[op.opcodeIndex].builtinCode == code]


def with_dilation(data: bytes, opname: str, dilation: int) -> bytes:
    def edit(model, sg):
        for op in _ops(model, sg, opname):
            op.builtinOptions.dilationHFactor = dilation
            op.builtinOptions.dilationWFactor = dilation

    return edited(data, edit)


def with_stride(data: bytes, stride: int) -> bytes:
    def edit(model, sg):
        for op in _ops(model, sg, "CONV_2D"):
            op.builtinOptions.strideH = stride
            op.builtinOptions.strideW = stride

    return edited(data, edit)


def resized(data: bytes, h: int, w: int, window: bool) -> bytes:
    """The 1x4x4x1 input made 1xHxWx1 (and, for the pool, its filter and stride HxW)."""

    def edit(model, sg):
        for t in sg.tensors:
            if t.shape is not None and len(t.shape) == 4 and int(t.shape[1]) == 4:
                t.shape = np.array([1, h, w, 1], dtype=np.int32)
                t.shapeSignature = None
        if window:
            for op in _ops(model, sg, "AVERAGE_POOL_2D"):
                o = op.builtinOptions
                o.filterHeight, o.filterWidth, o.strideH, o.strideW = h, w, h, w

    return edited(data, edit)


def with_zero_point(data: bytes, tensor_of, zp: int, dtype: str | None = None) -> bytes:
    from tensorflow.lite.python import schema_py_generated as schema

    def edit(model, sg):
        t = sg.tensors[tensor_of(sg)]
        t.quantization.zeroPoint = np.array([zp] * len(t.quantization.scale), dtype=np.int64)
        if dtype is not None:
            t.type = getattr(schema.TensorType, dtype)

    return edited(data, edit)


# ---------------------------------------------------------------------------------------------
# Running: TFLite Micro in a child process, the C with sanitizers


_TFLM_CHILD = """
import sys, numpy as np
from tflite_micro.python.tflite_micro import runtime
model, x = open(sys.argv[1], 'rb').read(), np.load(sys.argv[2])
it = runtime.Interpreter.from_bytes(model, arena_size=int(sys.argv[4]))
it.set_input(x, 0)
it.invoke()
np.save(sys.argv[3], np.array(it.get_output(0)))
"""


def tflm_output(data: bytes, x: np.ndarray, tmp_path) -> np.ndarray | None:
    """TFLite Micro's output for one input, or None if it stopped (a signal)."""
    (tmp_path / "m.tflite").write_bytes(data)
    np.save(tmp_path / "x.npy", x)
    arena = max(4 << 20, 3 * x.size + (1 << 20))
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            _TFLM_CHILD,
            str(tmp_path / "m.tflite"),
            str(tmp_path / "x.npy"),
            str(tmp_path / "y.npy"),
            str(arena),
        ],
        capture_output=True,
        text=True,
    )
    if proc.returncode < 0:
        return None
    assert proc.returncode == 0, proc.stderr[-2000:]
    return np.load(tmp_path / "y.npy")


def extreme_inputs(shape, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "min": np.full(shape, -128, np.int8),
        "max": np.full(shape, 127, np.int8),
        "zero": np.zeros(shape, np.int8),
        "random": rng.integers(-128, 128, shape).astype(np.int8),
    }


def sanitized_outputs(data: bytes, samples: list[np.ndarray], tmp_path) -> list[np.ndarray]:
    """Build the model's C with the promised warnings plus ASan/UBSan, run every sample, and
    return the outputs; any sanitizer report fails the test."""
    model = compile_bytes(data, "extreme")
    src = tmp_path / "src"
    src.mkdir()
    for name, text in emit(model).files.items():
        (src / name).write_text(text)
    (src / "main.c").write_text(main_from_template(model, "host_main.c.in"))
    exe = tmp_path / "model"
    proc = subprocess.run(
        ["cc", *WARNING_FLAGS, *SANITIZE, "-I", str(src), *map(str, sorted(src.glob("*.c"))), "-o", str(exe)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    with open(tmp_path / "in.bin", "wb") as f:
        for x in samples:
            f.write(np.ascontiguousarray(x, dtype=np.int8).tobytes())
    run = subprocess.run(
        [str(exe), str(tmp_path / "in.bin"), str(tmp_path / "out.bin")],
        capture_output=True,
        text=True,
        env={**os.environ, "UBSAN_OPTIONS": "print_stacktrace=1"},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "runtime error" not in run.stderr and "AddressSanitizer" not in run.stderr
    out = np.frombuffer((tmp_path / "out.bin").read_bytes(), dtype=np.int8)
    y = model.graph.tensors[model.graph.outputs[0]]
    return [o.reshape(y.shape) for o in out.reshape(len(samples), -1)]


def assert_clean_and_equal_to_tflm(data: bytes, tmp_path, seed: int = 0) -> int:
    """Sanitized C on min/max/zero/random inputs; equal to TFLite Micro wherever it runs.
    Returns how many inputs TFLite Micro ran."""
    model = compile_bytes(data, "extreme")
    x = model.graph.tensors[model.graph.inputs[0]]
    inputs = extreme_inputs(x.shape, seed)
    outs = sanitized_outputs(data, list(inputs.values()), tmp_path)
    compared = 0
    for (name, sample), out in zip(inputs.items(), outs):
        ref = tflm_output(data, sample, tmp_path)
        if ref is not None:
            np.testing.assert_array_equal(out, ref.reshape(out.shape), err_msg=f"{name} input")
            compared += 1
    return compared


# ---------------------------------------------------------------------------------------------
# SOFTMAX at any depth


def _softmax_samples(depth: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(depth)
    return {
        "flat": np.zeros((1, depth), np.int8),
        "flat_min": np.full((1, depth), -128, np.int8),
        "near_equal": rng.integers(100, 102, (1, depth)).astype(np.int8),
        "random": rng.integers(-128, 128, (1, depth)).astype(np.int8),
        "one_hot": np.r_[127, np.full(depth - 1, -128)].astype(np.int8).reshape(1, depth),
    }


@pytest.mark.parametrize("depth, must_compare", [(1000, {"random", "one_hot"}), (8192, {"flat", "flat_min"})])
def test_deep_softmax_equals_tflm_on_host_and_emulated_m4(tmp_path, depth, must_compare):
    """Equal to TFLite Micro wherever it runs; where it stops on gemmlowp's assert (the sum of
    exps is 2^28 or more, e.g. a flat input to a 1000-class head), every output is -128, the
    exact value of TFLite's formula (see c_runtime/ec_softmax.c); host and Cortex-M4 agree."""
    from edgeconv.targets.emulate import build_emulated

    data = softmax_model(depth)
    model = compile_bytes(data, f"softmax{depth}")
    samples = _softmax_samples(depth)
    host = build_and_load(model, emit(model))
    host_out = {name: host.run([x])[0] for name, x in samples.items()}
    try:
        fw = build_emulated(model, "cortex-m4")
    except Exception as exc:  # no arm toolchain or QEMU here: the host half still runs
        if os.environ.get("EDGECONV_REQUIRE_TOOLCHAINS"):
            raise
        fw = None
        print(f"emulation skipped: {exc}")
    if fw is not None:
        try:
            m4_out = fw.run([[x] for x in samples.values()])
        finally:
            fw.close()
        for (name, out), m4 in zip(host_out.items(), m4_out):
            np.testing.assert_array_equal(m4[0], out, err_msg=f"{name}: Cortex-M4 differs from the host")
    compared = set()
    for name, x in samples.items():
        ref = tflm_output(data, x, tmp_path)
        if ref is None:
            np.testing.assert_array_equal(host_out[name], np.full_like(host_out[name], -128), err_msg=name)
        else:
            np.testing.assert_array_equal(host_out[name], ref.reshape(host_out[name].shape), err_msg=name)
            compared.add(name)
    assert must_compare <= compared, f"TFLite Micro ran only {sorted(compared)}"


def test_deep_softmax_sanitizers_clean(tmp_path):
    for depth in (1000, 8192):
        samples = list(_softmax_samples(depth).values())
        (tmp_path / str(depth)).mkdir()
        outs = sanitized_outputs(softmax_model(depth), samples, tmp_path / str(depth))
        assert len(outs) == len(samples)


# ---------------------------------------------------------------------------------------------
# Window arithmetic: dilation and stride


@pytest.mark.parametrize("kind, opname", [("conv", "CONV_2D"), ("depthwise", "DEPTHWISE_CONV_2D")])
def test_huge_dilation_exact_or_refused(tmp_path, kind, opname):
    # 32767, the largest TFLite's int16_t dilation field holds: SAME padding is then 32767 too,
    # and only the centre tap lies inside the input. Exact, sanitizer-clean.
    ok = with_dilation(conv_model(kind), opname, 32767)
    assert assert_clean_and_equal_to_tflm(ok, tmp_path) == 4
    # Beyond, TFLite truncates the dilation to int16_t (2^20 runs as dilation 0): refused; and
    # near 2^30 the window arithmetic would leave int32 as well.
    for dilation in (32768, 1 << 20, 1 << 30, INT32_MAX):
        with pytest.raises(ModelError, match=rf"{opname} .*its dilation_h {dilation:,} exceeds 32767"):
            compile_bytes(with_dilation(conv_model(kind), opname, dilation), "dilated")


def test_huge_stride_exact_or_refused(tmp_path):
    assert assert_clean_and_equal_to_tflm(with_stride(conv_model("strided"), 32767), tmp_path) == 4
    path = tmp_path / "strided.tflite"
    path.write_bytes(with_stride(conv_model("strided"), INT32_MAX))
    assert_refused(run_cli("compile", path, "-o", tmp_path / "out"), "CONV_2D", "stride_h 2,147,483,647", "int16_t")
    assert not (tmp_path / "out").exists()


def test_huge_dilation_refused_in_one_line(tmp_path):
    path = tmp_path / "dilated.tflite"
    path.write_bytes(with_dilation(conv_model("conv"), "CONV_2D", 1 << 30))
    assert_refused(run_cli("compile", path, "-o", tmp_path / "out"), "CONV_2D", "dilation_h 1,073,741,824", "32767")
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------
# Zero points and requantization


def _conv_output(sg):
    return sg.operators[0].outputs[0]


def _first_input(sg):
    return sg.inputs[0]


def _bias(sg):
    return sg.operators[0].inputs[2]


@pytest.mark.parametrize(
    "tensor_of, zp, dtype, words",
    [
        (_conv_output, INT32_MAX, None, ["zero point 2147483647", "[-128, 127]", "INT8"]),
        (_conv_output, 128, None, ["zero point 128", "INT8"]),
        (_first_input, -129, None, ["zero point -129", "INT8"]),
        (_bias, 1 << 31, None, ["zero point 2147483648", "INT32"]),
        (_bias, -(1 << 40), None, ["zero point -1099511627776", "INT32"]),
        (_first_input, 256, "UINT8", ["zero point 256", "[0, 255]", "UINT8"]),
        (_first_input, -1, "UINT8", ["zero point -1", "UINT8"]),
        (_first_input, 32768, "INT16", ["zero point 32768", "[-32768, 32767]", "INT16"]),
    ],
)
def test_zero_point_outside_its_type_refused(tmp_path, tensor_of, zp, dtype, words):
    path = tmp_path / "zp.tflite"
    path.write_bytes(with_zero_point(conv_model("conv"), tensor_of, zp, dtype))
    assert_refused(run_cli("compile", path, "-o", tmp_path / "out"), *words)


def test_requantized_bound_covers_tflite_requantization():
    from quantize.fixedpoint import quantize_multiplier

    def requantize(x: int, m: int, shift: int) -> int:  # MultiplyByQuantizedMultiplier, exactly
        x <<= max(shift, 0)
        ab = x * m
        high = (abs(ab) + (1 << 30)) >> 31
        high = high if ab >= 0 else -high
        right = max(-shift, 0)
        mask = (1 << right) - 1
        rem, threshold = high & mask, (mask >> 1) + (1 if high < 0 else 0)
        return (high >> right) + (1 if rem > threshold else 0)

    rng = np.random.default_rng(11)
    for _ in range(2000):
        m, s = quantize_multiplier(float(np.exp(rng.uniform(-30, 3))))
        worst = int(rng.integers(1, INT32_MAX >> max(s, 0)))
        bound = requantized_bound(worst, m, s)
        for x in (worst, -worst, worst - 1, -(worst - 1)):
            assert abs(requantize(x, m, s)) <= bound
        assert bound <= abs(requantize(worst, m, s)) + 1


def _fc_near_one(model, sg):
    """FULLY_CONNECTED whose scales multiply to just below 1 (25 * float32(1/25)), with biases that
    bring the accumulator bound to exactly 2^31 - 1: the requantized value can reach
    2^31 - 48, and adding the output zero point -128 would overflow int32."""
    fc = _ops(model, sg, "FULLY_CONNECTED")[0]
    x, w, b = (sg.tensors[i] for i in fc.inputs[:3])
    y = sg.tensors[fc.outputs[0]]
    w_scale = np.float32(1 / 25)
    x.quantization.scale, x.quantization.zeroPoint = np.array([25.0], np.float32), np.array([0], np.int64)
    w.quantization.scale = np.full(len(w.quantization.scale), w_scale, np.float32)
    b.quantization.scale = np.full(len(b.quantization.scale), np.float32(25.0 * w_scale), np.float32)
    y.quantization.scale, y.quantization.zeroPoint = np.array([1.0], np.float32), np.array([-128], np.int64)
    weights = np.frombuffer(bytes(model.buffers[w.buffer].data), np.int8).reshape(tuple(w.shape)).astype(np.int64)
    bias = INT32_MAX - 128 * np.abs(weights).sum(axis=1)
    model.buffers[b.buffer].data = np.frombuffer(bias.astype(np.int32).tobytes(), np.uint8)


def test_output_zero_point_overflow_after_requantization_refused():
    with pytest.raises(ModelError, match="FULLY_CONNECTED.*plus the output zero point -128 overflows int32"):
        compile_bytes(edited(dense_model(), _fc_near_one), "near_one")


# ---------------------------------------------------------------------------------------------
# AVERAGE_POOL_2D and MEAN over many values


def test_average_pool_window_limit(tmp_path):
    # 4097 x 4097 = 16,785,409 values (> 2^24): their int32 sum could overflow.
    with pytest.raises(ModelError, match="AVERAGE_POOL_2D .*windows of up to 16,785,409 values"):
        compile_bytes(resized(reduce_model("pool"), 4097, 4097, window=True), "pool")
    # 4096 x 4080 = 16,711,680 values, just within the limit: exact, even on all -128.
    assert AVG_POOL_MAX_WINDOW >= 4096 * 4080
    assert assert_clean_and_equal_to_tflm(resized(reduce_model("pool"), 4096, 4080, window=True), tmp_path) == 4


def test_mean_over_many_values(tmp_path):
    # 4096 x 4097 values: -128 each sums below INT32_MIN, where TFLite's int32 sum wraps; the
    # C's wraps through uint32_t (defined) and equals it.
    assert assert_clean_and_equal_to_tflm(resized(reduce_model("mean"), 4096, 4097, window=False), tmp_path) == 4


def test_pool_padding_beyond_int16_refused():
    """SAME pooling with a 70000-wide filter over 4 columns pads 34999: TFLite truncates that to
    int16_t."""

    def edit(model, sg):
        for op in _ops(model, sg, "AVERAGE_POOL_2D"):
            o = op.builtinOptions
            o.padding, o.filterHeight, o.filterWidth, o.strideH, o.strideW = 0, 1, 70000, 1, 1
            sg.tensors[op.outputs[0]].shape = np.array([1, 4, 4, 1], dtype=np.int32)
            sg.tensors[op.outputs[0]].shapeSignature = None

    with pytest.raises(ModelError, match="AVERAGE_POOL_2D .*its padding_w 34,999 exceeds 32767"):
        compile_bytes(edited(reduce_model("pool"), edit), "pool")


def test_window_arithmetic_beyond_int32_refused():
    """The int32 proof behind the int16 rule: a kernel span (k - 1) * dilation beyond int32."""
    from edgeconv.frontend.ir import Graph, Op, Tensor
    from edgeconv.lowering.ops.ranges import check_spatial_indices

    graph = Graph(
        "g",
        {
            0: Tensor(0, "x", (1, 4, 4, 1), "int8", None, None, False),
            1: Tensor(1, "y", (1, 4, 4, 1), "int8", None, None, False),
        },
        [Op(0, "CONV_2D", [0], [1])],
        [0],
        [1],
    )
    check_spatial_indices(graph, graph.ops[0], 4, 4, 4, 4, 3, 3, 1, 1, 1 << 29, 1, 1 << 29, 1)
    with pytest.raises(ModelError, match=r"CONV_2D .*kernel span \(k_h - 1\) \* dilation_h = 2,147,483,648"):
        check_spatial_indices(graph, graph.ops[0], 4, 4, 4, 4, 3, 3, 1, 1, 1 << 30, 1, 1 << 30, 1)
