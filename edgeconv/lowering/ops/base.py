"""The lowering contract: how one TFLite op becomes one call into c_runtime/.

A lowering is a function `(graph, op) -> Kernel | Alias`, registered per builtin op name with
`@lowering("CONV_2D")`. It checks the op (raising ModelError / UnsupportedOpError naming the op),
computes every constant the kernel needs at compile time (multipliers, shifts, folded biases,
index tables) and describes the C call. The emitter turns a Kernel into

    static const <params_type> <name>_opN = { .field = value, ... };   /* flash */
    <func>(&<NAME>_OP_PARAMS(N), <input pointers...>, <output pointers...>[, scratch]);

(<NAME>_OP_PARAMS(N) is <name>_opN, or on an AVR its copy in SRAM), so a kernel's C signature
is always `void func(const params_type *p, in..., out..., [scratch])`, with pointers typed from
the tensors' dtypes (`const int8_t *`, `int32_t *`, ...), and, for kernels with
`inputs_as_array`, one `const <type> *const *inputs` array instead of the inputs (and with
`outputs_as_array`, one `<type> *const *outputs` array instead of the outputs).

`params` names exactly the fields of the C struct `params_type` declares in its c_runtime
header, the one declaration of them: the emitter holds the dict against the parsed struct
(edgeconv/emit/kernel_params.py) and refuses a missing or unknown field, or a value that does
not fit its field, as a compiler bug. A zero or a NULL reference is spelt out (0, None).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from edgeconv.frontend.dtypes import CTYPE_NUMPY, ELEMENT_TYPES
from edgeconv.frontend.ir import Graph, ModelError, Op, Tensor, UnsupportedOpError
from quantize.fixedpoint import activation_range, quantize_multiplier

# ---------------------------------------------------------------------------------------------
# What a lowering returns


@dataclass
class CArray:
    """A constant array emitted into flash; `role` names it (weights, bias, multiplier, ...)."""

    ctype: str  # int8_t, uint8_t, int16_t, int32_t, float
    values: np.ndarray
    role: str
    # The kernel's params field is an EC_CREF and every read goes through ec_common.h's
    # accessors (EC_C_S8 .. EC_C_S64), so the emitter places it in program memory on an AVR
    # (EC_FLASH_ARRAY: flash, read with pgm_read_*[_far]); elsewhere it is plain const data.
    program_memory: bool = False

    def __post_init__(self) -> None:
        self.values = np.ascontiguousarray(np.asarray(self.values).reshape(-1))

    @property
    def nbytes(self) -> int:
        return int(self.values.size * np.dtype(CTYPE_NUMPY[self.ctype]).itemsize)


# A params field is an int, a float (only in kernels for float model edges), a list of ints
# (a fixed-size array member such as dims[4], every element given) or a CArray (a pointer or
# EC_CREF member: program_memory exactly for an EC_CREF one).
FieldValue = int | float | list | CArray | None  # None: a NULL pointer


@dataclass
class WeightForm:
    """Another form a kernel can take its weights in, e.g. pre-widened to int16: faster, bigger.

    `params` replaces fields of the kernel's default params (a value None is a NULL pointer). The
    compiler chooses forms per layer (compiler.choose_weight_forms) by instructions saved per extra
    flash byte."""

    name: str  # "int16"
    params: dict[str, FieldValue]
    extra_flash_bytes: int  # flash this form costs beyond the default form
    instructions_saved: int  # estimated, per inference, on a core with the DSP extension
    func: str | None = None  # another C entry point for this form (None: the kernel's own)


@dataclass
class Kernel:
    func: str  # C function, e.g. "ec_conv2d_s8"
    unit: str  # c_runtime unit declaring it: "ec_conv" means ec_conv.h and ec_conv.c
    params_type: str  # the params struct type, e.g. "ec_conv2d_params_t"
    params: dict[str, FieldValue]
    inputs: list[int]  # tensor indices passed as pointers (activations or constant tensors)
    outputs: list[int]
    scratch_bytes: int = 0  # > 0 adds a trailing `void *scratch` argument (arena space)
    macs: int = 0
    inputs_as_array: bool = False
    outputs_as_array: bool = False  # one `<type> *const *outputs` array (SPLIT, UNPACK)
    extra_units: tuple[str, ...] = ()  # further c_runtime units the kernel's .c needs
    summary: str = ""  # one-line parameter description for `inspect`
    weight_forms: list[WeightForm] = field(default_factory=list)  # alternatives to the default
    weight_form: str = "int8"  # the form the params hold now


@dataclass
class Alias:
    """The op moves no data: its output is its input's buffer under another shape."""

    source: int
    target: int


