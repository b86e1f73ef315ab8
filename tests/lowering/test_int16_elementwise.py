"""int16 (16x8) ADD, SUB, MUL, MAXIMUM, MINIMUM, AVERAGE_POOL_2D, MAX_POOL_2D, QUANTIZE and
DEQUANTIZE: parity with TFLite Micro over randomized one-op models.

Every model is built with tests/mutants.Net (seeded): each holds several independent ops with
random shapes (ranks 1-5, broadcasting), scales, zero points (where TFLite Micro allows them)
and fused activations, and runs on full-range random int16 inputs plus small-magnitude ones.
TFLite Micro is the oracle for all of them (it runs every op here in int16); where TFLite's
reference kernels also run the model they must agree, except on ADD/SUB's power-of-two path
(`pot_scale_int16`), which TFLite Micro does not have (test_add_sub_pot_scales_follow_tflm).
Converter-made 16x8 models of the same ops are in tests/quantize/test_quantize_16x8.py.
"""

import numpy as np
import pytest

from conftest import require_tools
from edgeconv.checking.validation import validate_bytes
from edgeconv.frontend.ir import ModelError, UnsupportedOpError
from edgeconv.frontend.reader import read_tflite_bytes
from edgeconv.lowering.compiler import compile_bytes
from edgeconv.lowering.ops.base import conv_output_size
from mutants import Net

I16 = (-32768, 32767)


def graph_inputs(data: bytes):
    g = read_tflite_bytes(data)
    return g, [g.tensors[i] for i in g.inputs]


def check(data: bytes, label: str, seed: int = 0, samples: int = 6, extra=None, both: bool = False):
    """Bit-exact against TFLite Micro; with `both`, TFLite's reference ran too and agrees.
    `extra`: a function from the model bytes to samples run before the random ones."""
    extra_inputs = extra(data) if callable(extra) else extra
    report = validate_bytes(data, label, samples=samples, seed=seed, extra_inputs=extra_inputs)
    assert report.oracle == "tflm", f"{label}: measured against {report.oracle}: {report.notes}"
    assert "tflm" in report.references, f"{label}: TFLite Micro did not run: {report.notes}"
    assert report.elements_compared > 0
    assert report.bit_exact and report.mismatches_vs_oracle == 0, (
        f"{label}: {report.mismatches_vs_oracle} elements differ from TFLite Micro (max |diff| "
        f"{report.max_abs_diff}); first divergent op: {report.first_divergent_op}"
    )
    if both:
        assert "tflite_ref" in report.references, f"{label}: TFLite's reference did not run: {report.notes}"
        assert report.reference_disagreements == 0, (
            f"{label}: the references disagree on {report.reference_disagreements}"
        )
    return report


def small_inputs(rng, magnitude: int = 400, count: int = 2):
    """Samples of small int16 values (around the zero points), beside the full-range random ones."""

    def make(data):
        _, inputs = graph_inputs(data)
        return [
            [rng.integers(-magnitude, magnitude + 1, size=t.shape).astype(np.dtype(t.dtype)) for t in inputs]
            for _ in range(count)
        ]

    return make


