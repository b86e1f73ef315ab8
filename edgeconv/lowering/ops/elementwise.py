"""ADD, SUB, MUL, MAXIMUM and MINIMUM: int8 and int16 binary element-wise ops with broadcasting.

The multipliers are formed exactly as TFLite Micro's Prepare forms them: ADD and SUB in double
(add_common.cc, sub_common.cc), MUL as one double product (mul_common.cc). MAXIMUM and MINIMUM
compare raw values and never requantize.

Broadcasting is resolved at compile time into a loop nest of at most EC_MAX_DIMS loops with
per-input element strides (0 along a broadcast dimension); adjacent dimensions that walk both
inputs contiguously (or both not at all) are merged, so a same-shape op is one flat loop.

ADD and SUB with enough output elements also get, per input, the table of its rescaled term for
each of the 256 int8 values (TFLite's arithmetic, computed here), so the kernel requantizes
once per element instead of three times (ADD_TABLE_MIN_ELEMENTS, c_runtime/ec_add.c).

int16 (16x8 models) follows TFLite Micro, the oracle:
- ADD and SUB: the int8 arithmetic with left_shift 15 and no tables, any zero points (TFLite
  Micro's general-scale path). TFLite's own kernels differ: they require zero points 0 and,
  for ADD/SUB with `pot_scale_int16` set (AddOptions/SubOptions, true by default) and
  power-of-two scales, take a saturating Q0.15 path that rounds differently; the converter
  writes pot_scale_int16 false, where the two agree.
- MUL: all three zero points must be 0 (TFLite Micro's Prepare refuses others).
- MAXIMUM, MINIMUM: raw comparisons, as for int8.
Both inputs and the output have one type (TFLite's Prepare requires it).
"""

from __future__ import annotations

import numpy as np

from edgeconv.frontend.ir import Graph, Op, Tensor, UnsupportedOpError
from edgeconv.lowering.ops.base import (
    DTYPE_SUFFIX,
    CArray,
    Kernel,
    fail,
    fused_activation,
    lowering,
    requantize_multiplier,
    require_dtype,
    require_quant,
)
from quantize.fixedpoint import (
    quantize_multiplier_smaller_than_one_exp,
    rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
)

MAX_LOOPS = 6  # EC_MAX_DIMS in c_runtime/ec_common.h
_ADD_LEFT_SHIFT = 20  # TFLite's left_shift for 8-bit ADD and SUB
ADD_LEFT_SHIFT_S16 = 15  # and for int16: 65535 * 2^15 < 2^31 (sub_common.cc)
INT32_MAX = (1 << 31) - 1
# ADD and SUB tabulate each input's rescaled term (2 x 256 int32: 2 KB of flash) when the output
# has at least this many elements. A tabulated element costs about 17 instructions on a
# Cortex-M4 instead of about 100 (three requantizations), so from here on the tables save at
# least two instructions per inference for each byte they add (the compiler's threshold for
# trading flash for speed, compiler.AUTO_MIN_SAVED_PER_BYTE).
ADD_TABLE_MIN_ELEMENTS = 64


def add_input_table(offset: int, multiplier: int, shift: int, negate: bool) -> np.ndarray:
    """TFLite's rescaled ADD/SUB input term for every int8 value x (index x + 128):
    MultiplyByQuantizedMultiplierSmallerThanOneExp((x + offset) * 2^20, multiplier, shift),
    negated for SUB's second input."""
    values = [
        rounding_divide_by_pot(
            saturating_rounding_doubling_high_mul((x + offset) << _ADD_LEFT_SHIFT, multiplier), -shift
        )
        for x in range(-128, 128)
    ]
    return np.array([-v if negate else v for v in values], dtype=np.int64)