Lowered = Kernel | Alias
Lowering = Callable[[Graph, Op], Lowered]

LOWERINGS: dict[str, Lowering] = {}


# Same shape as frontend/shapes.py's shape_rule() decorator; kept apart: each fills its own registry with its own type
def lowering(*opcodes: str) -> Callable[[Lowering], Lowering]:
    def register(fn: Lowering) -> Lowering:
        for code in opcodes:
            LOWERINGS[code] = fn
        return fn

    return register


def lower_op(graph: Graph, op: Op) -> Lowered:
    fn = LOWERINGS.get(op.opcode)
    if fn is None:
        out = graph.tensors[op.outputs[0]] if op.outputs else None
        where = f", output {out.describe()}" if out is not None else ""
        raise UnsupportedOpError(f"unsupported op {op.opcode} (op {op.index}{where})")
    return fn(graph, op)


# ---------------------------------------------------------------------------------------------
# Helpers shared by lowerings


def fail(graph: Graph, op: Op, message: str) -> ModelError:
    """A ModelError naming the op and its output tensor."""
    return ModelError(f"{op.describe(graph)}: {message}")


def require_dtype(graph: Graph, op: Op, t: Tensor, *dtypes: str) -> None:
    if t.dtype not in dtypes:
        raise UnsupportedOpError(
            f"{op.describe(graph)}: {t.describe()} has type {t.dtype.upper()}; "
            f"supported: {', '.join(d.upper() for d in dtypes)}"
        )


def require_quant(graph: Graph, op: Op, t: Tensor, per_tensor: bool = True):
    if t.quant is None:
        raise ModelError(
            f"{op.describe(graph)}: {t.describe()} is not quantized; a float model must first be "
            "quantized to int8 (edgeconv quantize)"
        )
    if per_tensor and t.quant.per_channel:
        raise UnsupportedOpError(f"{op.describe(graph)}: {t.describe()} must be quantized per tensor")
    return t.quant


def int8_io(graph: Graph, op: Op):
    """The first input and output of an int8 op, both checked int8 and quantized per tensor:
    (x, y, x.quant, y.quant)."""
    x = graph.tensors[op.inputs[0]]
    y = graph.tensors[op.outputs[0]]
    require_dtype(graph, op, x, "int8")
    require_dtype(graph, op, y, "int8")
    return x, y, require_quant(graph, op, x), require_quant(graph, op, y)


def quant_io(graph: Graph, op: Op, dtypes: tuple[str, ...] = ("int8", "int16")):
    """int8_io for ops that run on several integer types (16x8 models): the first input and
    output, each of one of `dtypes`, both of the SAME type (TFLite's Prepare requires it of
    every op it runs in int16), quantized per tensor: (x, y, x.quant, y.quant)."""
    x = graph.tensors[op.inputs[0]]
    y = graph.tensors[op.outputs[0]]
    require_dtype(graph, op, x, *dtypes)
    require_dtype(graph, op, y, *dtypes)
    if x.dtype != y.dtype:
        raise fail(graph, op, f"input type {x.dtype.upper()} and output type {y.dtype.upper()} differ")
    return x, y, require_quant(graph, op, x), require_quant(graph, op, y)


# The entry-point suffix of each integer activation type: ec_xxx_s8, ec_xxx_s16 (one per type,
# so a firmware links only the loops its model uses).
DTYPE_SUFFIX = {name: t.suffix for name, t in ELEMENT_TYPES.items()}


