"""int16 (16x8) activations: SOFTMAX, LOGISTIC, TANH, RELU, RELU6, LEAKY_RELU, PRELU, bit-exact with
TFLite Micro, and the int16 forms both references refuse (HARD_SWISH, PRELU with an int16 alpha,
zero points and output scales TFLite Micro's Prepare rejects).

Randomized cases (seeded) are one-op Net models packed several to a model (each op on its own
input), so that one compile, build and validation covers many parameter draws; each packed
model also runs its samples under ASan/UBSan. Every op whose
input is [1, 65536] gets every int16 value in one sample: the table-based kernels (SOFTMAX's exp
and reciprocal tables, LOGISTIC/TANH's sigmoid table) are swept over their whole input range.
SOFTMAX also gets narrow rows (many significant exps), which move its sum, and so the reciprocal
table's input, over their range. A few converter-made 16x8 Keras models check the forms the
converter writes. RELU_N1_TO_1, which TFLite Micro lacks, is checked in int8 against TFLite's
reference (neither reference runs it in int16).
"""

from __future__ import annotations

import math
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

import mutants
from edgeconv.checking.references import ReferenceFailed, ReferenceUnavailable, TflmReference
from edgeconv.checking.validation import validate_bytes
from edgeconv.emit.emitter import emit
from edgeconv.frontend.ir import ModelError, UnsupportedOpError
from edgeconv.frontend.reader import read_tflite_bytes
from edgeconv.lowering.compiler import compile_bytes
from edgeconv.lowering.ops.softmax import softmax_int16_tables
from edgeconv.targets.firmware import main_from_template
from edgeconv.targets.hostbuild import build_and_load, compiler
from modelgen import assert_bit_exact, cached_model, oracle_is, seeded_keras, tflite_from_function, tflite_from_keras
from mutants import Net
from sanitized import FLAGS as SANITIZED_FLAGS
from sanitized import run_samples

SWEEP = 65536  # every int16 value once
EVERY_INT16 = np.arange(-32768, 32768, dtype=np.int16)
OUT_Q15 = 2.0**-15


def _check(data: bytes, label: str, extra=None, samples: int = 2, seed: int = 0):
    return assert_bit_exact(data, label, samples=samples, seed=seed, extra_inputs=extra)


def _opcodes(data: bytes) -> list[str]:
    return [op.opcode for op in read_tflite_bytes(data, name="m").ops]