def merged_loops(graph: Graph, op: Op, shapes: list[tuple[int, ...]], out: tuple[int, ...]) -> list[list[int]]:
    """The loop nest over `out` for inputs of `shapes`: [extent, one stride per input] per loop
    (elements, 0 along a broadcast dimension), MAX_LOOPS loops, outermost first. Extent-1
    dimensions are dropped and a dimension is merged into the one inside it where every input
    steps through it as a continuation of that inner loop.

    Shapes are right-aligned (TFLite's RuntimeShape::ExtendedShape). Every dimension of each
    input must equal the output's or be 1, and the output must be the broadcast shape.
    """
    said = " and ".join(str(list(s)) for s in shapes)
    rank = max([len(s) for s in shapes] + [len(out)])
    ext = [(1,) * (rank - len(s)) + tuple(int(d) for d in s) for s in shapes]
    eo = (1,) * (rank - len(out)) + tuple(int(d) for d in out)
    for i in range(rank):
        ds = [e[i] for e in ext]
        top = 0 if min(ds) == 0 else max(ds)
        if any(d not in (1, top) for d in ds):
            raise fail(graph, op, f"input shapes {said} do not broadcast")
        if eo[i] != top:
            raise fail(graph, op, f"output shape {list(out)} is not the broadcast of {said}")

    def strides(shape: tuple[int, ...]) -> list[int]:
        s, acc = [0] * rank, 1
        for i in range(rank - 1, -1, -1):
            s[i] = 0 if (shape[i] == 1 and eo[i] != 1) else acc
            acc *= shape[i]
        return s

    st = [strides(e) for e in ext]
    loops: list[list[int]] = []  # [extent, stride per input], innermost first
    for i in range(rank - 1, -1, -1):
        d = eo[i]
        if d == 1:
            continue
        if loops and all(st[k][i] == loops[-1][k + 1] * loops[-1][0] for k in range(len(shapes))):
            loops[-1][0] *= d
            continue
        loops.append([d] + [st[k][i] for k in range(len(shapes))])
    if any(d == 0 for d in eo):
        loops = [[0] * (len(shapes) + 1)]  # empty output: nothing to do
    if len(loops) > MAX_LOOPS:
        raise UnsupportedOpError(
            f"{op.describe(graph)}: broadcasting {said.replace(' and ', ' with ')} needs "
            f"{len(loops)} loops; at most {MAX_LOOPS} are supported"
        )
    loops += [[1] + [0] * len(shapes)] * (MAX_LOOPS - len(loops))
    return loops[::-1]


def broadcast_loops(graph: Graph, op: Op, a: tuple[int, ...], b: tuple[int, ...], out: tuple[int, ...]) -> dict:
    """The loop nest over `out` for inputs of shapes a and b (merged_loops): out_dims,
    in0_strides, in1_strides."""
    loops = merged_loops(graph, op, [a, b], out)
    return dict(
        out_dims=[loop[0] for loop in loops],
        in0_strides=[loop[1] for loop in loops],
        in1_strides=[loop[2] for loop in loops],
    )


def _binary_io(graph: Graph, op: Op, quantized: bool = True) -> tuple[Tensor, Tensor, Tensor]:
    """The two inputs and the output, all int8 or all int16."""
    if len(op.inputs) != 2 or min(op.inputs) < 0 or len(op.outputs) != 1:
        raise fail(graph, op, f"expects 2 inputs and 1 output, has {len(op.inputs)} and {len(op.outputs)}")
    x0, x1 = (graph.tensors[i] for i in op.inputs)
    y = graph.tensors[op.outputs[0]]
    for t in (x0, x1, y):
        require_dtype(graph, op, t, "int8", "int16")
        if quantized:
            require_quant(graph, op, t)
    if not x0.dtype == x1.dtype == y.dtype:
        raise fail(
            graph,
            op,
            f"input types {x0.dtype.upper()}, {x1.dtype.upper()} and output type "
            f"{y.dtype.upper()} differ; TFLite requires one type",
        )
    return x0, x1, y


def _smaller_than_one(graph: Graph, op: Op, real: float, what: str) -> tuple[int, int]:
    """QuantizeMultiplierSmallerThanOneExp; TFLite aborts outside (0, 1), so this fails."""
    try:
        return quantize_multiplier_smaller_than_one_exp(real)
    except ValueError:
        raise fail(graph, op, f"{what} multiplier {real!r} is outside (0, 1); TFLite cannot run this op") from None


def _summary(sign: str, x0: Tensor, x1: Tensor) -> str:
    return f"{list(x0.shape)} {sign} {list(x1.shape)}"