def log_uniform(rng, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def broadcast_shapes(rng) -> tuple[list[int], list[int], list[int]]:
    """Output shape of rank 1-5 and two input shapes broadcasting to it (some of lower rank)."""
    rank = int(rng.integers(1, 6))
    out = [int(d) for d in rng.integers(1, 6, size=rank)]

    def operand() -> list[int]:
        shape = [d if rng.random() < 0.6 else 1 for d in out]
        drop = int(rng.integers(0, rank)) if rng.random() < 0.3 else 0
        return shape[drop:]

    a, b = operand(), operand()
    if rng.random() < 0.3:
        a = list(out)  # one operand full size, the common case
    return a, b, [int(d) for d in np.broadcast_shapes(tuple(a), tuple(b))]


# ---------------------------------------------------------------------------------------------
# ADD, SUB, MUL, MAXIMUM, MINIMUM: each model holds one op of each, with independent parameters.

BINARY_OPS = ("ADD", "SUB", "MUL", "MAXIMUM", "MINIMUM")


def binary_model(seed: int, zero_points: bool, pot_scale_int16: bool = False) -> bytes:
    rng = np.random.default_rng(seed)
    n = Net()
    ins, outs = [], []
    for k, opname in enumerate(BINARY_OPS):
        sa, sb, so_shape = broadcast_shapes(rng)
        s0, s1 = log_uniform(rng, 1e-5, 1e-1), log_uniform(rng, 1e-5, 1e-1)
        z0 = z1 = zo = 0
        act = int(rng.integers(0, 4))
        if opname in ("ADD", "SUB"):
            # The output multiplier 2 max(s0, s1) / (2^15 so) must stay below 1 (TFLite's rule).
            so = max(s0, s1) * 2.0 ** rng.uniform(-12.0, 3.0)
            if zero_points:
                z0, z1, zo = (int(v) for v in rng.integers(-3000, 3001, size=3))
                if rng.random() < 0.3:  # the extremes: |x - zp| up to 65535
                    z0, z1 = int(rng.choice([-32768, 32767])), int(rng.choice([-32768, 32767]))
        elif opname == "MUL":
            so = s0 * s1 * 2.0 ** rng.uniform(9.0, 20.0)  # zero points must be 0
        else:
            s1 = so = s0  # raw comparisons: the converter gives all three one quantization
            z0 = z1 = zo = int(rng.integers(-100, 101)) if zero_points else 0
            act = None
        a = n.tensor(f"a{k}", sa, "int16", scale=s0, zp=z0)
        b = n.tensor(f"b{k}", sb, "int16", scale=s1, zp=z1)
        y = n.tensor(f"y{k}", so_shape, "int16", scale=so, zp=zo)
        options = {} if act is None else dict(fusedActivationFunction=act)
        if opname in ("ADD", "SUB"):
            options["potScaleInt16"] = pot_scale_int16
        n.op(opname, [a, b], [y], **options)
        ins += [a, b]
        outs.append(y)
    return n.finish(ins, outs)


@pytest.mark.parametrize("seed", range(10))
def test_binary_random(seed):
    """Odd seeds: zero points 0, where TFLite's reference runs the model too and must agree."""
    zero_points = seed % 2 == 0
    data = binary_model(100 + seed, zero_points)
    check(data, f"binary16_{seed}", seed=seed, extra=small_inputs(np.random.default_rng(seed)), both=not zero_points)


def test_add_sub_pot_scales_follow_tflm():
    """Power-of-two scales, zero points 0 and pot_scale_int16 set (the AddOptions default):
    TFLite's reference takes its saturating Q0.15 path there, TFLite Micro the general one,
    and the two disagree; edgeconv follows TFLite Micro."""
    n = Net()
    ins, outs = [], []
    for k, opname in enumerate(("ADD", "SUB")):
        a = n.tensor(f"a{k}", [1, 4, 4, 6], "int16", scale=2.0**-10)
        b = n.tensor(f"b{k}", [1, 4, 4, 6], "int16", scale=2.0**-12)
        y = n.tensor(f"y{k}", [1, 4, 4, 6], "int16", scale=2.0**-10)
        n.op(opname, [a, b], [y], fusedActivationFunction=0, potScaleInt16=True)
        ins += [a, b]
        outs.append(y)
    report = check(n.finish(ins, outs), "pot16", samples=4)
    assert "tflite_ref" in report.references and report.reference_disagreements > 0


def test_add_output_zero_point_wraps_as_tflm():
    """An output multiplier near 1 and an output zero point near the int16 maximum: TFLite's
    int32 sum of the rescaled value and the zero point leaves int32 (it wraps on its builds);
    the C wraps the same way instead of overflowing."""
    n = Net()
    s = 2.0**-20
    a = n.tensor("a", [1, 64], "int16", scale=s, zp=-32768)
    b = n.tensor("b", [1, 64], "int16", scale=s, zp=-32768)
    y = n.tensor("y", [1, 64], "int16", scale=2 * s / 2.0**15 * 1.0001, zp=32767)
    n.op("ADD", [a, b], [y], fusedActivationFunction=0, potScaleInt16=False)
    extremes = [
        [np.full((1, 64), 32767, np.int16), np.full((1, 64), 32767, np.int16)],
        [np.full((1, 64), 32000, np.int16), np.arange(64, dtype=np.int16).reshape(1, 64) * 500],
    ]
    check(n.finish([a, b], [y]), "add16_wrap", samples=4, extra=extremes)


# ---------------------------------------------------------------------------------------------
# AVERAGE_POOL_2D and MAX_POOL_2D


def pool_model(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    n = Net()
    ins, outs = [], []
    for k, opname in enumerate(("AVERAGE_POOL_2D", "MAX_POOL_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D")):
        b, h, w, c = (
            int(rng.integers(1, 3)),
            int(rng.integers(1, 10)),
            int(rng.integers(1, 10)),
            int(rng.integers(1, 5)),
        )
        fh, fw = int(rng.integers(1, 5)), int(rng.integers(1, 5))
        sh, sw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        padding = int(rng.integers(0, 2))  # 0 SAME, 1 VALID
        oh, ow = conv_output_size(padding, h, fh, sh, 1), conv_output_size(padding, w, fw, sw, 1)
        if oh < 1 or ow < 1:  # VALID with a filter larger than the input: take SAME
            padding = 0
            oh, ow = conv_output_size(0, h, fh, sh, 1), conv_output_size(0, w, fw, sw, 1)
        scale = log_uniform(rng, 1e-4, 1e-1)
        zp = int(rng.integers(-500, 501)) if rng.random() < 0.4 else 0
        x = n.tensor(f"x{k}", [b, h, w, c], "int16", scale=scale, zp=zp)
        y = n.tensor(f"y{k}", [b, oh, ow, c], "int16", scale=scale, zp=zp)
        n.op(
            opname,
            [x],
            [y],
            padding=padding,
            strideH=sh,
            strideW=sw,
            filterHeight=fh,
            filterWidth=fw,
            fusedActivationFunction=int(rng.integers(0, 4)),
        )
        ins.append(x)
        outs.append(y)
    return n.finish(ins, outs)


@pytest.mark.parametrize("seed", range(6))
def test_pool_random(seed):
    check(pool_model(200 + seed), f"pool16_{seed}", seed=seed, extra=small_inputs(np.random.default_rng(seed)))


# test_emulated_cortex_m4 builds a pool like this inline, at the int16 extremes (zero points -32768)
def _pool_net(dtype: str, in_shape, out_shape, filt, out_scale=0.01, out_zp=0, opname="AVERAGE_POOL_2D") -> bytes:
    n = Net()
    x = n.tensor("x", in_shape, dtype, scale=0.01, zp=0)
    y = n.tensor("y", out_shape, dtype, scale=out_scale, zp=out_zp)
    n.op(
        opname,
        [x],
        [y],
        padding=1,
        strideH=1,
        strideW=1,
        filterHeight=filt[0],
        filterWidth=filt[1],
        fusedActivationFunction=0,
    )
    return n.finish([x], [y])


def test_avg_pool_int16_window_limit():
    """65,535 int16 values (32768.5 each at most, with the rounding) fit the int32 sum; more do not."""
    compile_bytes(_pool_net("int16", [1, 1, 65535, 1], [1, 1, 1, 1], (1, 65535)), "pool_ok")
    with pytest.raises(ModelError, match="65,535 int16 values fit"):
        compile_bytes(_pool_net("int16", [1, 2, 32768, 1], [1, 1, 1, 1], (2, 32768)), "pool_big")


@pytest.mark.parametrize("dtype", ["int8", "int16"])
@pytest.mark.parametrize("opname", ["AVERAGE_POOL_2D", "MAX_POOL_2D"])
def test_pool_refuses_requantization(dtype, opname):
    """TFLite Micro's Prepare: output scale within 1e-6 of the input's, the same zero point."""
    compile_bytes(_pool_net(dtype, [1, 4, 4, 2], [1, 2, 2, 2], (3, 3), out_scale=0.01 + 5e-7, opname=opname), "pool_eq")
    for scale, zp in ((0.0101, 0), (0.01, 3)):
        with pytest.raises(ModelError, match="TFLite Micro requires them equal"):
            compile_bytes(_pool_net(dtype, [1, 4, 4, 2], [1, 2, 2, 2], (3, 3), scale, zp, opname), "pool_neq")


# ---------------------------------------------------------------------------------------------
# QUANTIZE int8 <-> int16, int16 -> int16, float32 -> int16; DEQUANTIZE int16 -> float32

REQUANTIZE_PAIRS = (("int8", "int16"), ("int16", "int8"), ("int16", "int16"), ("int16", "int16"))


def requantize_model(seed: int, int16_zero_points: bool) -> bytes:
    """int16_zero_points False: int16 tensors symmetric (zero point 0), as the converter makes
    them and as TFLite's reference requires; TFLite Micro takes any."""
    rng = np.random.default_rng(seed)
    n = Net()
    ins, outs = [], []
    for k, (src, dst) in enumerate(REQUANTIZE_PAIRS):
        shape = [int(d) for d in rng.integers(1, 6, size=int(rng.integers(1, 4)))]
        s_in = log_uniform(rng, 1e-4, 1e-1)
        # Ratios from 2^-14 to 2^14: int16 -> int8 needs large ones; beyond 2^15 the rescaled
        # int16 differences leave int32 and wrap (as TFLite's x * (1 << shift) does).
        s_out = s_in * 2.0 ** rng.uniform(-14.0, 14.0)
        zps = []
        for dtype in (src, dst):
            lim = 127 if dtype == "int8" else 32767
            zps.append(int(rng.integers(-lim // 4, lim // 4 + 1)) if dtype == "int8" or int16_zero_points else 0)
        z_in, z_out = zps
        x = n.tensor(f"x{k}", shape, src, scale=s_in, zp=z_in)
        y = n.tensor(f"y{k}", shape, dst, scale=s_out, zp=z_out)
        n.op("QUANTIZE", [x], [y])
        ins.append(x)
        outs.append(y)
    return n.finish(ins, outs)


@pytest.mark.parametrize("seed", range(6))
def test_requantize_random(seed):
    """Odd seeds: int16 zero points 0, where TFLite's reference runs the model too and must agree."""
    symmetric = seed % 2 == 1
    check(
        requantize_model(300 + seed, not symmetric),
        f"requant16_{seed}",
        seed=seed,
        extra=small_inputs(np.random.default_rng(seed), 50, 1),
        both=symmetric,
    )


def float_edges_model(seed: int, zero_points: bool) -> bytes:
    """float32 -> int16 QUANTIZE and int16 -> float32 DEQUANTIZE, twice each; zero points 0
    unless `zero_points` (TFLite's reference requires 0 for int16, TFLite Micro takes any)."""
    rng = np.random.default_rng(seed)
    n = Net()
    ins, outs = [], []
    for k in range(2):
        shape = [1, int(rng.integers(1, 40))]
        x = n.tensor(f"f{k}", shape, "float32")
        zq, zd = (int(rng.integers(-1000, 1001)), int(rng.integers(-32768, 32768))) if zero_points else (0, 0)
        q = n.tensor(f"q{k}", shape, "int16", scale=log_uniform(rng, 1e-5, 1e-1), zp=zq)
        n.op("QUANTIZE", [x], [q])
        d_in = n.tensor(f"d{k}", shape, "int16", scale=log_uniform(rng, 1e-6, 1e3), zp=zd)
        d_out = n.tensor(f"r{k}", shape, "float32")
        n.op("DEQUANTIZE", [d_in], [d_out])
        ins += [x, d_in]
        outs += [q, d_out]
    return n.finish(ins, outs)


def float_edge_inputs(rng, data: bytes):
    """Floats across (and beyond) each QUANTIZE output's int16 range, half-way ties included
    (validation's own random floats cover only a part of an int16 range)."""
    g, inputs = graph_inputs(data)
    samples = []
    for _ in range(3):
        sample = []
        for t in inputs:
            if t.dtype == "float32":
                consumer = next(op for op in g.ops if op.inputs[0] == t.index)
                q = g.tensors[consumer.outputs[0]].quant
                steps = rng.integers(-36000, 36000, size=t.shape) + rng.choice([0.0, 0.5, -0.5, 0.25], size=t.shape)
                sample.append(((steps - q.zp) * float(q.s)).astype(np.float32))
            else:
                sample.append(rng.integers(-32768, 32768, size=t.shape).astype(np.int16))
        samples.append(sample)
    return samples


@pytest.mark.parametrize("seed", range(4))
def test_float_edges_random(seed):
    """Odd seeds: zero points 0, where TFLite's reference runs the model too and must agree."""
    data = float_edges_model(400 + seed, zero_points=seed % 2 == 0)
    check(
        data,
        f"edges16_{seed}",
        seed=seed,
        extra=float_edge_inputs(np.random.default_rng(seed), data),
        both=seed % 2 == 1,
    )


# ---------------------------------------------------------------------------------------------
# Refusals (what TFLite Micro refuses, one line naming the op)


def _binary_net(opname, dtypes=("int16", "int16", "int16"), zps=(0, 0, 0)) -> bytes:
    n = Net()
    a = n.tensor("a", [1, 4], dtypes[0], scale=0.01, zp=zps[0])
    b = n.tensor("b", [1, 4], dtypes[1], scale=0.01, zp=zps[1])
    y = n.tensor("y", [1, 4], dtypes[2], scale=0.02, zp=zps[2])
    n.op(opname, [a, b], [y], **({} if opname in ("MAXIMUM", "MINIMUM") else dict(fusedActivationFunction=0)))
    return n.finish([a, b], [y])


@pytest.mark.parametrize("zps", [(1, 0, 0), (0, -2, 0), (0, 0, 5)])
def test_mul_int16_needs_zero_points_0(zps):
    with pytest.raises(ModelError, match="MUL.*zero points 0"):
        compile_bytes(_binary_net("MUL", zps=zps), "mul16_zp")


@pytest.mark.parametrize("opname", BINARY_OPS)
def test_binary_mixed_types_refused(opname):
    with pytest.raises(ModelError, match=f"{opname}.*TFLite requires one type"):
        compile_bytes(_binary_net(opname, dtypes=("int16", "int8", "int16")), "mixed")


def test_quantize_int16_to_uint8_refused():
    n = Net()
    x = n.tensor("x", [1, 4], "int16", scale=0.01)
    y = n.tensor("y", [1, 4], "uint8", scale=0.01, zp=128)
    n.op("QUANTIZE", [x], [y])
    with pytest.raises(UnsupportedOpError, match="QUANTIZE int16 -> uint8"):
        compile_bytes(n.finish([x], [y]), "q16u8")


def test_int16_entry_points():
    """One C entry point per type: an int16 model links no int8 loop of these ops."""
    from edgeconv.emit.emitter import emit

    compiled = compile_bytes(binary_model(7, True), "entry")
    funcs = sorted(step.kernel.func for step in compiled.steps)
    assert funcs == ["ec_add_s16", "ec_maximum_s16", "ec_minimum_s16", "ec_mul_s16", "ec_sub_s16"]
    text = emit(compiled).files["entry.c"]
    assert "_s8(" not in text


# ---------------------------------------------------------------------------------------------
# The same kernels as firmware on an emulated Cortex-M4 (arm-none-eabi-gcc, QEMU)


@pytest.mark.parametrize("kind", ["binary", "pool", "requantize", "float_edges"])
def test_emulated_cortex_m4(kind):
    require_tools("arm-none-eabi-gcc", "qemu-system-arm")
    data = {
        "binary": lambda: binary_model(100, True),
        "pool": lambda: pool_model(200),
        "requantize": lambda: requantize_model(300, True),
        "float_edges": lambda: float_edges_model(400, True),
    }[kind]()
    report = validate_bytes(data, f"{kind}16_m4", samples=3, seed=1, board="cortex-m4")
    assert report.oracle == "tflm" and report.bit_exact, report.to_dict()


# ---------------------------------------------------------------------------------------------
# Extremes under ASan and UBSan: zero points and scales at their limits, every rescaling at its
# largest shift, inputs at the type's minimum and maximum. Clean, and equal to TFLite Micro
# (whose int32 arithmetic wraps where the C wraps explicitly).


def _extreme_models() -> dict[str, bytes]:
    models = {}
    s = 2.0**-20
    for opname in ("ADD", "SUB"):
        n = Net()
        a = n.tensor("a", [1, 256], "int16", scale=s, zp=-32768)
        b = n.tensor("b", [1, 256], "int16", scale=s, zp=32767 if opname == "SUB" else -32768)
        # The output multiplier 2 s / (2^15 so) just below 1: the rescaled sum reaches 2^31 - 2^15.
        y = n.tensor("y", [1, 256], "int16", scale=2 * s / 2.0**15 * 1.0001, zp=32767)
        n.op(opname, [a, b], [y], fusedActivationFunction=0, potScaleInt16=False)
        models[opname.lower()] = n.finish([a, b], [y])
    n = Net()
    a = n.tensor("a", [1, 256], "int16", scale=0.5)
    b = n.tensor("b", [1, 256], "int16", scale=0.5)
    y = n.tensor("y", [1, 256], "int16", scale=0.25 / 2.0**30 * 1.5)  # a left shift of 30 bits
    n.op("MUL", [a, b], [y], fusedActivationFunction=0)
    models["mul"] = n.finish([a, b], [y])
    for src, dst in (("int16", "int16"), ("int16", "int8"), ("int8", "int16")):
        n = Net()
        x = n.tensor("x", [1, 256], src, scale=1.0, zp=-32768 if src == "int16" else -128)
        y = n.tensor("y", [1, 256], dst, scale=2.0**-29.5, zp=32767 if dst == "int16" else 127)
        n.op("QUANTIZE", [x], [y])
        models[f"quantize_{src}_{dst}"] = n.finish([x], [y])
    # Like _pool_net, but a 65535-wide window at the int16 extremes (zero points -32768): kept inline beside the other
    # extremes
    # (its option list only looks like mutants.py's, test_api.py's and test_ops_transpose_conv.py's: a shape match)
    for opname in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        n = Net()
        x = n.tensor("x", [1, 1, 65535, 1], "int16", scale=0.01, zp=-32768)
        y = n.tensor("y", [1, 1, 1, 1], "int16", scale=0.01, zp=-32768)
        n.op(
            opname,
            [x],
            [y],
            padding=1,
            strideH=1,
            strideW=1,
            filterHeight=1,
            filterWidth=65535,
            fusedActivationFunction=1,
        )
        models[opname.lower()] = n.finish([x], [y])
    n = Net()
    x = n.tensor("x", [1, 256], "int16", scale=3e38, zp=32767)
    y = n.tensor("y", [1, 256], "float32")
    n.op("DEQUANTIZE", [x], [y])
    models["dequantize"] = n.finish([x], [y])
    return models


EXTREMES = _extreme_models()


@pytest.mark.parametrize("name", sorted(EXTREMES))
def test_extremes_sanitized(name, tmp_path):
    from edgeconv.checking.references import TflmReference
    from edgeconv.emit.emitter import emit
    from sanitized import run_samples, sanitized_executable

    data = EXTREMES[name]
    compiled = compile_bytes(data, "m")
    _, inputs = graph_inputs(data)
    rng = np.random.default_rng(1)

    def values(t, k: int) -> np.ndarray:
        """k: 0 all minimum, 1 all maximum, 2 zeros, 3 random, 4 a run of consecutive values
        from the minimum (reversed for a second input)."""
        info = np.iinfo(np.dtype(t.dtype))
        run = np.resize(np.arange(info.min, info.max + 1), int(np.prod(t.shape))).reshape(t.shape)
        if t.index != inputs[0].index:
            run = run[..., ::-1]
        options = [
            np.full(t.shape, info.min),
            np.full(t.shape, info.max),
            np.zeros(t.shape),
            rng.integers(info.min, int(info.max) + 1, size=t.shape),
            run,
        ]
        return options[k].astype(np.dtype(t.dtype))

    samples = [[values(t, k) for t in inputs] for k in range(5)]
    run = run_samples(sanitized_executable(compiled, emit(compiled), tmp_path), compiled, samples, tmp_path)
    assert run.returncode == 0 and not run.report, run.report
    with TflmReference(data) as ref:
        for sample, got in zip(samples, run.outputs):
            expected = np.asarray(ref.run(sample, 1)[0]).reshape(-1)
            got = np.asarray(got[0]).reshape(-1)
            if got.dtype == np.float32:
                np.testing.assert_array_equal(got.view(np.int32), expected.astype(np.float32).view(np.int32))
            else:
                np.testing.assert_array_equal(got, expected)