def _log_uniform(rng, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


# ---------------------------------------------------------------------------------------------
# Packed Net models: each case is one op on its own int16 input


def _packed(cases: list[dict]) -> bytes:
    """One model, one op per case: {op, shape, in: (scale, zp), out: (scale, zp), opts, alpha}."""
    n = Net()
    ins, outs = [], []
    for i, c in enumerate(cases):
        x = n.tensor(f"x{i}", list(c["shape"]), "int16", scale=c["in"][0], zp=c["in"][1])
        y = n.tensor(f"y{i}", list(c["shape"]), "int16", scale=c["out"][0], zp=c["out"][1])
        inputs = [x]
        if c["op"] == "PRELU":
            a_scale, a_zp, a_data = c["alpha"]
            inputs.append(n.tensor(f"alpha{i}", list(a_data.shape), "int8", scale=a_scale, zp=a_zp, data=a_data))
        n.op(c["op"], inputs, [y], **c.get("opts", {}))
        ins.append(x)
        outs.append(y)
    return n.finish(ins, outs)


def _samples(cases: list[dict], rng) -> list[list[np.ndarray]]:
    """The whole int16 range for [1, 65536] inputs (permuted after the first sample), and narrow
    random values (within +-2^k of a random centre) elsewhere; three samples if there is a
    SOFTMAX (whose rows mix elements), else one."""
    out = []
    for k in range(3 if any(c["op"] == "SOFTMAX" for c in cases) else 1):
        sample = []
        for c in cases:
            shape = tuple(c["shape"])
            size = int(np.prod(shape))
            if size == SWEEP:
                values = EVERY_INT16 if k == 0 else rng.permutation(EVERY_INT16)
            else:
                width = int(rng.integers(2, 16))
                centre = int(rng.integers(-30000, 30000))
                values = np.clip(centre + rng.integers(-(1 << width), 1 << width, size), -32768, 32767)
            sample.append(np.asarray(values, dtype=np.int16).reshape(shape))
        out.append(sample)
    return out


def _sanitized_executable(model, emitted, work: Path) -> Path:
    """The model with only the runtime units it uses (the emitted copies) and the host main,
    compiled with the promised flags plus ASan/UBSan (cheaper than sanitized.py's archive of
    the whole runtime)."""
    for fname, text in emitted.files.items():
        (work / fname).write_text(text)
    (work / "main.c").write_text(main_from_template(model, "host_main.c.in"))
    sources = [str(work / f) for f in emitted.files if f.endswith(".c")] + [str(work / "main.c")]
    exe = work / "model"
    proc = subprocess.run(
        [compiler(), *SANITIZED_FLAGS, "-I", str(work), *sources, "-o", str(exe)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return exe


def _check_packed(cases: list[dict], label: str, seed: int) -> None:
    """Bit-exact with TFLite Micro, then the same samples through an ASan/UBSan build: clean,
    and the same outputs."""
    data = _packed(cases)
    samples = _samples(cases, np.random.default_rng(seed))
    _check(data, label, extra=samples, samples=1, seed=seed)
    model = compile_bytes(data, label)
    emitted = emit(model)
    host = build_and_load(model, emitted)
    with tempfile.TemporaryDirectory() as tmp:
        run = run_samples(_sanitized_executable(model, emitted, Path(tmp)), model, samples, Path(tmp))
    assert run.returncode == 0 and not run.report, f"{label}: {run.report}"
    for sample, theirs in zip(samples, run.outputs):
        for a, b in zip(host.run(sample), theirs):
            np.testing.assert_array_equal(np.asarray(a).reshape(-1), b)


def _chunks(cases: list[dict], size: int) -> list[list[dict]]:
    return [cases[i : i + size] for i in range(0, len(cases), size)]


# ---------------------------------------------------------------------------------------------
# LOGISTIC, TANH: every int16 input, input scales across TFLite Micro's Prepare branches


def _lut_scales(op: str) -> list[float]:
    """Fixed scales: the power-of-two shortcut (2^-12; TANH also 2^-11), a log2 within TFLite's
    1e-3 of it (taken as the power of two), one just outside (general path), other powers of
    two (general path), and the ends: multiplier above 32767 at shift 0, shift 31."""
    fixed = [2.0**-12, 2.0**-12 * 2.0**4e-4, 2.0**-12 * 2.0**-1.5e-3, 2.0**-10, 2.0**-13, 4.0, 5.3, 1e-10]
    if op == "TANH":
        fixed += [2.0**-11, 2.0**-11 * 2.0**-6e-4]
    return fixed


def _lut_cases(seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    cases = []
    for op in ("LOGISTIC", "TANH"):
        scales = _lut_scales(op) + [_log_uniform(rng, 1e-6, 5.0) for _ in range(10)]
        for s in scales:
            # The output scale may be off 2^-15 by up to TFLite's 1e-3 in log2.
            out = OUT_Q15 * 2.0 ** float(rng.uniform(-9e-4, 9e-4)) if rng.random() < 0.3 else OUT_Q15
            cases.append(dict(op=op, shape=(1, SWEEP), **{"in": (s, 0), "out": (out, 0)}))
    return cases


@pytest.mark.parametrize("chunk", range(5))
def test_logistic_tanh_sweep(chunk):
    cases = _chunks(_lut_cases(1600), 8)[chunk]
    _check_packed(cases, f"lut16_{chunk}", seed=chunk)


def test_logistic_tanh_case_count():
    assert len(_chunks(_lut_cases(1600), 8)) == 5  # the sweep test above covers every case


# ---------------------------------------------------------------------------------------------
# SOFTMAX


def _softmax_cases(seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(16):
        if i < 6:
            shape = (1, SWEEP)  # every difference to the maximum, [-65535, 0], once
        else:
            depth = int(rng.choice([1, 2, 3, 10, 33, 100, 1000, 4096]))
            rows = int(rng.integers(1, 5))
            shape = (rows, depth) if rng.random() < 0.5 else (1, rows, depth)
        scale = [2.0**-10, 1.7148e-4, 1e-5, 0.3, 3e-3, 2.0**-7][i] if i < 6 else _log_uniform(rng, 1e-6, 1.0)
        beta = float(rng.choice([1.0, 1.0, 0.5, 2.0, float(rng.uniform(0.05, 4.0))]))
        out = 1.0 / 32768 * (1.0 + float(rng.uniform(-9e-4, 9e-4))) if rng.random() < 0.3 else 1.0 / 32768
        cases.append(dict(op="SOFTMAX", shape=shape, opts=dict(beta=beta), **{"in": (scale, 0), "out": (out, 0)}))
    return cases


# Like test_logistic_tanh_sweep and test_relu_family_s16: the shared work is already _chunks + _check_packed; each
# family keeps its own chunk count and seeds so the packed builds stay small
@pytest.mark.parametrize("chunk", range(2))
def test_softmax_s16(chunk):
    cases = _chunks(_softmax_cases(1700), 8)[chunk]
    _check_packed(cases, f"softmax16_{chunk}", seed=10 + chunk)


def test_softmax_tables_are_tflite_micros():
    """Spot values of TFLite Micro's tables (LUTPopulate in float32): ends, and the maximum's exp."""
    exp_lut, recip_lut = softmax_int16_tables()
    assert exp_lut.shape == recip_lut.shape == (513,)
    assert list(exp_lut[:3]) == [2, 2, 2] and list(exp_lut[-3:]) == [31512, 32133, 32767]
    assert list(recip_lut[:3]) == [32767, 32704, 32640] and list(recip_lut[-3:]) == [16416, 16400, 16384]
    # exp is increasing and 1 / (1 + x) decreasing, so every interpolated value lies in [0, 32767]
    assert (np.diff(exp_lut.astype(int)) >= 0).all() and (np.diff(recip_lut.astype(int)) <= 0).all()


# ---------------------------------------------------------------------------------------------
# RELU, RELU6, LEAKY_RELU, PRELU


def _relu_family_cases(seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(24):
        op = ["RELU", "RELU6", "LEAKY_RELU"][i % 3]
        s_in = _log_uniform(rng, 1e-5, 1.0)
        if i % 4 == 0:
            s_in = 2.0 ** int(rng.integers(-15, -3))  # powers of two
        s_out = s_in * _log_uniform(rng, 0.1, 10.0) if rng.random() < 0.7 else s_in
        if op == "RELU":  # TFLite Micro requires zero points 0 for int16 RELU
            zp_in = zp_out = 0
        else:
            zp_in, zp_out = (int(v) for v in rng.integers(-2000, 2000, 2)) if rng.random() < 0.5 else (0, 0)
        opts = {}
        if op == "LEAKY_RELU":
            opts = dict(alpha=float(rng.choice([0.01, 0.2, 0.3, 1.5, -0.25, float(rng.uniform(-2, 2))])))
        cases.append(dict(op=op, shape=(1, SWEEP), opts=opts, **{"in": (s_in, zp_in), "out": (s_out, zp_out)}))
    for i in range(8):  # PRELU: int8 alpha broadcast against the int16 input
        shape = [(1, 256, 256), (1, 16, 16, 256), (4, 8, 5), (2, 3, 4, 5)][i % 4]
        a_shape = [(1, 256), (1, 1, 256), (8, 5), (1, 4, 1)][i % 4]
        a_data = rng.integers(-127, 128, a_shape).astype(np.int8)
        s_in = _log_uniform(rng, 1e-5, 1e-1)
        alpha = (_log_uniform(rng, 1e-3, 0.05), int(rng.integers(-20, 20)), a_data)
        zp_in = int(rng.integers(-3000, 3000)) if i % 2 else 0
        cases.append(
            dict(
                op="PRELU",
                shape=shape,
                alpha=alpha,
                **{"in": (s_in, zp_in), "out": (s_in * _log_uniform(rng, 0.3, 3.0), int(rng.integers(-100, 100)))},
            )
        )
    return cases


# Like test_softmax_s16 above (same _chunks + _check_packed), with its own chunk count and seeds
@pytest.mark.parametrize("chunk", range(4))
def test_relu_family_s16(chunk):
    cases = _chunks(_relu_family_cases(1800), 8)[chunk]
    _check_packed(cases, f"relu16_{chunk}", seed=20 + chunk)


def test_relu_family_entry_points():
    """One entry point per type: an int16 model links no int8 loop."""
    cases = _relu_family_cases(1800)
    compiled = compile_bytes(_packed(cases[:3] + cases[-1:]), "entry_points")
    funcs = sorted(step.kernel.func for step in compiled.steps)
    assert funcs == ["ec_leaky_relu_s16", "ec_prelu_s16", "ec_relu6_s16", "ec_relu_s16"]


# ---------------------------------------------------------------------------------------------
# Refusals: each as TFLite Micro's Prepare refuses it (checked), or where TFLite would compute
# with undefined behaviour (edgeconv only)


def _one(op: str, in_q, out_q, shape=(1, 8), in_type="int16", out_type="int16", alpha=None, **opts) -> bytes:
    n = Net()
    x = n.tensor("x", list(shape), in_type, scale=in_q[0], zp=in_q[1])
    y = n.tensor("y", list(shape), out_type, scale=out_q[0], zp=out_q[1])
    inputs = [x]
    if alpha is not None:
        dtype, data = alpha
        inputs.append(n.tensor("alpha", list(data.shape), dtype, scale=0.01, zp=0, data=data))
    n.op(op, inputs, [y], **opts)
    return n.finish([x], [y])


def _tflm_refuses(data: bytes) -> bool:
    """TFLite Micro refuses the model in Prepare, or fails its invocation (an unsupported type
    is found only in Eval, e.g. HARD_SWISH int16)."""
    try:
        with TflmReference(data) as ref:
            ref.run([np.zeros((1, 8), np.int16)], 1)
    except ReferenceUnavailable:
        return True
    except ReferenceFailed as exc:
        return "invocation failed" in str(exc)
    return False


REFUSED_BY_TFLM = {
    "logistic_input_zp": (_one, ("LOGISTIC", (1e-3, 3), (OUT_Q15, 0)), ModelError, "zero point"),
    "logistic_output_zp": (_one, ("LOGISTIC", (1e-3, 0), (OUT_Q15, -5)), ModelError, "zero point"),
    "logistic_output_scale": (_one, ("LOGISTIC", (1e-3, 0), (2.0**-14, 0)), ModelError, "2\\^-15"),
    "tanh_output_scale": (_one, ("TANH", (1e-3, 0), (OUT_Q15 * 1.01, 0)), ModelError, "2\\^-15"),
    "tanh_input_zp": (_one, ("TANH", (1e-3, -1), (OUT_Q15, 0)), ModelError, "zero point"),
    "tanh_int16_to_int8": (_one, ("TANH", (1e-3, 0), (1 / 128, 0), (1, 8), "int16", "int8"), ModelError, "differ"),
    "softmax_input_zp": (_one, ("SOFTMAX", (1e-3, 7), (1 / 32768, 0)), ModelError, "zero point"),
    "softmax_output_zp": (_one, ("SOFTMAX", (1e-3, 0), (1 / 32768, 1)), ModelError, "1/32768"),
    "softmax_output_scale": (_one, ("SOFTMAX", (1e-3, 0), (1 / 32768 * 1.002, 0)), ModelError, "1/32768"),
    "relu_input_zp": (_one, ("RELU", (1e-3, 4), (1e-3, 0)), ModelError, "zero point"),
    "relu_output_zp": (_one, ("RELU", (1e-3, 0), (1e-3, 4)), ModelError, "zero point"),
    "hard_swish_int16": (_one, ("HARD_SWISH", (1e-3, 0), (1e-3, 0)), UnsupportedOpError, "INT16"),
}


@pytest.mark.parametrize("name", sorted(REFUSED_BY_TFLM))
def test_refused_as_tflite_micro(name):
    build, args, error, match = REFUSED_BY_TFLM[name]
    opts = dict(beta=1.0) if args[0] == "SOFTMAX" else {}
    data = build(*args, **opts)
    with pytest.raises(error, match=match):
        compile_bytes(data, name)
    assert _tflm_refuses(data), f"{name}: TFLite Micro runs the model"


def test_prelu_int16_alpha_refused():
    """TFLite Micro's PreluPrepare requires an int8 alpha when the output is int16."""
    data = _one("PRELU", (1e-3, 0), (1e-3, 0), alpha=("int16", np.arange(8, dtype=np.int16).reshape(1, 8)))
    with pytest.raises(UnsupportedOpError, match="alpha"):
        compile_bytes(data, "prelu_alpha16")
    assert _tflm_refuses(data)


def test_undefined_in_tflite_refused():
    """Where TFLite Micro would run into undefined behaviour: a LOGISTIC/TANH input scale whose
    multiplier exceeds 65535 at shift 0 (input * multiplier may overflow int32) or is 0 after
    31 doublings (TFLite would shift 3 by 31 bits), a SOFTMAX depth whose int32 sum of exps can
    overflow."""
    for op in ("LOGISTIC", "TANH"):
        with pytest.raises(ModelError, match="too large"):
            compile_bytes(_one(op, (6.0, 0), (OUT_Q15, 0)), "big_scale")
        with pytest.raises(ModelError, match="too small"):
            compile_bytes(_one(op, (1e-15, 0), (OUT_Q15, 0)), "tiny_scale")
    with pytest.raises(ModelError, match="65538"):
        compile_bytes(_one("SOFTMAX", (1e-3, 0), (1 / 32768, 0), shape=(1, 65539), beta=1.0), "deep")
    compile_bytes(_one("SOFTMAX", (1e-3, 0), (1 / 32768, 0), shape=(1, 65538), beta=1.0), "deepest")


# ---------------------------------------------------------------------------------------------
# Converter-made 16x8 models (int16 edges)

KERAS_MODELS = {
    # name: (trunk, heads: one model output each, calibration range)
    "dense_heads": ("dense", ("softmax", "sigmoid", "tanh", "leaky"), (-3.0, 3.0)),
    "conv_heads": ("conv", ("sigmoid", "leaky", "input_relu", "input_relu6"), (-2.0, 4.0)),
}
OPCODE = {
    "softmax": "SOFTMAX",
    "sigmoid": "LOGISTIC",
    "tanh": "TANH",
    "leaky": "LEAKY_RELU",
    "input_relu": "RELU",
    "input_relu6": "RELU6",
}


def _keras_model(name: str) -> bytes:
    """A trunk layer (Dense or Conv2D) with one activation head per output; the RELU heads read
    the model input (after a trunk the converter fuses them into it)."""
    import tensorflow as tf

    trunk, heads, (low, high) = KERAS_MODELS[name]
    seeded_keras(len(name))
    if trunk == "dense":
        x = tf.keras.Input((24,), batch_size=1)
        h = tf.keras.layers.Dense(40, bias_initializer="random_normal")(x)
    else:
        x = tf.keras.Input((6, 6, 3), batch_size=1)
        h = tf.keras.layers.Conv2D(8, 3, padding="same", bias_initializer="random_normal")(x)
    outputs = []
    for head in heads:
        if head == "leaky":
            outputs.append(tf.keras.layers.LeakyReLU(0.3)(h))
        elif head == "input_relu":
            outputs.append(tf.keras.layers.ReLU()(x))
        elif head == "input_relu6":
            outputs.append(tf.keras.layers.ReLU(6.0)(x))
        else:
            outputs.append(tf.keras.layers.Activation(head)(h))
    return tflite_from_keras(tf.keras.Model(x, outputs), seed=len(name), low=low, high=high, mode="16x8")


@pytest.mark.parametrize("name", sorted(KERAS_MODELS))
def test_converted_16x8(name):
    data = cached_model({"test": "int16_activations_keras", "name": name}, lambda: _keras_model(name))
    g = read_tflite_bytes(data, name="m")
    for head in KERAS_MODELS[name][1]:
        ops = [o for o in g.ops if o.opcode == OPCODE[head]]
        assert ops, f"{name}: the converter emitted {_opcodes(data)}, no {OPCODE[head]}"
        assert all(g.tensors[o.inputs[0]].dtype == "int16" for o in ops)
    _check(data, name, samples=20)


def test_sigmoid_table_is_tflites():
    from edgeconv.lowering.ops.activations import SIGMOID_TABLE_UINT16 as t

    assert t.shape == (256,) and t[0] == 32768 and t[-1] == 65535
    # sigmoid(i / 24) in Q16: TFLite's literal table agrees with the formula to one unit
    formula = np.array([min(65535, round(65536 / (1 + math.exp(-i / 24)))) for i in range(256)])
    assert np.abs(formula - t.astype(int)).max() <= 1


# ---------------------------------------------------------------------------------------------
# int8 RELU / LEAKY_RELU / HARD_SWISH: the scale ratios as the tflite_micro build computes them
# (double divisions, where the source writes static_cast<double>(float / float))


@pytest.mark.parametrize(
    "op,s_in,s_out,zps,opts",
    [
        # found by search: the float32 ratio's multiplier is 1 LSB off here and outputs differ
        ("RELU", 0.0035017780028283596, 0.0011074665235355496, (-128, -128), {}),
        ("RELU", 0.00013654788199346513, 6.763186684111133e-05, (-128, -128), {}),
        ("LEAKY_RELU", 0.0011073695495724678, 0.0006577835301868618, (0, -128), dict(alpha=0.16842375695705414)),
        ("LEAKY_RELU", 0.011263609863817692, 0.008057180792093277, (0, -128), dict(alpha=0.866553783416748)),
        ("HARD_SWISH", 0.0034144986420869827, 0.0018215699819847941, (-9, -11), {}),
        ("HARD_SWISH", 0.003991256933659315, 0.0010747079504653811, (36, -27), {}),
        ("HARD_SWISH", 0.00279314280487597, 0.002364944200962782, (23, -52), {}),
    ],
)
def test_int8_ratio_in_double(op, s_in, s_out, zps, opts):
    zp_in, zp_out = zps
    n = Net()
    x = n.tensor("x", [1, 256], "int8", scale=s_in, zp=zp_in)
    y = n.tensor("y", [1, 256], "int8", scale=s_out, zp=zp_out)
    n.op(op, [x], [y], **opts)
    _check(n.finish([x], [y]), f"{op}_double", extra=[[np.arange(-128, 128, dtype=np.int8).reshape(1, 256)]], samples=1)


# ---------------------------------------------------------------------------------------------
# RELU_N1_TO_1 (int8): TFLite Micro has no such kernel, so TFLite's reference is the oracle

mutants.OPTIONS_OF.setdefault("RELU_N1_TO_1", None)  # the op takes no options table


def _check_vs_reference(data: bytes, label: str, extra=None, samples: int = 2):
    report = validate_bytes(data, label, samples=samples, seed=0, extra_inputs=extra)
    assert oracle_is(report, "tflite_ref") and report.oracle in report.references, report.notes
    assert report.bit_exact, f"{label}: {report.mismatches_vs_oracle} elements differ from TFLite's reference"


def _relu1_model(cases: list[tuple[float, int, float, int]], dtype: str = "int8") -> bytes:
    n = Net()
    ins, outs = [], []
    for i, (s_in, zp_in, s_out, zp_out) in enumerate(cases):
        x = n.tensor(f"x{i}", [1, 256], dtype, scale=s_in, zp=zp_in)
        y = n.tensor(f"y{i}", [1, 256], dtype, scale=s_out, zp=zp_out)
        n.op("RELU_N1_TO_1", [x], [y])
        ins.append(x)
        outs.append(y)
    return n.finish(ins, outs)


def test_relu_n1_to_1_int8():
    rng = np.random.default_rng(1900)
    cases = [
        # found by search: here only the float32 ratio (ReluPrepare's) equals TFLite's output
        (0.023289646953344345, 0, 0.009806167334318161, 0),
        (0.0016233595088124275, 0, 0.0013013165444135666, 0),
    ]
    for _ in range(10):
        s_out = _log_uniform(rng, 1e-3, 0.05)
        cases.append(
            (s_out * _log_uniform(rng, 0.2, 5.0), int(rng.integers(-128, 128)), s_out, int(rng.integers(-100, 100)))
        )
    every = [np.arange(-128, 128, dtype=np.int8).reshape(1, 256)] * len(cases)
    _check_vs_reference(_relu1_model(cases), "relu1", extra=[every], samples=1)


def test_relu_n1_to_1_converted():
    import tensorflow as tf

    data = cached_model(
        {"test": "int16_activations_relu1"},
        lambda: tflite_from_function(lambda x: tf.clip_by_value(x, -1.0, 1.0), [(1, 64)], low=-3, high=3),
    )
    assert _opcodes(data) == ["RELU_N1_TO_1"]
    _check_vs_reference(data, "relu1_clip", samples=8)


def test_relu_n1_to_1_int16_refused():
    with pytest.raises(UnsupportedOpError, match="INT16"):  # neither reference runs it in int16
        compile_bytes(_relu1_model([(1e-3, 0, 1e-3, 0)], "int16"), "relu1_16")


def test_emulated_cortex_m4():
    """The int16 kernels on an emulated Cortex-M4 (arm-none-eabi-gcc, QEMU): the same outputs as
    TFLite Micro on the host, a sweep of every int16 value included."""
    lut = _chunks(_lut_cases(1600), 8)
    cases = (
        lut[0][:2] + lut[3][:2] + _chunks(_softmax_cases(1700), 8)[1][:2] + _chunks(_relu_family_cases(1800), 8)[3][:3]
    )
    report = validate_bytes(
        _packed(cases),
        "int16_m4",
        samples=1,
        seed=0,
        extra_inputs=_samples(cases, np.random.default_rng(30)),
        board="cortex-m4",
    )
    assert report.board == "cortex-m4" and "tflm" in report.references
    assert report.bit_exact, (
        f"{report.mismatches_vs_tflm} elements differ; first divergent op {report.first_divergent_op}"
    )


# ---------------------------------------------------------------------------------------------
# SOFTMAX int8 -> int16 (TFLite Micro's Softmax<int8_t, int16_t>: output scale 1/65536, zp -32768)


def _softmax_s8_s16_model(shapes, rng) -> bytes:
    n = Net()
    ins, outs = [], []
    for i, shape in enumerate(shapes):
        x = n.tensor(f"x{i}", list(shape), "int8", scale=_log_uniform(rng, 0.01, 1.0), zp=int(rng.integers(-128, 128)))
        y = n.tensor(f"y{i}", list(shape), "int16", scale=1 / 65536, zp=-32768)
        n.op("SOFTMAX", [x], [y], beta=float(rng.choice([1.0, 0.5, 2.0, float(rng.uniform(0.1, 3.0))])))
        ins.append(x)
        outs.append(y)
    return n.finish(ins, outs)


def test_softmax_s8_s16():
    """Every int8 value in one row; rows of equal values up to depth 8191 (the Q12 sum of exps
    wraps negative from 4096 on, as TFLite's int32 sum does); narrow random rows."""
    rng = np.random.default_rng(2000)
    shapes = [(1, 256), (3, 17), (2, 1000), (1, 4096), (1, 5000), (4, 1), (2, 2, 9), (1, 8191)]
    data = _softmax_s8_s16_model(shapes, rng)
    flat = [np.arange(-128, 128, dtype=np.int8).reshape(1, 256)] + [np.full(s, 5, np.int8) for s in shapes[1:]]
    narrow = [
        rng.integers(-128, 128, s).astype(np.int8) if k == 0 else rng.integers(118, 128, s).astype(np.int8)
        for k, s in enumerate(shapes)
    ]
    _check(data, "softmax_s8_s16", extra=[flat, narrow], samples=2)
    assert [s.kernel.func for s in compile_bytes(data, "s8_s16").steps] == ["ec_softmax_s8_s16"] * len(shapes)


def test_softmax_s8_s16_refused():
    rng = np.random.default_rng(2001)
    with pytest.raises(ModelError, match="8191"):  # TFLite Micro could abort on a sum wrapped past 2^32
        compile_bytes(_softmax_s8_s16_model([(1, 8192)], rng), "deep")
    data = _one("SOFTMAX", (0.1, 0), (1 / 65536, 0), in_type="int8", beta=1.0)
    with pytest.raises(ModelError, match="-32768"):
        compile_bytes(data, "zp")
    assert _tflm_refuses(data)