def _add_sub(graph: Graph, op: Op, subtract: bool) -> Kernel:
    x0, x1, y = _binary_io(graph, op)
    int16 = y.dtype == "int16"
    left_shift = ADD_LEFT_SHIFT_S16 if int16 else _ADD_LEFT_SHIFT
    s0, s1, so = float(x0.quant.s), float(x1.quant.s), float(y.quant.s)
    # Every quotient in double, for SUB too: sub_common.cc reads as float32 divisions, but the
    # tflite_micro and LiteRT builds we validate against both behave as double (scales 0.05,
    # 0.02 -> 0.08 tell the two apart: float32 gives 14 wrong elements in 50 samples).
    twice_max = 2.0 * max(s0, s1)
    r0, r1 = s0 / twice_max, s1 / twice_max
    ro = twice_max / (float(1 << left_shift) * so)
    m0, sh0 = _smaller_than_one(graph, op, r0, "input 0")
    m1, sh1 = _smaller_than_one(graph, op, r1, "input 1")
    mo, sho = _smaller_than_one(graph, op, ro, "output")
    act_min, act_max = fused_activation(graph, op, y)
    name = "sub" if subtract else "add"
    tables = dict(in0_table=None, in1_table=None)  # NULL: the kernel requantizes each element
    if not int16 and y.size >= ADD_TABLE_MIN_ELEMENTS and sho < 0:
        t0 = add_input_table(-x0.quant.zp, m0, sh0, negate=False)
        t1 = add_input_table(-x1.quant.zp, m1, sh1, negate=subtract)
        # The kernel's rounding shift of the output needs |q| + 2^(e-1) <= INT32_MAX, where
        # |q| <= |t0 + t1| (the doubling high multiply by a multiplier < 2^31 never grows a value).
        if int(np.abs(t0).max() + np.abs(t1).max()) + (1 << (-sho - 1)) <= INT32_MAX:
            tables = dict(
                in0_table=CArray("int32_t", t0.astype(np.int32), "in0_table", program_memory=True),
                in1_table=CArray("int32_t", t1.astype(np.int32), "in1_table", program_memory=True),
            )
    # ec_add_params_t's fields (ADD/SUB); like MUL's below, div.py's and squared_difference.py's, but kept apart: each C
    # params struct has its own fields, which this dict must match one for one
    return Kernel(
        func=f"ec_{name}_{DTYPE_SUFFIX[y.dtype]}",
        unit="ec_add",
        params_type="ec_add_params_t",
        params=dict(
            **broadcast_loops(graph, op, x0.shape, x1.shape, y.shape),
            in0_offset=-x0.quant.zp,
            in1_offset=-x1.quant.zp,
            output_offset=y.quant.zp,
            left_shift=left_shift,
            in0_multiplier=m0,
            in0_shift=sh0,
            in1_multiplier=m1,
            in1_shift=sh1,
            output_multiplier=mo,
            output_shift=sho,
            act_min=act_min,
            act_max=act_max,
            **tables,
        ),
        inputs=[x0.index, x1.index],
        outputs=[y.index],
        summary=_summary("-" if subtract else "+", x0, x1),
    )


@lowering("ADD")
def lower_add(graph: Graph, op: Op) -> Kernel:
    return _add_sub(graph, op, subtract=False)


@lowering("SUB")
def lower_sub(graph: Graph, op: Op) -> Kernel:
    return _add_sub(graph, op, subtract=True)


@lowering("MUL")
def lower_mul(graph: Graph, op: Op) -> Kernel:
    x0, x1, y = _binary_io(graph, op)
    if y.dtype == "int16" and (x0.quant.zp, x1.quant.zp, y.quant.zp) != (0, 0, 0):
        raise fail(
            graph,
            op,
            f"int16 MUL needs zero points 0 (TFLite Micro refuses others); has "
            f"{x0.quant.zp}, {x1.quant.zp} and {y.quant.zp}",
        )
    # mul_common.cc: double(s0) * double(s1) / double(so), then QuantizeMultiplier.
    # The product (x0 - zp0) * (x1 - zp1) is at most 256 * 256 and the left shift at most 30:
    # ec_requantize wraps that shift as TFLite's x * (1 << shift) does in practice. For int16
    # (zero points 0) the product is at most 2^30 in magnitude.
    real = float(x0.quant.s) * float(x1.quant.s) / float(y.quant.s)
    mult, shift = requantize_multiplier(graph, op, real, "output")
    act_min, act_max = fused_activation(graph, op, y)
    # ec_mul_params_t's fields; like ADD's above and div.py's, but kept apart: each C params struct has its own fields,
    # which this dict must match one for one
    return Kernel(
        func=f"ec_mul_{DTYPE_SUFFIX[y.dtype]}",
        unit="ec_mul",
        params_type="ec_mul_params_t",
        params=dict(
            **broadcast_loops(graph, op, x0.shape, x1.shape, y.shape),
            in0_offset=-x0.quant.zp,
            in1_offset=-x1.quant.zp,
            output_offset=y.quant.zp,
            output_multiplier=mult,
            output_shift=shift,
            act_min=act_min,
            act_max=act_max,
        ),
        inputs=[x0.index, x1.index],
        outputs=[y.index],
        summary=_summary("*", x0, x1),
    )


@lowering("MAXIMUM", "MINIMUM")
def lower_maximum_minimum(graph: Graph, op: Op) -> Kernel:
    # TFLite compares raw values whatever the tensors' quantization says (the converter
    # gives all three one scale and zero point), so no quantization is required here either.
    x0, x1, y = _binary_io(graph, op, quantized=False)
    which = "maximum" if op.opcode == "MAXIMUM" else "minimum"
    return Kernel(
        func=f"ec_{which}_{DTYPE_SUFFIX[y.dtype]}",
        unit="ec_maximum_minimum",
        params_type="ec_maximum_minimum_params_t",
        params=broadcast_loops(graph, op, x0.shape, x1.shape, y.shape),
        inputs=[x0.index, x1.index],
        outputs=[y.index],
        summary=f"{which}({list(x0.shape)}, {list(x1.shape)})",
    )