def const_input(graph: Graph, op: Op, position: int, what: str) -> np.ndarray:
    if position >= len(op.inputs) or op.inputs[position] < 0:
        raise fail(graph, op, f"{what} (input {position}) is missing")
    t = graph.tensors[op.inputs[position]]
    if t.data is None:
        raise UnsupportedOpError(f"{op.describe(graph)}: {what} ({t.describe()}) must be constant")
    return t.data


def same_padding(in_size: int, filter_size: int, stride: int, dilation: int, out_size: int) -> int:
    """TFLite's ComputePaddingWithOffset for SAME padding: the leading (top/left) pad."""
    effective = (filter_size - 1) * dilation + 1
    total = max((out_size - 1) * stride + effective - in_size, 0)
    return total // 2


def conv_output_size(padding: int, in_size: int, filter_size: int, stride: int, dilation: int) -> int:
    """TFLite's ComputeOutSize; padding 0 is SAME, 1 is VALID."""
    effective = (filter_size - 1) * dilation + 1
    if stride <= 0:
        return 0
    if padding == 0:
        return (in_size + stride - 1) // stride
    return (in_size + stride - effective) // stride


ACTIVATIONS = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}


def qrange(dtype: str) -> tuple[int, int]:
    t = ELEMENT_TYPES[dtype]
    return int(t.min), int(t.max)


MAX_LEFT_SHIFT = 30  # ec_requantize shifts x left by at most 30 bits before its Q31 multiply


def requantize_multiplier(graph: Graph, op: Op, real: float, what: str) -> tuple[int, int]:
    """TFLite's QuantizeMultiplier(real), checked for ec_requantize (ec_fixedpoint.h): a Q31
    multiplier |m| < 2^31 and a shift in [-31, 30]. A ratio that is not finite, or so large
    that x would be shifted left by 31 bits or more, is refused naming `what`; one so small
    that its shift is below -31 becomes 0, as in TFLite."""
    if not math.isfinite(real):
        raise fail(graph, op, f"{what} rescale {real} is not finite")
    try:
        multiplier, shift = quantize_multiplier(real)
    except ValueError:
        raise fail(graph, op, f"{what} rescale {real:g} cannot be quantized") from None
    if shift > MAX_LEFT_SHIFT:
        raise fail(
            graph,
            op,
            f"{what} rescale {real:g} needs a left shift of {shift} bits; at most "
            f"{MAX_LEFT_SHIFT} keep the arithmetic in int32 (its scales differ by too large a factor)",
        )
    if not (shift >= -31 and abs(multiplier) < (1 << 31)):  # QuantizeMultiplier's own guarantees
        raise fail(graph, op, f"{what} rescale {real:g} gives multiplier {multiplier}, shift {shift}")
    return multiplier, shift


def fused_activation(graph: Graph, op: Op, t: Tensor) -> tuple[int, int]:
    """The op's fused activation (NONE, RELU, RELU_N1_TO_1 or RELU6; TANH and SIGN_BIT are
    refused) as an integer clamp on its output t's type."""
    act = int(op.options.get("fused_activation_function", 0))
    if act not in (0, 1, 2, 3):
        raise UnsupportedOpError(
            f"{op.describe(graph)}: fused activation {ACTIVATIONS.get(act, act)} is not supported on {t.dtype}"
        )
    return fused_activation_range(graph, op, act, t)


def fused_activation_range(graph: Graph, op: Op, activation: int, t: Tensor) -> tuple[int, int]:
    """The fused activation as an integer clamp on t's type (CalculateActivationRangeQuantized);
    a bound that TFLite's Prepare refuses (outside int32 once quantized) is refused here."""
    lo, hi = qrange(t.dtype)
    try:
        return activation_range(activation, float(t.quant.s), t.quant.zp, lo, hi)
    except ValueError as exc:
        raise fail(graph, op, str(exc)) from None
